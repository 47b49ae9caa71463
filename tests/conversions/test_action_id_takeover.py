"""A conversion's `action_id` is the advertiser's id of it, not a key anyone may use: a postback
carrying it for another click (or, probabilistic, for another affiliate) is refused and logged,
and the conversion stays as it was, alone, in a batch, through the writer and at the same moment."""

import json
import os
import shutil
import signal
import tempfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
from django.test import Client, override_settings

from conversions.intake import AdvertiserHit
from conversions.models import Conversion, ConversionEvent, IntegrationMethod, ServerPostback
from conversions.recording import hits_record, hits_record_wired
from conversions.repeats import ANOTHER_AFFILIATE, ANOTHER_CLICK, foreign_action_id
from tests.factories import AffiliateFactory, OfferFactory
from tests.processes import postback_writer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

DEFAULT, PROBABILISTIC = IntegrationMethod.DEFAULT, IntegrationMethod.PROBABILISTIC


def conversion(method, affiliate_id, click_id):
    return Conversion(integration_method=method, affiliate_id=affiliate_id, click_id=click_id)


# (stored conversion, the conversion the repeat would create, the refusal or None)
REPEATS = [
    ((DEFAULT, 1, 10), (DEFAULT, 1, 10), None),
    ((DEFAULT, 1, 10), (DEFAULT, 1, 11), ANOTHER_CLICK),
    ((DEFAULT, 1, 10), (DEFAULT, 2, 20), ANOTHER_CLICK),
    ((PROBABILISTIC, 1, None), (DEFAULT, 1, 10), ANOTHER_CLICK),
    ((PROBABILISTIC, 1, 10), (DEFAULT, 1, 10), ANOTHER_CLICK),
    ((PROBABILISTIC, 1, None), (PROBABILISTIC, 1, None), None),
    ((PROBABILISTIC, 1, 10), (PROBABILISTIC, 1, 11), None),
    ((PROBABILISTIC, 1, 10), (PROBABILISTIC, 1, None), None),
    ((PROBABILISTIC, 1, None), (PROBABILISTIC, 2, None), ANOTHER_AFFILIATE),
    ((DEFAULT, 1, 10), (PROBABILISTIC, 1, None), ANOTHER_CLICK),
    ((DEFAULT, 1, 10), (PROBABILISTIC, 1, 10), ANOTHER_CLICK),
    ((DEFAULT, 1, 10), (PROBABILISTIC, 2, None), ANOTHER_AFFILIATE),
]


@pytest.mark.parametrize(("stored", "repeat", "refusal"), REPEATS)
def test_a_repeat_may_touch_a_conversion_only_when_it_comes_the_way_the_conversion_came(
    stored, repeat, refusal
):
    assert foreign_action_id(stored=conversion(*stored), repeat=conversion(*repeat)) == refusal


@pytest.fixture
def offer():
    return OfferFactory(
        goals=[{"value": "sale", "title": "Sale", "payout": "3", "revenue": "5", "default_status": 2}]
    )


def click(client, offer, affiliate, **extra) -> str:
    url = f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json"
    return client.get(url, **extra).json()["click_id"]


def postback(client, **params):
    return client.get("/postback?" + urlencode(params))


def assert_untouched(conversion_id, status=2):
    conversion = Conversion.objects.get(conversion_id=conversion_id)
    assert conversion.status == status
    assert list(conversion.events.values_list("kind", flat=True)) == ["created"]
    assert conversion.server_postbacks.count() == 1


def assert_refused(response, message=ANOTHER_CLICK):
    assert response.status_code == 409
    assert response.json() == {"status": 2, "message": message}
    logged = ServerPostback.objects.order_by("pk").last()
    assert (logged.outcome, logged.http_status, logged.message) == ("rejected", 409, message)
    assert logged.conversion is None and logged.event is None


@pytest.mark.parametrize("status", ["", "1", "3", "2"])
def test_another_affiliates_click_cannot_take_over_a_conversion_by_its_action_id(
    client, offer, affiliate, other_affiliate, status
):
    victim, intruder = click(client, offer, affiliate), click(client, offer, other_affiliate)
    made = postback(client, clickid=victim, action_id="ORDER-1").json()["conversion_id"]

    assert_refused(postback(client, clickid=intruder, action_id="ORDER-1", status=status))
    assert_untouched(made)
    assert Conversion.objects.count() == 1


