"""GET /click: which refusal wins when a link breaks several rules (the README's order), the error
page's status, HEAD as a GET without the visit, other methods, and what a visitor without a usable
address or headers gets."""

import time

import pytest

from offers.models import Offer
from tests.factories import AffiliateFactory, OfferAccessFactory, OfferFactory
from tracking.accept import ClickRefused, click_accept
from tracking.models import Click

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

DESTINATION = "https://adv.example/land?c={clickid}&p={pid}&o={offer_id}&s={sub1}&ip={ip}&ua={ua}"


@pytest.fixture
def offer():
    return OfferFactory(destination_url=DESTINATION, click_lifetime_days=3)


def refusal(client, query):
    response = client.get(f"/click?{query}&format=json")
    return response.status_code, response.json()["error"]


@pytest.mark.parametrize(
    ("query", "status", "error"),
    [
        # Validity of the parameters first: bytes, then control characters, then lengths.
        ("sub1=%FF&sub2=a%00&sub3=" + "x" * 513, 400, "The link's parameters are not valid UTF-8."),
        ("sub2=a%00&sub3=" + "x" * 513, 400, "Parameter sub2 contains control characters."),
        ("sub3=" + "x" * 513, 400, "Parameter sub3 is longer than 512 characters."),
        # Then offer_id before pid.
        ("pid=&offer_id=", 400, "Missing mandatory parameter offer_id."),
        ("pid=x&offer_id=", 400, "Missing mandatory parameter offer_id."),
        ("pid=x&offer_id=y", 400, "Parameter offer_id must be a number."),
        ("pid=&offer_id=42424242", 400, "Missing mandatory parameter pid."),
        ("pid=%D9%A3&offer_id=42424242", 400, "Parameter pid must be a number."),
        ("pid=-1&offer_id=42424242", 400, "Parameter pid must be a number."),
        # Both ids well-formed: the offer is looked up first.
        ("pid=42424242&offer_id=42424242", 404, "Offer not found."),
        ("pid=12345678901&offer_id=12345678901", 404, "Offer not found."),
    ],
)
def test_a_link_breaking_several_rules_is_refused_for_the_first_in_the_documented_order(
    client, query, status, error
):
    assert refusal(client, query) == (status, error)
    assert not Click.objects.exists()


def test_an_offer_that_exists_is_refused_for_an_unknown_or_too_long_affiliate_id(client, offer):
    assert refusal(client, f"pid=42424242&offer_id={offer.offer_id}") == (404, "Affiliate not found.")
    assert refusal(client, f"pid=12345678901&offer_id={offer.offer_id}") == (404, "Affiliate not found.")


def test_a_paused_offer_is_refused_before_its_affiliate_is_looked_at(client):
    paused = OfferFactory(status=Offer.Status.PAUSED, visibility=Offer.Visibility.PRIVATE)
    blocked = AffiliateFactory(status="blocked")
    assert refusal(client, f"pid={blocked.pid}&offer_id={paused.offer_id}") == (403, "This offer is paused.")
    assert refusal(client, f"pid=42424242&offer_id={paused.offer_id}") == (403, "This offer is paused.")


def test_a_blocked_affiliate_is_refused_before_access_is_looked_at(client):
    private = OfferFactory(visibility=Offer.Visibility.PRIVATE)
    blocked = AffiliateFactory(status="blocked")
    OfferAccessFactory(offer=private, affiliate=blocked, status="approved")
    assert refusal(client, f"pid={blocked.pid}&offer_id={private.offer_id}") == (
        403,
        "This affiliate is blocked.",
    )


@pytest.mark.parametrize(
    ("query", "status"),
    [("sub1=%FF", 400), ("pid=1", 400), ("pid=1&offer_id=42424242", 404)],
)
def test_the_error_page_names_the_status_it_is_answered_with(client, query, status):
    response = client.get(f"/click?{query}")
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    assert f"Error {status}" in response.content.decode()


def test_a_refusal_of_a_paused_offer_names_its_403_on_the_page(client, offer):
    paused = OfferFactory(status=Offer.Status.PAUSED)
    response = client.get(f"/click?pid=1&offer_id={paused.offer_id}")
    assert response.status_code == 403 and "Error 403" in response.content.decode()


def test_another_method_gets_the_405_page_even_on_an_offer_with_a_trafficback_url(client, affiliate):
    offer = OfferFactory(trafficback_url="https://fallback.example/")
    response = client.post(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}")
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    assert "Error 405" in response.content.decode()
    assert not Click.objects.exists()


