"""GET /click at the edges of its rules: the nine-digit ids, every length-limited parameter,
a repeated parameter, the refusals with a trafficback URL, JSON errors, and the in-process test
click of the integration wizard."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from offers.models import Offer
from tests.factories import AffiliateFactory, OfferAccessFactory, OfferFactory
from tracking.accept import click_accept
from tracking.models import CLICK_PARAMETERS, Click
from tracking.params import public_id

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


@pytest.fixture
def offer():
    return OfferFactory(destination_url="https://adv.example/?c={clickid}&s1={sub1}", click_lifetime_days=30)


def test_a_nine_digit_id_is_looked_up_and_a_ten_digit_one_is_unknown(client, offer, affiliate):
    nine = client.get(f"/click?pid=123456789&offer_id={offer.offer_id}&format=json")
    assert nine.status_code == 404 and nine.json() == {"error": "Affiliate not found."}
    ten = client.get(f"/click?pid=1234567890&offer_id={offer.offer_id}&format=json")
    assert ten.status_code == 404 and ten.json() == {"error": "Affiliate not found."}
    long_offer = client.get(f"/click?pid={affiliate.pid}&offer_id=1234567890&format=json")
    assert long_offer.status_code == 404 and long_offer.json() == {"error": "Offer not found."}


def test_an_id_with_leading_zeros_is_the_same_id(client, offer, affiliate):
    response = client.get(f"/click?pid=000{affiliate.pid}&offer_id=0{offer.offer_id}&format=json")
    assert response.status_code == 200
    assert Click.objects.get().affiliate_id == affiliate.pk


@pytest.mark.parametrize("name", CLICK_PARAMETERS)
def test_every_tracking_parameter_takes_512_characters_and_refuses_513(client, offer, affiliate, name):
    link = f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json&{name}="
    assert client.get(link + "v" * 512).status_code == 200
    refused = client.get(link + "v" * 513)
    assert refused.status_code == 400
    assert refused.json() == {"error": f"Parameter {name} is longer than 512 characters."}
    assert Click.objects.count() == 1


def test_a_parameter_sent_twice_counts_with_its_last_value(client, offer, affiliate):
    response = client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=first&sub1=last")
    assert response["Location"].endswith("&s1=last")
    assert Click.objects.get().sub1 == "last"


def test_a_parameter_sent_twice_counts_with_its_last_value_even_when_empty(client, offer, affiliate):
    response = client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=first&sub1=")
    assert response["Location"].endswith("&s1=")
    assert Click.objects.get().sub1 == ""


def test_an_empty_parameter_is_stored_empty_and_a_control_character_names_its_parameter(
    client, offer, affiliate
):
    link = f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json"
    assert client.get(link + "&sub2=").status_code == 200
    assert Click.objects.get().sub2 == ""
    refused = client.get(link + "&" + "x" * 40 + "=%07")
    assert refused.status_code == 400
    assert refused.json() == {"error": f"Parameter {'x' * 32} contains control characters."}


def test_an_unreadable_link_answers_json_when_it_asks_for_it_a_readable_one_by_its_format_parameter(client):
    unreadable = client.get("/click?format=json&sub2=%FF")
    assert unreadable.json() == {"error": "The link's parameters are not valid UTF-8."}
    assert client.get("/click?sub2=%FF")["Content-Type"].startswith("text/html")
    # Readable: only the format parameter itself counts, not a value that mentions it.
    readable = client.get("/click?sub1=format=json")
    assert readable.status_code == 400 and readable["Content-Type"].startswith("text/html")


def refused_link(client, offer, affiliate, **headers):
    return client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=a&format=json", **headers)


@pytest.mark.parametrize(
    ("offer_status", "visibility", "affiliate_status"),
    [
        (Offer.Status.PAUSED, Offer.Visibility.PUBLIC, "active"),
        (Offer.Status.ACTIVE, Offer.Visibility.PUBLIC, "blocked"),
        (Offer.Status.ACTIVE, Offer.Visibility.PRIVATE, "active"),
    ],
)
def test_every_refusal_of_a_known_offer_goes_to_its_trafficback_url_with_the_visitors_values(
    client, offer_status, visibility, affiliate_status
):
    offer = OfferFactory(
        status=offer_status,
        visibility=visibility,
        trafficback_url="https://fallback.example/?p={pid}&o={offer_id}&s={sub1}&c={clickid}&ip={ip}&ua={ua}",
    )
    affiliate = AffiliateFactory(status=affiliate_status)
    response = refused_link(client, offer, affiliate, HTTP_USER_AGENT="UA 1", REMOTE_ADDR="203.0.113.5")
    assert response.status_code == 302
    assert response["Location"] == (
        f"https://fallback.example/?p={affiliate.pid}&o={offer.offer_id}&s=a&c=&ip=203.0.113.5&ua=UA%201"
    )
    assert not Click.objects.exists()


def test_a_refused_visit_fills_the_trafficback_url_with_its_time_referrer_and_language(client):
    """Refused before the targeting check, the visit still has its visitor context, referrer and
    time for the trafficback URL's macros."""
    offer = OfferFactory(
        status=Offer.Status.PAUSED,
        trafficback_url="https://fallback.example/?t={time}&r={referrer}&l={language}&g={geo}&d={deeplink}",
    )
    before = int(time.time())
    response = refused_link(
        client,
        offer,
        AffiliateFactory(),
        HTTP_REFERER="https://blog.example/post",
        HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9",
        REMOTE_ADDR="8.8.8.8",
    )
    query = parse_qs(urlsplit(response["Location"]).query, keep_blank_values=True)
    assert before <= int(query["t"][0]) <= time.time()
    assert (query["r"], query["l"], query["g"]) == (["https://blog.example/post"], ["de-DE"], ["US"])
    assert query["d"] == [""]


