"""The inbound postback log names the offer each hit was for whenever it could be told, refused
hits included, so a burst of refusals points at the advertiser whose integration broke; a hit
whose click is unknown names none."""

from urllib.parse import urlencode

import pytest

from conversions.models import ServerPostback
from conversions.repeats import ANOTHER_CLICK
from tests.factories import OfferFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


@pytest.fixture
def offer():
    return OfferFactory(
        advertiser__secure_code="s3cret",
        goals=[{"value": "sale", "title": "Sale", "payout": "3", "revenue": "5", "default_status": 2}],
    )


def click(client, offer, affiliate) -> str:
    return client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()["click_id"]


def logged_after(client, **params) -> ServerPostback:
    client.get("/postback?" + urlencode(params))
    return ServerPostback.objects.order_by("pk").last()


def test_an_accepted_hit_is_logged_with_its_offer(client, offer, affiliate):
    logged = logged_after(client, clickid=click(client, offer, affiliate), secure="s3cret")
    assert (logged.outcome, logged.offer) == ("created", offer)


def test_a_hit_refused_once_its_click_was_found_is_logged_with_the_clicks_offer(client, offer, affiliate):
    logged = logged_after(client, clickid=click(client, offer, affiliate), secure="wrong")
    assert (logged.outcome, logged.message, logged.offer) == ("rejected", "Access denied", offer)


def test_a_hit_refused_as_another_clicks_conversion_is_logged_with_the_offer(
    client, offer, affiliate, other_affiliate
):
    logged_after(client, clickid=click(client, offer, affiliate), secure="s3cret", action_id="A-1")
    intruder = click(client, offer, other_affiliate)
    logged = logged_after(client, clickid=intruder, secure="s3cret", action_id="A-1")
    assert (logged.outcome, logged.message, logged.offer) == ("rejected", ANOTHER_CLICK, offer)


def test_a_hit_naming_another_offer_than_its_clicks_is_logged_with_the_clicks_offer(client, offer, affiliate):
    other = OfferFactory()
    logged = logged_after(client, clickid=click(client, offer, affiliate), offer_id=other.offer_id)
    assert (logged.message, logged.offer) == ("Offer does not match the click", offer)


def test_a_probabilistic_hit_for_an_unknown_affiliate_is_logged_with_the_offer_it_named(client, offer):
    logged = logged_after(client, offer_id=offer.offer_id, pid=999_999, ip="198.51.100.7")
    assert (logged.message, logged.offer) == ("Affiliate not found", offer)


def test_a_hit_for_an_unknown_click_is_logged_without_an_offer(client, offer):
    logged = logged_after(client, clickid="0" * 24, secure="s3cret")
    assert (logged.outcome, logged.offer) == ("rejected", None)


def test_the_manager_api_finds_an_offers_refused_hits_by_the_offer(client, manager_api, offer, affiliate):
    refused = logged_after(client, clickid=click(client, offer, affiliate), secure="wrong")
    logged_after(client, clickid="0" * 24, secure="s3cret")

    answer = manager_api.get("/api/v1/manage/server-postbacks/", {"offer": offer.offer_id}).json()
    assert [(row["id"], row["offer"]) for row in answer["results"]] == [(refused.pk, offer.offer_id)]