def test_another_method_answers_json_when_the_link_asks_for_it(client, affiliate, offer):
    response = client.put(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json")
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    assert response.json() == {"error": "Method not allowed: a tracking link is opened with GET."}


def test_head_answers_the_redirect_a_get_would_with_an_empty_click_id_and_no_visit(client, affiliate, offer):
    link = f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=a"
    head = client.head(link, REMOTE_ADDR="203.0.113.4", HTTP_USER_AGENT="Checker")
    assert head.status_code == 302
    assert head["Location"] == (
        f"https://adv.example/land?c=&p={affiliate.pid}&o={offer.offer_id}&s=a&ip=203.0.113.4&ua=Checker"
    )
    assert "afclick" not in head.cookies and not Click.objects.exists()


def test_head_with_format_json_answers_the_json_a_get_would_without_a_click_id(client, affiliate, offer):
    head = client.head(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json")
    assert head.status_code == 200 and head["Content-Type"] == "application/json"
    assert "afclick" not in head.cookies and not Click.objects.exists()


def test_head_on_a_refused_link_goes_to_the_trafficback_url_like_a_get(client):
    offer = OfferFactory(status=Offer.Status.PAUSED, trafficback_url="https://fallback.example/?s={sub1}")
    affiliate = AffiliateFactory()
    head = client.head(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=b")
    assert head.status_code == 302 and head["Location"] == "https://fallback.example/?s=b"
    assert not Click.objects.exists()


def test_a_visitor_without_a_usable_address_or_headers_gets_empty_ip_and_ua(client, affiliate, offer):
    response = client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}", REMOTE_ADDR="unix:")
    assert response["Location"].endswith("&s=&ip=&ua=")
    stored = Click.objects.get()
    assert (stored.ip, stored.user_agent, stored.referrer) == (None, "", "")


def test_a_refused_visitor_without_a_usable_address_gets_an_empty_ip_in_the_trafficback(client, affiliate):
    offer = OfferFactory(
        status=Offer.Status.PAUSED, trafficback_url="https://fallback.example/?ip={ip}&ua={ua}"
    )

    response = client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}", REMOTE_ADDR="unix:")

    assert response["Location"] == "https://fallback.example/?ip=&ua="


def test_the_referrer_is_stored_up_to_2048_characters(client, affiliate, offer):
    referrer = "https://publisher.example/?" + "r" * 3000
    client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}", HTTP_REFERER=referrer)
    client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}", HTTP_REFERER=referrer[:2048])
    assert [click.referrer for click in Click.objects.order_by("pk")] == [referrer[:2048], referrer[:2048]]


def test_the_user_agent_in_the_destination_is_the_stored_one_cut_at_512_characters(client, affiliate, offer):
    agent = "A" * 600
    response = client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}", HTTP_USER_AGENT=agent)
    assert response["Location"].endswith("&ua=" + "A" * 512)
    assert Click.objects.get().user_agent == "A" * 512


def test_the_click_is_stored_with_the_time_it_was_made(client, affiliate, offer):
    before = time.time()
    client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}")
    after = time.time()
    assert before - 1 <= Click.objects.get().created_at.timestamp() <= after + 1


def test_the_click_cookie_carries_the_click_id_for_the_offers_lifetime(client, affiliate, offer):
    response = client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json")
    cookie = response.cookies["afclick"]
    assert cookie.value == response.json()["click_id"] == Click.objects.get().click_id
    assert cookie["max-age"] == 3 * 86400 and cookie["httponly"] is True
    assert cookie["samesite"] == "Lax" and cookie["secure"] == ""


def test_the_wizards_test_click_goes_through_the_same_checks(affiliate):
    paused = OfferFactory(status=Offer.Status.PAUSED)
    result = click_accept(
        query=f"pid={affiliate.pid}&offer_id={paused.offer_id}",
        ip="198.51.100.8",
        user_agent="Wizard/1",
        is_test=True,
    )
    assert result == ClickRefused(403, "This offer is paused.", wants_json=False)
    assert not Click.objects.exists()


def test_the_wizards_test_click_carries_its_address_and_agent_into_the_destination(affiliate, offer):
    result = click_accept(
        query=f"pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=w",
        ip="198.51.100.8",
        user_agent="Wizard/1",
        is_test=True,
    )
    stored = Click.objects.get()
    assert stored.is_test is True and stored.sub1 == "w" and result.click_id == stored.click_id
    assert "&ip=198.51.100.8&ua=Wizard%2F1" in result.redirect_url