def test_an_unknown_affiliate_on_an_offer_with_a_trafficback_url_goes_there(client):
    offer = OfferFactory(trafficback_url="https://fallback.example/?p={pid}")
    response = client.get(f"/click?pid=424242&offer_id={offer.offer_id}")
    assert response.status_code == 302 and response["Location"] == "https://fallback.example/?p=424242"


def test_refusals_before_the_offer_is_known_have_no_trafficback(client):
    OfferFactory(offer_id=4242, trafficback_url="https://fallback.example/")
    response = client.get("/click?pid=1&offer_id=4243&format=json")
    assert response.status_code == 404 and response.json() == {"error": "Offer not found."}


def test_an_approved_access_opens_a_private_offer_only_to_its_affiliate(client):
    access = OfferAccessFactory(status="approved", offer=OfferFactory(visibility=Offer.Visibility.PRIVATE))
    other = AffiliateFactory()
    assert (
        client.get(f"/click?pid={access.affiliate.pid}&offer_id={access.offer.offer_id}").status_code == 302
    )
    refused = client.get(f"/click?pid={other.pid}&offer_id={access.offer.offer_id}&format=json")
    assert refused.json() == {"error": "This affiliate has no access to this offer."}


@pytest.mark.parametrize("status", ["pending", "rejected"])
def test_an_access_request_not_approved_keeps_a_private_offer_closed(client, status):
    access = OfferAccessFactory(status=status, offer=OfferFactory(visibility=Offer.Visibility.PRIVATE))
    refused = client.get(f"/click?pid={access.affiliate.pid}&offer_id={access.offer.offer_id}&format=json")
    assert refused.status_code == 403


def test_the_wizards_test_click_is_stored_as_a_test_click_and_answers_its_id_and_destination(
    offer, affiliate
):
    query = f"pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=t"
    result = click_accept(query=query, ip="198.51.100.8", user_agent="Wizard/1", is_test=True)
    stored = Click.objects.get(click_id=result.click_id)
    assert stored.is_test and stored.ip == "198.51.100.8" and stored.user_agent == "Wizard/1"
    assert (stored.referrer, stored.language) == ("", "")  # it came from no page, in no language
    assert result.redirect_url == f"https://adv.example/?c={result.click_id}&s1=t"
    assert result.click_lifetime_days == 30


def test_a_visitors_click_is_not_a_test_click(client, offer, affiliate):
    client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}")
    assert Click.objects.get().is_test is False


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("999999999", 999999999),
        ("000000001", 1),
        ("1000000000", None),
        ("12a", None),
        ("\u0661\u0662", None),  # Arabic-Indic digits: digits, but not ASCII
        ("", None),
    ],
)
def test_a_public_id_has_ascii_digits_only_and_nine_at_most(value, number):
    assert public_id(value) == number