def test_the_same_affiliates_other_click_cannot_take_it_over_either(client, offer, affiliate):
    first, second = click(client, offer, affiliate), click(client, offer, affiliate)
    made = postback(client, clickid=first, action_id="ORDER-1").json()["conversion_id"]

    assert_refused(postback(client, clickid=second, action_id="ORDER-1", status="3"))
    assert_untouched(made)


def test_a_pixel_hit_on_another_click_is_refused_the_same_way(client, offer, affiliate, other_affiliate):
    victim, intruder = click(client, offer, affiliate), click(client, offer, other_affiliate)
    made = postback(client, clickid=victim, action_id="ORDER-1").json()["conversion_id"]
    visitor = Client()
    visitor.cookies["afclick"] = intruder

    assert visitor.get("/pixel?action_id=ORDER-1&afstatus=3")["Content-Type"] == "image/gif"
    logged = ServerPostback.objects.order_by("pk").last()
    assert (logged.source, logged.outcome, logged.message) == ("pixel", "rejected", ANOTHER_CLICK)
    assert_untouched(made)


def test_the_conversions_own_click_still_replays_and_changes_it(client, offer, affiliate, other_affiliate):
    own = click(client, offer, affiliate)
    made = postback(client, clickid=own, action_id="ORDER-1").json()["conversion_id"]
    postback(client, clickid=click(client, offer, other_affiliate), action_id="ORDER-1", status="1")

    assert postback(client, clickid=own, action_id="ORDER-1").json()["message"] == "duplicate"
    changed = postback(client, clickid=own, action_id="ORDER-1", status="1").json()
    assert changed == {"status": 1, "message": "ok", "conversion_id": made}
    assert Conversion.objects.get().status == 1


def test_a_probabilistic_conversion_is_repeated_by_its_affiliate_whichever_click_its_ip_links(
    client, offer, affiliate
):
    ip = {"REMOTE_ADDR": "198.51.100.9"}
    first = click(client, offer, affiliate, **ip)
    params = {"offer_id": offer.offer_id, "pid": affiliate.pid, "ip": "198.51.100.9", "action_id": "P-1"}
    made = postback(client, **params).json()["conversion_id"]
    assert Conversion.objects.get().click.click_id == first
    click(client, offer, affiliate, **ip)  # a newer click from the same IP, linked by the repeat

    changed = postback(client, **params, status="1").json()
    assert changed == {"status": 1, "message": "ok", "conversion_id": made}


def test_a_probabilistic_conversion_is_not_another_affiliates_to_change(
    client, offer, affiliate, other_affiliate
):
    made = postback(client, offer_id=offer.offer_id, pid=affiliate.pid, action_id="P-1").json()[
        "conversion_id"
    ]

    response = postback(client, offer_id=offer.offer_id, pid=other_affiliate.pid, action_id="P-1", status="3")
    assert_refused(response, ANOTHER_AFFILIATE)
    assert_untouched(made)


def test_a_probabilistic_conversion_is_not_a_clicks_to_change_even_the_click_its_ip_linked(
    client, offer, affiliate, other_affiliate
):
    linked = click(client, offer, affiliate, REMOTE_ADDR="198.51.100.9")
    params = {"offer_id": offer.offer_id, "pid": affiliate.pid, "ip": "198.51.100.9", "action_id": "P-1"}
    made = postback(client, **params).json()["conversion_id"]

    assert_refused(postback(client, clickid=linked, action_id="P-1", status="1"))
    assert_refused(postback(client, clickid=click(client, offer, other_affiliate), action_id="P-1"))
    assert_untouched(made)


def test_a_probabilistic_postback_cannot_change_a_conversion_made_on_a_click(
    client, offer, affiliate, other_affiliate
):
    made = postback(client, clickid=click(client, offer, affiliate), action_id="ORDER-1").json()[
        "conversion_id"
    ]

    own_pid = {"offer_id": offer.offer_id, "pid": affiliate.pid, "action_id": "ORDER-1", "status": "3"}
    assert_refused(postback(client, **own_pid))
    other_pid = {**own_pid, "pid": other_affiliate.pid}
    assert_refused(postback(client, **other_pid), ANOTHER_AFFILIATE)
    assert_untouched(made)


