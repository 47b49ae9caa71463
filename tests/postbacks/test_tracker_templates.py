"""Tracker templates (postbacks.trackers): each one filled in, saved as a postback and fired by a
real click and advertiser postback, reaches its tracker with the tracker's parameters; the form
fills the URL (in the browser as one types, and on the server with "Use template"); a blank left
in a URL is refused with what to fill in; the API lists and fills them."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils.html import escape

from conversions.lifecycle import conversion_set_status
from conversions.models import Conversion, ConversionEvent
from postbacks import macros, trackers
from postbacks.models import Delivery, Postback
from postbacks.services import postback_save
from tests.conftest import log_in
from tests.factories import OfferFactory

pytestmark = pytest.mark.django_db

BLANKS = {
    "domain": "tracker.example",
    "key": "k3yAbc",
    "network_id": "42",
    "offer_id": "26",
    "user_id": "777",
}
CLICK = "trk-Click_9"

# What each tracker receives for an approved conversion of payout 4.5 USD whose click carried the
# tracker's click id in sub3: host and path, then every query parameter ({cid}: our conversion id).
EXPECTED = {
    "keitaro": (
        "tracker.example/k3yAbc/postback",
        {
            "subid": CLICK,
            "status": "1",
            "payout": "4.5",
            "currency": "USD",
            "tid": "{cid}",
            "sale_status": "1",
            "lead_status": "2,5",
            "rejected_status": "3",
        },
    ),
    "binom": (
        "tracker.example/click.php",
        {"cnv_id": CLICK, "payout": "4.5", "cnv_currency": "USD", "cnv_status": "approved"},
    ),
    "voluum": ("tracker.example/postback", {"cid": CLICK, "payout": "4.5", "txid": "{cid}"}),
    "redtrack": ("tracker.example/postback", {"clickid": CLICK, "sum": "4.5", "status": "Approved"}),
    "bemob": ("tracker.example/postback", {"cid": CLICK, "payout": "4.5", "txid": "{cid}", "status": "1"}),
    "peerclick": (
        "tracker.example/postback",
        {"cid": CLICK, "payout": "4.5", "txid": "{cid}", "currency": "USD"},
    ),
    "clickmagick": (
        "www.clkmg.com/api/s/post/",
        {"uid": "777", "s1": CLICK, "amt": "4.5", "ref": "{cid}", "cmc_currency": "USD"},
    ),
    "everflow": (
        "tracker.example/",
        {"nid": "42", "transaction_id": CLICK, "amount": "4.5", "adv1": "{cid}"},
    ),
    "tune": (
        "tracker.example/aff_lsr",
        {"offer_id": "26", "transaction_id": CLICK, "amount": "4.5", "adv_sub": "{cid}"},
    ),
}


@pytest.fixture
def offer():
    return OfferFactory(goals=[{"value": "sale", "title": "Sale", "payout": "4.5", "currency": "USD"}])


def click_and_convert(affiliate, offer, *, status: int) -> Conversion:
    visitor = Client()
    click = visitor.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&sub3={CLICK}&format=json")
    answer = visitor.get(f"/postback?clickid={click.json()['click_id']}&status={status}&action_id=A1").json()
    assert answer["message"] == "ok", answer
    return Conversion.objects.get(conversion_id=answer["conversion_id"])


def saved_postback(affiliate, offer, key: str, *, status: str = "") -> Postback:
    filled = trackers.fill(trackers.BY_KEY[key], click_id_sub="sub3", blanks=BLANKS, status=status)
    postback = Postback(affiliate=affiliate, offer=offer, url=filled.url, status=filled.status)
    assert postback_save(postback) == []  # no unknown macro in any template
    return postback


def sent_to(delivery: Delivery) -> tuple[str, dict]:
    parts = urlsplit(delivery.url)
    return parts.netloc + parts.path, {name: values[0] for name, values in parse_qs(parts.query).items()}


def test_there_is_a_template_for_every_tracker_each_citing_its_documentation():
    assert [template.name for template in trackers.TEMPLATES] == [
        "Keitaro",
        "Binom",
        "Voluum",
        "RedTrack",
        "BeMob",
        "PeerClick",
        "ClickMagick",
        "Everflow",
        "TUNE (HasOffers)",
    ]
    assert set(EXPECTED) == set(trackers.BY_KEY)
    for template in trackers.TEMPLATES:
        assert template.source.startswith("https://"), template.key
        names = set(trackers.BLANK.findall(template.url))
        assert names <= {"click_id", "status", *trackers.BLANKS}, template.key
        assert "click_id" in names, template.key
        assert ("status" in names) == bool(template.status_words), template.key


@pytest.mark.parametrize("key", list(EXPECTED))
def test_each_template_reaches_its_tracker_with_the_click_id_payout_status_and_transaction_id(
    affiliate, offer, key, direct_writes
):
    postback = saved_postback(affiliate, offer, key)
    conversion = click_and_convert(affiliate, offer, status=1)

    delivery = Delivery.objects.get(postback=postback)
    where, query = sent_to(delivery)
    expected_where, expected_query = EXPECTED[key]
    assert delivery.url.startswith("https://")
    assert where == expected_where
    assert query == {
        name: value.replace("{cid}", conversion.conversion_id) for name, value in expected_query.items()
    }


def test_keitaro_gets_every_status_from_one_postback_and_maps_it_itself(affiliate, offer, direct_writes):
    postback = saved_postback(affiliate, offer, "keitaro")
    assert postback.status == "any"
    conversion = click_and_convert(affiliate, offer, status=2)
    conversion_set_status(conversion=conversion, status=1, source=ConversionEvent.Source.MANAGER)

    sent = [sent_to(delivery)[1] for delivery in Delivery.objects.filter(postback=postback).order_by("pk")]
    assert [query["status"] for query in sent] == ["2", "1"]
    assert {query["tid"] for query in sent} == {conversion.conversion_id}


@pytest.mark.parametrize(
    ("status", "code", "word"),
    [
        ("approved", 1, "Approved"),
        ("pending", 2, "Pending"),
        ("declined", 3, "Declined"),
        ("hold", 5, "Pending"),
    ],
)
def test_redtrack_gets_one_postback_per_status_each_with_its_word(
    affiliate, offer, status, code, word, direct_writes
):
    postbacks = {
        name: saved_postback(affiliate, offer, "redtrack", status=name) for name in trackers.CONCRETE_STATUSES
    }
    assert {postback.status for postback in postbacks.values()} == set(trackers.CONCRETE_STATUSES)
    conversion = click_and_convert(affiliate, offer, status=2)
    if code != 2:
        conversion_set_status(conversion=conversion, status=code, source=ConversionEvent.Source.MANAGER)

    delivery = Delivery.objects.filter(postback=postbacks[status]).get()
    assert sent_to(delivery)[1]["status"] == word


def test_a_tracker_without_status_words_is_sent_only_approved_conversions_unless_told_otherwise(
    affiliate, offer, direct_writes
):
    voluum = saved_postback(affiliate, offer, "voluum")
    assert voluum.status == "approved"
    click_and_convert(affiliate, offer, status=3)
    assert not Delivery.objects.filter(postback=voluum).exists()
    assert (
        trackers.fill(trackers.BY_KEY["voluum"], click_id_sub="sub1", blanks=BLANKS, status="any").status
        == "any"
    )


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"domain": ""}, "domain", "Keitaro needs it: Your tracker's domain"),
        ({"domain": "tracker.example/../x"}, "domain", "This does not look right."),
        ({"domain": "evil.example?x=<status>"}, "domain", "This does not look right."),
        ({"key": "a/b"}, "key", "This does not look right."),
        ({"key": "{sub1}"}, "key", "This does not look right."),
    ],
)
def test_a_blank_missing_or_malformed_is_named(changes, field, message):
    with pytest.raises(ValidationError) as refused:
        trackers.fill(trackers.BY_KEY["keitaro"], click_id_sub="sub1", blanks={**BLANKS, **changes})
    assert message in refused.value.message_dict[field][0]


def test_a_domain_pasted_with_its_scheme_and_slash_is_taken_as_the_domain():
    filled = trackers.fill(
        trackers.BY_KEY["voluum"], click_id_sub="sub1", blanks={"domain": "HTTPS://t.example/"}
    )
    assert filled.url == "https://t.example/postback?cid={sub1}&payout={sum}&txid={conversion_id}"


@pytest.mark.parametrize("sub", ["sub9", "sub1}&x={ip", "", "SUB1", "sub0"])
def test_only_one_of_the_link_subs_can_carry_the_click_id(sub):
    with pytest.raises(ValidationError) as refused:
        trackers.fill(trackers.BY_KEY["voluum"], click_id_sub=sub, blanks=BLANKS)
    assert refused.value.message_dict["click_id_sub"] == [
        "Choose one of sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8."
    ]


@pytest.mark.parametrize("status", ["any", "created"])
def test_a_tracker_of_status_words_needs_a_postback_per_status(status):
    with pytest.raises(ValidationError) as refused:
        trackers.fill(trackers.BY_KEY["redtrack"], click_id_sub="sub1", blanks=BLANKS, status=status)
    assert refused.value.message_dict["status"] == [
        "RedTrack takes a status word (Approved for approved, Pending for pending, Declined for declined, "
        "Pending for hold): choose one of these statuses, and add a postback for each status it should see."
    ]


def test_every_filled_template_uses_only_macros_that_are_substituted():
    for template in trackers.TEMPLATES:
        filled = trackers.fill(template, click_id_sub="sub8", blanks=BLANKS, status=template.status)
        assert macros.unknown(filled.url) == [], template.key
        assert trackers.unfilled_problem(filled.url) is None


# --- Blanks left in a URL -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "https://<domain>/k3y/postback?subid={sub1}",
            "Fill in <domain> in the URL. Your tracker's domain, such as track.example.com.",
        ),
        (
            "https://tracker.example/<key>/postback?subid={sub1}",
            "Fill in <key> in the URL. The key in your Keitaro postback URL (Maintenance > Postback URL).",
        ),
        (
            "https://tracker.example/?nid=<network_id>&transaction_id={sub1}",
            "Fill in <network_id> in the URL. Your Everflow network id (nid), a number.",
        ),
        (
            "https://tracker.example/<token>/postback",
            "Replace <token> in the URL with your own value: a name in angle brackets is a blank of a "
            "template, not a macro.",
        ),
        (
            "https://{your-domain}/postback?cid={sub1}",
            "Macros are allowed in the path and query, not in the host.",
        ),
    ],
)
def test_a_url_with_a_blank_left_is_refused_in_the_portal_and_the_api(
    portal, affiliate_api, offer, url, message
):
    response = portal.post(
        f"/offers/{offer.offer_id}/postbacks/add/",
        {
            "url": url,
            "status": "any",
            "goal": "",
            "integration_method": "default",
            "method": "GET",
            "enabled": "on",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["url"] == [message]

    answer = affiliate_api.post("/api/v1/postbacks/", {"offer": offer.offer_id, "url": url}, format="json")
    assert answer.status_code == 400
    assert answer.json()["url"] == [message]
    assert not Postback.objects.exists()


# --- The form -------------------------------------------------------------------------------


def use_template(portal, offer, **fields):
    query = {"use_template": "1", **{f"template-{name}": value for name, value in fields.items()}}
    return portal.get(f"/offers/{offer.offer_id}/postbacks/add/", query)


def test_use_template_fills_the_url_and_status_without_saving_and_save_keeps_them(portal, affiliate, offer):
    response = use_template(
        portal,
        offer,
        tracker="redtrack",
        click_id_sub="sub2",
        domain="https://rt.example/",
        status="declined",
    )

    assert response.status_code == 200
    form = response.context["form"]
    expected = "https://rt.example/postback?clickid={sub2}&sum={sum}&status=Declined"
    assert (form["url"].value(), form["status"].value()) == (expected, "declined")
    assert f'value="{escape(expected)}"' in response.content.decode()
    assert not Postback.objects.exists()

    saved = portal.post(
        f"/offers/{offer.offer_id}/postbacks/add/",
        {
            "url": expected,
            "status": "declined",
            "goal": "",
            "integration_method": "default",
            "method": "GET",
            "enabled": "on",
        },
    )
    assert saved.status_code == 302
    assert Postback.objects.get().url == expected


def test_use_template_on_an_existing_postback_replaces_only_its_url_and_status(portal, affiliate, offer):
    postback = Postback.objects.create(
        affiliate=affiliate, offer=offer, url="https://old.example/?c={sub1}", method="POST"
    )
    response = portal.get(
        f"/offers/{offer.offer_id}/postbacks/{postback.pk}/",
        {
            "use_template": "1",
            "template-tracker": "keitaro",
            "template-domain": "k.example",
            "template-key": "abc",
        },
    )
    form = response.context["form"]
    assert form["url"].value().startswith("https://k.example/abc/postback?subid={sub1}&status={status}")
    assert (form["status"].value(), form["method"].value()) == ("any", "POST")
    postback.refresh_from_db()
    assert postback.url == "https://old.example/?c={sub1}"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"tracker": "keitaro", "key": "abc"}, "domain", "Keitaro needs it: Your tracker's domain"),
        (
            {"tracker": "nosuch"},
            "tracker",
            "There is no template for nosuch: choose a tracker from the list.",
        ),
        ({"tracker": ""}, "tracker", "Choose the tracker whose template fills the URL."),
        (
            {"tracker": "voluum", "domain": "v.example", "click_id_sub": "sub1}&x={ip"},
            "click_id_sub",
            "Choose one of sub1",
        ),
        (
            {"tracker": "redtrack", "domain": "r.example", "status": "any"},
            "status",
            "RedTrack takes a status word",
        ),
        (
            {"tracker": "voluum", "domain": "v.example", "status": "nosuch"},
            "status",
            "Choose one of the statuses",
        ),
        ({"tracker": "voluum", "domain": "x" * 300}, "domain", "at most 253 characters"),
    ],
)
def test_use_template_with_bad_input_says_what_is_wrong_and_leaves_the_url(
    portal, offer, fields, field, message
):
    response = use_template(portal, offer, **fields)
    assert response.status_code == 200
    assert message in response.context["template_form"].errors[field][0]
    assert response.context["form"]["url"].value() in (None, "")


def test_a_tracker_named_in_the_address_is_preselected(portal, offer):
    response = portal.get("/settings/postbacks/add/?template-tracker=binom")
    assert response.context["template_form"]["tracker"].value() == "binom"
    assert response.context["template_form"].errors == {}
    unknown = portal.get("/settings/postbacks/add/?template-tracker=%3Cscript%3E")
    assert unknown.status_code == 200
    assert unknown.context["template_form"]["tracker"].value() is None


# --- The API --------------------------------------------------------------------------------


def test_the_api_lists_every_template_with_its_url_pattern_and_what_to_fill_in(affiliate_api):
    answer = affiliate_api.get("/api/v1/postbacks/templates/")
    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == len(trackers.TEMPLATES)
    keitaro = body["results"][0]
    assert keitaro["key"] == "keitaro"
    assert keitaro["url"] == trackers.BY_KEY["keitaro"].url
    assert [blank["name"] for blank in keitaro["blanks"]] == ["domain", "key"]
    assert keitaro["status"] == "any" and keitaro["status_words"] == {}
    assert keitaro["source"] == "https://docs.keitaro.io/en/conversions/postback.html"
    redtrack = affiliate_api.get("/api/v1/postbacks/templates/redtrack/").json()
    assert redtrack["status_words"]["hold"] == "Pending"


def test_the_api_fills_a_template_in(affiliate_api):
    answer = affiliate_api.get(
        "/api/v1/postbacks/templates/everflow/fill/",
        {"domain": "ef.example", "network_id": "7", "click_id_sub": "sub4"},
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "url": "https://ef.example/?nid=7&transaction_id={sub4}&amount={sum}&adv1={conversion_id}",
        "status": "approved",
    }


@pytest.mark.parametrize(
    ("path", "query", "code", "expected"),
    [
        ("nosuch/", {}, 404, "There is no template for 'nosuch'"),
        ("nosuch/fill/", {}, 404, "There is no template for 'nosuch'"),
        ("voluum/fill/", {"domain": "v.example", "click_id_sub": "sub1}{ip"}, 400, "Choose one of sub1"),
        ("voluum/fill/", {}, 400, "Voluum needs it"),
        ("redtrack/fill/", {"domain": "r.example", "status": "any"}, 400, "RedTrack takes a status word"),
        ("tune/fill/", {"domain": "t.example", "offer_id": "x" * 5000}, 400, "This does not look right."),
    ],
)
def test_the_api_answers_bad_input_with_a_precise_4xx(affiliate_api, path, query, code, expected):
    answer = affiliate_api.get(f"/api/v1/postbacks/templates/{path}", query)
    assert answer.status_code == code
    assert expected in str(answer.json())


def test_the_templates_need_an_affiliate_key(client):
    assert client.get("/api/v1/postbacks/templates/").status_code == 401


# --- In the browser -------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_choosing_a_template_and_typing_fills_the_url_as_the_server_does(live_server, page, affiliate):
    offer = OfferFactory()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server.url, affiliate.user.username)
    page.goto(f"{live_server.url}/offers/{offer.offer_id}/postbacks/add/")
    assert page.input_value("#id_url") == ""
    page.click(".tracker-template summary")
    assert page.is_visible("#id_template-tracker") and page.is_hidden("[data-blank=key]")

    page.select_option("#id_template-tracker", "keitaro")
    assert page.is_visible("[data-blank=key]") and page.is_hidden("[data-blank=network_id]")
    assert page.input_value("#id_url").startswith("https://<domain>/<key>/postback?subid={sub1}")
    page.fill("#id_template-domain", "https://k.example/")
    page.fill("#id_template-key", "abc")
    page.select_option("#id_template-click_id_sub", "sub5")
    server = trackers.fill(
        trackers.BY_KEY["keitaro"], click_id_sub="sub5", blanks={"domain": "k.example", "key": "abc"}
    )
    assert page.input_value("#id_url") == server.url
    assert page.input_value("#id_status") == "any"

    page.select_option("#id_template-tracker", "redtrack")
    page.select_option("#id_template-status", "hold")
    assert page.input_value("#id_url") == "https://k.example/postback?clickid={sub5}&sum={sum}&status=Pending"
    assert page.input_value("#id_status") == "hold"
    assert page.get_attribute("#template-source", "href") == trackers.BY_KEY["redtrack"].source

    with page.expect_navigation():
        page.click("#postback-form button[type=submit]")
    assert errors == []
    saved = Postback.objects.get()
    assert (saved.url, saved.status) == (
        "https://k.example/postback?clickid={sub5}&sum={sum}&status=Pending",
        "hold",
    )
