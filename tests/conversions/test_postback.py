"""GET|POST /postback: each validation rule in its order, uniqueness, repeats and the log."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from conversions.models import Conversion, ConversionEvent, ServerPostback
from tests.factories import AffiliateFactory, OfferFactory
from tracking.models import Click, new_click_id

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


@pytest.fixture
def offer():
    return OfferFactory(
        goals=[
            {"value": "install", "title": "Install", "payout": "1.5", "revenue": "2", "default_status": 2},
            {"value": "Purchase", "title": "Purchase", "payout": "10", "revenue": "15", "default_status": 1},
        ]
    )


@pytest.fixture
def click_id(client, offer, affiliate):
    query = f"pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=aff-click-7&sub2=camp&format=json"
    return client.get(f"/click?{query}").json()["click_id"]


def postback(client, **params):
    return client.get("/postback?" + urlencode(params))


def test_a_postback_creates_a_conversion_for_the_click(client, click_id, offer, affiliate):
    response = postback(client, clickid=click_id, sum="12.5", currency="eur", ip="203.0.113.5", comment="hi")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == 1 and body["message"] == "ok"
    conversion = Conversion.objects.get(conversion_id=body["conversion_id"])
    assert (conversion.offer, conversion.affiliate, conversion.goal.value) == (offer, affiliate, "install")
    assert conversion.status == 2 and conversion.integration_method == "default"
    assert (conversion.payout, conversion.revenue, conversion.currency) == (1.5, 2, "USD")
    assert (conversion.order_sum, conversion.order_currency) == (12.5, "EUR")
    assert (conversion.sub1, conversion.sub2, conversion.ip, conversion.comment) == (
        "aff-click-7",
        "camp",
        "203.0.113.5",
        "hi",
    )
    assert conversion.click.click_id == click_id
    assert list(conversion.events.values_list("kind", "old_status", "new_status")) == [("created", None, 2)]


def test_an_affise_sdk_shaped_get_works_unchanged(client, click_id):
    params = {
        "click_id": click_id,
        "action_id": "ORDER-1",
        "goal": "purchase",
        "sum": "99.90",
        "ip": "198.51.100.1",
        "status": "1",
        "referrer": "https://shop.example/",
        "comment": "",
        "secure": "",
        "fbclid": "fb",
        "device_type": "mobile",
        "user_id": "u-1",
        **{f"custom_field{n}": f"c{n}" for n in range(1, 16)},
    }
    body = postback(client, **params).json()
    assert body["status"] == 1 and body["message"] == "ok"
    conversion = Conversion.objects.get(conversion_id=body["conversion_id"])
    assert (conversion.goal.value, conversion.status, conversion.action_id) == ("Purchase", 1, "ORDER-1")
    assert conversion.extra["custom_field15"] == "c15" and conversion.device_type == "mobile"


def test_post_with_a_form_body_works_too(client, click_id):
    response = client.post("/postback", {"afclick": click_id, "goal": "install"})
    assert response.status_code == 200 and response.json()["message"] == "ok"


def expired(click_id):
    Click.objects.filter(click_id=click_id).update(created_at=timezone.now() - timedelta(days=31))


def pause(offer):
    offer.status = "paused"
    offer.save()


def secure(offer):
    offer.secure_code = "s3cret"
    offer.save()


def advertiser_secure(offer):
    offer.advertiser.secure_code = "adv-code"
    offer.advertiser.save()


def allowlist(offer):
    offer.advertiser.ip_allowlist = ["192.0.2.0/24"]
    offer.advertiser.save()


# Each rule, in the order they are checked: every case also breaks all the later rules, so the
# message proves which rule answered first. (An expired click and an unknown goal are no refusals:
# such a conversion is recorded as declined, see test_declined_on_arrival.py.)
RULES = [
    (None, {"clickid": ""}, 400, "Missing mandatory parameter clickid"),
    (None, {"clickid": "ABC"}, 400, "Click_id: invalid format"),
    (None, {"clickid": "0" * 24}, 404, "Click not found"),
    (pause, {}, 403, "Offer disabled"),
    (secure, {"secure": "wrong"}, 403, "Access denied"),
    (advertiser_secure, {}, 403, "Access denied"),
    (allowlist, {}, 403, "Current IP-address is denied"),
    (None, {"goal": "INSTALL", "status": "4"}, 400, "Unknown status"),
    (None, {"goal": "install", "status": "approved"}, 400, "Unknown status"),
]


@pytest.mark.parametrize(("breaks", "params", "http_status", "message"), RULES)
def test_each_validation_rule_answers_in_order_and_creates_nothing(
    client, click_id, offer, breaks, params, http_status, message
):
    if breaks is expired:
        breaks(click_id)
    elif breaks is not None:
        breaks(offer)
    later_failures = {"goal": "nope", "status": "4", "secure": "wrong", "sum": "-1"}
    response = postback(client, **{"clickid": click_id, **later_failures, **params})
    assert response.status_code == http_status
    assert response.json() == {"status": 2, "message": message}
    assert not Conversion.objects.exists()
    logged = ServerPostback.objects.get()
    assert (logged.outcome, logged.http_status, logged.message) == ("rejected", http_status, message)


# Besides what is no number: what Decimal() would read but is no plain ASCII decimal number.
NOT_PLAIN_SUMS = ["1e3", "١٢", "１２", "12.５", "1_000", " 12", "12 ", "+5", "-0", "1,5"]


@pytest.mark.parametrize("value", ["-1", "abc", "NaN", "Infinity", "1e20", *NOT_PLAIN_SUMS])
def test_a_bad_sum_is_refused(client, click_id, value):
    response = postback(client, clickid=click_id, sum=value)
    assert response.status_code == 400 and response.json()["message"].startswith("Invalid sum")
    assert not Conversion.objects.exists()


@pytest.mark.parametrize(
    "value, stored",
    [("12", "12"), ("12.50", "12.5"), ("0", "0"), (".5", "0.5"), ("7.", "7"), ("0012.3", "12.3")],
)
def test_a_sum_in_ascii_digits_is_stored(client, click_id, value, stored):
    assert postback(client, clickid=click_id, sum=value).status_code == 200
    assert Conversion.objects.get().order_sum == Decimal(stored)


@pytest.mark.parametrize("value", ["EURO", "€", "ßßß", "12$"])
def test_a_bad_currency_is_refused(client, click_id, value):
    response = postback(client, clickid=click_id, currency=value)
    assert response.status_code == 400 and response.json()["message"].startswith("Invalid currency")
    assert not Conversion.objects.exists()


def test_oversized_parameters_are_refused(client, click_id):
    response = postback(client, clickid=click_id, comment="x" * 513)
    assert response.status_code == 400
    assert response.json() == {"status": 2, "message": "Parameter comment is longer than 512 characters"}


@pytest.mark.parametrize("value", ["a\x00b", "line\nbreak"])
def test_control_characters_are_refused(client, click_id, value):
    response = postback(client, clickid=click_id, comment=value)
    assert response.status_code == 400
    assert response.json() == {"status": 2, "message": "Parameter comment contains control characters"}
    assert not Conversion.objects.exists() and ServerPostback.objects.get().outcome == "rejected"


def test_the_right_secure_code_and_an_allowed_ip_pass(client, click_id, offer):
    secure(offer)
    allowlist(offer)
    response = postback(client, clickid=click_id, secure="s3cret", REMOTE_ADDR="192.0.2.77")
    assert response.status_code == 403  # REMOTE_ADDR as a parameter is just an unknown parameter
    response = client.get(
        "/postback?" + urlencode({"clickid": click_id, "secure": "s3cret"}), REMOTE_ADDR="192.0.2.77"
    )
    assert response.status_code == 200 and response.json()["message"] == "ok"


def test_without_action_id_a_conversion_is_unique_per_click_and_goal(client, click_id):
    first = postback(client, clickid=click_id).json()
    again = postback(client, clickid=click_id).json()
    assert again == {"status": 1, "message": "duplicate", "conversion_id": first["conversion_id"]}
    other_goal = postback(client, clickid=click_id, goal="purchase").json()
    assert other_goal["message"] == "ok" and other_goal["conversion_id"] != first["conversion_id"]
    assert Conversion.objects.count() == 2


def test_with_action_id_a_conversion_is_unique_per_action_id(client, click_id):
    first = postback(client, clickid=click_id, action_id="A1").json()
    assert postback(client, clickid=click_id, action_id="A1").json()["message"] == "duplicate"
    second = postback(client, clickid=click_id, action_id="A2").json()
    assert second["message"] == "ok" and second["conversion_id"] != first["conversion_id"]
    assert Conversion.objects.count() == 2


def test_a_repeat_with_another_allowed_status_changes_it(client, click_id):
    created = postback(client, clickid=click_id, status="2").json()
    changed = postback(client, clickid=click_id, status="1")
    assert changed.status_code == 200
    assert changed.json() == {"status": 1, "message": "ok", "conversion_id": created["conversion_id"]}
    conversion = Conversion.objects.get()
    assert conversion.status == 1
    assert list(conversion.events.values_list("kind", "old_status", "new_status", "source")) == [
        ("created", None, 2, "postback"),
        ("status_changed", 2, 1, "postback"),
    ]
    assert conversion.events.last().server_postbacks.get().outcome == "status_changed"


@pytest.mark.parametrize(
    ("start", "then", "allowed"),
    [
        ("2", "3", True),
        ("2", "5", True),
        ("5", "1", True),
        ("5", "3", True),
        ("1", "3", False),
        ("3", "1", False),
        ("1", "2", False),
        ("5", "2", False),
    ],
)
def test_advertisers_may_move_a_conversion_out_of_pending_and_hold_only(
    client, click_id, start, then, allowed
):
    postback(client, clickid=click_id, status=start)
    response = postback(client, clickid=click_id, status=then)
    conversion = Conversion.objects.get()
    if allowed:
        assert response.status_code == 200 and conversion.status == int(then)
    else:
        assert response.status_code == 409
        assert response.json()["message"] == "Conversion status is not pending"
        assert conversion.status == int(start) and conversion.events.count() == 1


def test_every_postback_is_logged_with_its_query_and_caller(client, click_id):
    postback(client, clickid=click_id, sum="3")
    postback(client, clickid=click_id)
    postback(client, clickid="bad")
    logs = list(ServerPostback.objects.order_by("pk"))
    assert [log.outcome for log in logs] == ["created", "duplicate", "rejected"]
    assert (
        logs[0].query == f"clickid={click_id}&sum=3" and logs[0].ip == "127.0.0.1" and logs[0].method == "GET"
    )
    assert logs[0].conversion == logs[1].conversion and logs[0].event.kind == "created"


def test_a_hold_conversion_carries_the_end_of_its_hold_period(client, click_id, offer):
    offer.hold_period_days = 7
    offer.save()
    conversion_id = postback(client, clickid=click_id, status="5").json()["conversion_id"]
    conversion = Conversion.objects.get(conversion_id=conversion_id)
    assert timedelta(days=6, hours=23) < conversion.hold_until - conversion.created_at <= timedelta(days=7)


def test_a_conversion_for_a_click_just_made_through_the_buffer_is_found(
    client, offer, affiliate, buffered_writes
):
    click = client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()["click_id"]
    assert postback(client, clickid=click).json()["message"] == "ok"


def test_a_click_that_may_wait_in_an_unreachable_buffer_is_not_reported_missing(client, unreachable_buffer):
    # Made a moment ago, so it may be in the buffer still; an older one could not be.
    response = postback(client, clickid=new_click_id())

    assert response.status_code == 503
    assert response.json() == {"status": 2, "message": "Click lookup temporarily unavailable, retry later"}
    assert not Conversion.objects.exists()
    assert ServerPostback.objects.get().http_status == 503


def test_a_stored_click_is_found_while_the_buffer_is_unreachable(client, click_id, unreachable_buffer):
    assert postback(client, clickid=click_id).json()["message"] == "ok"


def test_each_change_emits_exactly_one_event(client, click_id):
    postback(client, clickid=click_id, status="2")
    for _ in range(3):
        postback(client, clickid=click_id, status="5")
    postback(client, clickid=click_id, status="1")
    assert list(ConversionEvent.objects.values_list("new_status", flat=True)) == [2, 5, 1]


def test_probabilistic_postbacks_are_attributed_by_offer_and_pid(client, offer, affiliate):
    body = postback(
        client, offer_id=offer.offer_id, pid=affiliate.pid, sub1="s", country="DE", action_id="P1"
    ).json()
    conversion = Conversion.objects.get(conversion_id=body["conversion_id"])
    assert conversion.integration_method == "probabilistic" and conversion.click is None
    assert conversion.sub1 == "s" and conversion.extra == {"country": "DE"}


def test_probabilistic_postbacks_link_the_latest_click_from_the_same_ip(client, offer, affiliate):
    link = f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json"
    client.get(link + "&sub1=older", REMOTE_ADDR="198.51.100.9")
    latest = client.get(link + "&sub1=latest", REMOTE_ADDR="198.51.100.9").json()["click_id"]
    client.get(link + "&sub1=other-ip", REMOTE_ADDR="198.51.100.10")
    body = postback(client, offer_id=offer.offer_id, pid=affiliate.pid, ip="198.51.100.9").json()
    conversion = Conversion.objects.get(conversion_id=body["conversion_id"])
    assert conversion.click.click_id == latest and conversion.sub1 == "latest"
    assert conversion.integration_method == "probabilistic"


def test_probabilistic_postbacks_without_a_matching_click_keep_their_own_subs(client, offer, affiliate):
    client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}", REMOTE_ADDR="198.51.100.9")
    Click.objects.update(created_at=timezone.now() - timedelta(days=40))
    body = postback(client, offer_id=offer.offer_id, pid=affiliate.pid, ip="198.51.100.9", sub2="mine").json()
    conversion = Conversion.objects.get(conversion_id=body["conversion_id"])
    assert conversion.click is None and conversion.sub2 == "mine"


@pytest.mark.parametrize(
    ("params", "http_status", "message"),
    [
        ({"offer_id": "999999", "pid": "{pid}"}, 404, "Offer not found"),
        ({"offer_id": "{offer}", "pid": "999999"}, 404, "Affiliate not found"),
        ({"offer_id": "x", "pid": "{pid}"}, 404, "Offer not found"),
    ],
)
def test_probabilistic_postbacks_need_a_known_offer_and_affiliate(
    client, offer, affiliate, params, http_status, message
):
    params = {k: v.format(pid=affiliate.pid, offer=offer.offer_id) for k, v in params.items()}
    response = postback(client, **params)
    assert response.status_code == http_status and response.json()["message"] == message


def test_a_blocked_affiliate_gets_no_probabilistic_conversion(client, offer):
    blocked = AffiliateFactory(status="blocked")
    response = postback(client, offer_id=offer.offer_id, pid=blocked.pid)
    assert response.status_code == 403 and not Conversion.objects.exists()


def test_other_methods_are_refused(client):
    assert client.put("/postback").status_code == 405


def test_hostile_bytes_are_logged_visibly_and_never_break_the_log(client, click_id):
    response = client.post("/postback", {"clickid": click_id, "na\x00me": "v\x00"})
    assert response.status_code == 400
    logged = ServerPostback.objects.get()
    assert "\x00" not in logged.query and "\\x00" in logged.query
    assert logged.message == "Parameter na\\x00me contains control characters"