def hit(**params) -> AdvertiserHit:
    return AdvertiserHit(params, ServerPostback.Source.POSTBACK, "GET", urlencode(params), "198.51.100.9")


def test_in_one_batch_the_first_click_to_send_an_action_id_owns_it(client, offer, affiliate, other_affiliate):
    # The later click first: arrival order decides, not which click is older.
    older, newer = click(client, offer, affiliate), click(client, offer, other_affiliate)
    results = hits_record(
        [
            hit(clickid=newer, action_id="ORDER-1"),
            hit(clickid=older, action_id="ORDER-1", status="3"),
            hit(clickid=newer, action_id="ORDER-1", status="1"),
            hit(clickid=older, action_id="ORDER-1"),
        ]
    )

    assert [(result.http_status, result.message) for result in results] == [
        (200, "ok"),
        (409, ANOTHER_CLICK),
        (200, "ok"),
        (409, ANOTHER_CLICK),
    ]
    made = Conversion.objects.get()
    assert (made.click.click_id, made.affiliate, made.status) == (newer, other_affiliate, 1)
    assert list(made.events.values_list("old_status", "new_status")) == [(None, 2), (2, 1)]
    logged = ServerPostback.objects.order_by("pk")
    assert [entry.outcome for entry in logged] == ["created", "rejected", "status_changed", "rejected"]
    assert [entry.conversion_id for entry in logged] == [made.pk, None, made.pk, None]


def test_the_writer_refuses_a_foreign_action_id_like_any_web_process(
    client, offer, affiliate, other_affiliate
):
    victim, intruder = click(client, offer, affiliate), click(client, offer, other_affiliate)
    sent = [json.loads(json.dumps(item.wire())) for item in (hit(clickid=victim, action_id="A"),)]
    made = hits_record_wired(sent)[0][1]["conversion_id"]

    answers = hits_record_wired([hit(clickid=intruder, action_id="A", status="3").wire()])
    assert answers == [[409, {"status": 2, "message": ANOTHER_CLICK}]]
    assert_untouched(made)


@pytest.fixture
def socket_path():
    directory = tempfile.mkdtemp(prefix="writer-")  # a Unix socket's path must stay short
    path = os.path.join(directory, "writer.sock")
    with override_settings(POSTBACK_WRITER_SOCKET=path):
        yield path
    shutil.rmtree(directory)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_running_writer_refuses_a_foreign_action_id(socket_path, offer, affiliate, other_affiliate):
    victim, intruder = click(Client(), offer, affiliate), click(Client(), offer, other_affiliate)
    with postback_writer(socket_path) as writer:
        made = postback(Client(), clickid=victim, action_id="A").json()["conversion_id"]
        response = postback(Client(), clickid=intruder, action_id="A", status="3")
        writer.send_signal(signal.SIGTERM)
        writer.wait(timeout=20)
    assert_refused(response)
    assert_untouched(made)


def fire(urls: list[str]) -> list[tuple[int, dict]]:
    def get(url):
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())

    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        return list(pool.map(get, urls))


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_clicks_racing_for_one_action_id_leave_one_conversion_owned_by_the_click_told_ok(live_server):
    offer, affiliates = OfferFactory(), [AffiliateFactory(), AffiliateFactory()]
    clicks = [click(Client(), offer, affiliates[n % 2]) for n in range(12)]
    answers = fire([f"{live_server.url}/postback?clickid={click_id}&action_id=RACE" for click_id in clicks])

    winners = [n for n, (status, body) in enumerate(answers) if status == 200]
    assert len(winners) == 1 and answers[winners[0]][1]["message"] == "ok"
    assert all(
        answers[n] == (409, {"status": 2, "message": ANOTHER_CLICK}) for n in range(12) if n != winners[0]
    )
    made = Conversion.objects.get()
    assert made.click.click_id == clicks[winners[0]] and ConversionEvent.objects.count() == 1
    assert ServerPostback.objects.filter(outcome="rejected", http_status=409).count() == 11
