"""GET /click: validation in order, the stored click, the redirect with macros, cookie and JSON."""

import re
from urllib.parse import quote

import pytest
from django.test import override_settings

from offers.models import Offer
from tests.factories import AffiliateFactory, OfferAccessFactory, OfferFactory
from tracking.models import Click
from tracking.store import clicks_get

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("either_write_path")]

DESTINATION = (
    "https://adv.example/land?cid={clickid}&p={pid}&o={offer_id}&s1={sub1}&s2={sub2}&s3={sub3}&s4={sub4}"
    "&s5={sub5}&s6={sub6}&s7={sub7}&s8={sub8}&r={ref_id}&e1={ext1}&e2={ext2}&e3={ext3}&fb={fbclid}&ip={ip}"
    "&ua={ua}&keep={unknown_macro}"
)


@pytest.fixture
def offer():
    return OfferFactory(destination_url=DESTINATION, click_lifetime_days=7)


def click(client, query: str, **headers):
    return client.get("/click?" + query, **headers)


def stored(click_id):
    """The click as conversions will see it: wherever it is in the write path."""
    return clicks_get([click_id])[click_id]


def test_a_click_redirects_with_every_macro_substituted(client, offer, affiliate):
    query = (
        f"pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=s1&sub2=s2&sub3=s3&sub4=s4&sub5=s5&sub6=s6&sub7=s7"
        "&sub8=s8&ref_id=r&ext1=x1&ext2=x2&ext3=x3&fbclid=FB&os_id=ios&imp_id=imp"
    )
    response = click(client, query, HTTP_USER_AGENT="Mozilla/5.0 (X11)", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 302
    click_id = re.search(r"cid=([0-9a-f]{24})&", response["Location"]).group(1)
    assert response["Location"] == (
        f"https://adv.example/land?cid={click_id}&p={affiliate.pid}&o={offer.offer_id}&s1=s1&s2=s2&s3=s3&s4=s4"
        "&s5=s5&s6=s6&s7=s7&s8=s8&r=r&e1=x1&e2=x2&e3=x3&fb=FB&ip=203.0.113.9"
        "&ua=Mozilla%2F5.0%20%28X11%29&keep=%7Bunknown_macro%7D"
    )
    # Unknown macros stay; the Location header carries their braces percent-encoded, as URLs must.
    json_answer = click(client, query + "&format=json").json()
    assert json_answer["redirect_url"].endswith("&keep={unknown_macro}")


def test_the_click_is_stored_with_everything_it_carried(client, offer, affiliate):
    response = click(
        client,
        f"pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=a&sub8=h&ref_id=r&ext3=x&os_id=ios&fbclid=F&imp_id=i",
        HTTP_USER_AGENT="UA/1",
        HTTP_REFERER="https://publisher.example/page",
        REMOTE_ADDR="198.51.100.4",
    )
    click_id = response.cookies["afclick"].value
    row = stored(click_id)
    assert re.fullmatch(r"[0-9a-f]{24}", click_id)
    assert (row.offer, row.affiliate) == (offer, affiliate)
    assert (row.sub1, row.sub8, row.ref_id, row.ext3, row.os_id, row.fbclid, row.imp_id) == (
        "a",
        "h",
        "r",
        "x",
        "ios",
        "F",
        "i",
    )
    assert (row.ip, row.user_agent, row.referrer) == (
        "198.51.100.4",
        "UA/1",
        "https://publisher.example/page",
    )
    assert row.created_at is not None


@pytest.mark.parametrize(
    "value",
    ["a&b=c", "with space", "{clickid}", "#hash", "quote\"'", "Привет мир", "汉字", "50%", "+plus", "a/b?c"],
)
def test_awkward_values_reach_the_destination_intact_and_encoded(client, offer, affiliate, value):
    response = click(client, f"pid={affiliate.pid}&offer_id={offer.offer_id}&sub1={quote(value)}")
    assert f"&s1={quote(value, safe='')}&s2=&" in response["Location"]
    assert stored(response.cookies["afclick"].value).sub1 == value


def test_click_ids_are_unique_and_unguessable(client, offer, affiliate):
    ids = {
        click(client, f"pid={affiliate.pid}&offer_id={offer.offer_id}").cookies["afclick"].value
        for _ in range(50)
    }
    assert len(ids) == 50
    assert len({click_id[8:] for click_id in ids}) == 50


def test_the_cookie_lasts_the_click_lifetime(client, offer, affiliate):
    cookie = click(client, f"pid={affiliate.pid}&offer_id={offer.offer_id}").cookies["afclick"]
    assert cookie["max-age"] == 7 * 86400 and cookie["path"] == "/" and cookie["httponly"]
    assert cookie["samesite"] == "Lax" and not cookie["secure"]


def test_over_https_the_cookie_works_for_cross_site_pixels(client, offer, affiliate):
    cookie = click(client, f"pid={affiliate.pid}&offer_id={offer.offer_id}", secure=True).cookies["afclick"]
    assert cookie["samesite"] == "None" and cookie["secure"]


def test_format_json_answers_the_click_id_and_redirect_url(client, offer, affiliate):
    response = click(client, f"pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=x&format=json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["redirect_url"].startswith(f"https://adv.example/land?cid={body['click_id']}&")
    assert stored(body["click_id"]).sub1 == "x"


def test_the_click_path_uses_no_session_csrf_or_login(client, offer, affiliate):
    response = click(client, f"pid={affiliate.pid}&offer_id={offer.offer_id}")
    assert set(response.cookies) == {"afclick"}
    assert "Cookie" not in response.get("Vary", "")


def test_only_get_is_accepted(client, offer, affiliate):
    assert client.post(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}").status_code == 405
    assert not Click.objects.exists()


REFUSALS = [
    ("offer_id={offer}", 400, "Missing mandatory parameter pid."),
    ("pid={pid}", 400, "Missing mandatory parameter offer_id."),
    ("pid=abc&offer_id={offer}", 400, "Parameter pid must be a number."),
    ("pid={pid}&offer_id=1e3", 400, "Parameter offer_id must be a number."),
    ("pid={pid}&offer_id=%D9%A3", 400, "Parameter offer_id must be a number."),
    ("pid={pid}&offer_id=99999999999999999999", 404, "Offer not found."),
    ("pid={pid}&offer_id=424242", 404, "Offer not found."),
    ("pid=424242&offer_id={offer}", 404, "Affiliate not found."),
    ("pid={pid}&offer_id={offer}&sub3=" + "x" * 513, 400, "Parameter sub3 is longer than 512 characters."),
    (
        "pid={pid}&offer_id={offer}&imp_id=" + "x" * 513,
        400,
        "Parameter imp_id is longer than 512 characters.",
    ),
    ("pid={pid}&offer_id={offer}&sub1=%FF%FE", 400, "The link&#x27;s parameters are not valid UTF-8."),
    ("pid={pid}&offer_id={offer}&sub1=a%00b", 400, "Parameter sub1 contains control characters."),
    ("pid={pid}&offer_id={offer}&sub2=line%0Abreak", 400, "Parameter sub2 contains control characters."),
]


@pytest.mark.parametrize(("query", "status", "message"), REFUSALS)
def test_bad_links_get_a_clear_error_page_and_store_nothing(client, offer, affiliate, query, status, message):
    response = click(client, query.format(pid=affiliate.pid, offer=offer.offer_id))
    assert response.status_code == status
    assert message in response.content.decode()
    assert "afclick" not in response.cookies
    assert not Click.objects.exists()


def test_a_value_of_exactly_512_characters_is_accepted(client, offer, affiliate):
    response = click(client, f"pid={affiliate.pid}&offer_id={offer.offer_id}&sub1={'y' * 512}")
    assert stored(response.cookies["afclick"].value).sub1 == "y" * 512


def test_errors_answer_json_when_asked(client, offer):
    response = click(client, f"pid=424242&offer_id={offer.offer_id}&format=json")
    assert response.status_code == 404 and response.json() == {"error": "Affiliate not found."}


def blocked():
    return AffiliateFactory(status="blocked")


@pytest.mark.parametrize(
    ("make_offer", "make_affiliate", "status", "message"),
    [
        (lambda: OfferFactory(status=Offer.Status.PAUSED), AffiliateFactory, 403, "This offer is paused."),
        (OfferFactory, blocked, 403, "This affiliate is blocked."),
        (lambda: OfferFactory(visibility="private"), AffiliateFactory, 403, "no access to this offer"),
    ],
)
def test_refused_clicks_show_why(client, make_offer, make_affiliate, status, message):
    offer, affiliate = make_offer(), make_affiliate()
    response = click(client, f"pid={affiliate.pid}&offer_id={offer.offer_id}")
    assert response.status_code == status and message in response.content.decode()
    assert not Click.objects.exists()


def test_refused_clicks_go_to_the_trafficback_url_when_the_offer_has_one(client):
    offer = OfferFactory(
        status=Offer.Status.PAUSED, trafficback_url="https://fallback.example/?p={pid}&s={sub1}"
    )
    affiliate = AffiliateFactory()
    response = click(client, f"pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=a b")
    assert response.status_code == 302
    assert response["Location"] == f"https://fallback.example/?p={affiliate.pid}&s=a%20b"
    assert not Click.objects.exists()


def test_the_trafficback_url_names_the_affiliate_whose_click_was_refused(client):
    offer = OfferFactory(
        status=Offer.Status.PAUSED, trafficback_url="https://fallback.example/?n={affiliate_name}"
    )
    affiliate = AffiliateFactory(user__first_name="Ann", user__last_name="Lee")
    response = click(client, f"pid={affiliate.pid}&offer_id={offer.offer_id}")
    assert response["Location"] == "https://fallback.example/?n=Ann%20Lee"


def test_approved_access_opens_a_private_offer(client):
    access = OfferAccessFactory(status="approved")
    response = click(client, f"pid={access.affiliate.pid}&offer_id={access.offer.offer_id}")
    assert response.status_code == 302


def test_the_visitor_ip_comes_from_the_proxy_header_only_when_configured(client, offer, affiliate):
    query = f"pid={affiliate.pid}&offer_id={offer.offer_id}&format=json"
    spoofed = {"HTTP_X_FORWARDED_FOR": "192.0.2.1", "REMOTE_ADDR": "10.0.0.5"}
    assert stored(click(client, query, **spoofed).json()["click_id"]).ip == "10.0.0.5"
    with override_settings(CLIENT_IP_HEADER="X-Forwarded-For"):
        chain = {"HTTP_X_FORWARDED_FOR": "192.0.2.1, 198.51.100.7", "REMOTE_ADDR": "10.0.0.5"}
        assert stored(click(client, query, **chain).json()["click_id"]).ip == "198.51.100.7"
        garbage = {"HTTP_X_FORWARDED_FOR": "not-an-ip", "REMOTE_ADDR": "10.0.0.5"}
        assert stored(click(client, query, **garbage).json()["click_id"]).ip == "10.0.0.5"
