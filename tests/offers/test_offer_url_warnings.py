"""A manager saving an offer whose URLs hold a name that is no macro is told so, in the admin and
in the manager API: the name would reach the visitor's browser verbatim."""

import pytest
from django.urls import reverse

from offers.models import Offer
from tests.factories import AdvertiserFactory, OfferFactory
from tracking.destination import offer_url_warnings

pytestmark = pytest.mark.django_db

OFFER = {
    "title": "Shoes",
    "destination_url": "https://adv.example/?click_id={click_id}&x={clik_id}",
    "preview_url": "https://adv.example/preview?{oops}",
    "trafficback_url": "https://fallback.example/?s={sub1}",
    "goals": [{"value": "sale", "title": "Sale"}],
}


def test_the_manager_api_names_unknown_macros_of_each_url(manager_api):
    advertiser = AdvertiserFactory()
    response = manager_api.post(
        "/api/v1/manage/offers/", {**OFFER, "advertiser": advertiser.pk}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["warnings"] == [
        "The destination URL holds {clik_id}, which is no macro: it is left as it is.",
        "The preview URL holds {oops}, which is no macro: it is left as it is.",
    ]
    assert Offer.objects.get(offer_id=response.json()["id"]).destination_url == OFFER["destination_url"]


def test_an_offer_with_known_macros_only_has_no_warnings(manager_api):
    offer = OfferFactory(destination_url="https://adv.example/?c={clickid}&t={time}&s30={sub30}&d={deeplink}")
    response = manager_api.get(f"/api/v1/manage/offers/{offer.offer_id}/")
    assert response.status_code == 200 and response.json()["warnings"] == []


def test_the_admin_warns_after_saving_an_offer_with_an_unknown_macro(admin_client):
    offer = OfferFactory(destination_url="https://adv.example/?c={clickid}")
    goal = offer.goals.get()
    form = {
        "offer_id": offer.offer_id,
        "advertiser": offer.advertiser_id,
        "title": offer.title,
        "status": "active",
        "visibility": "public",
        "destination_url": "https://adv.example/?c={clickid}&g={goal_name}",
        "click_lifetime_days": "30",
        "hold_period_days": "0",
        "deeplink_domains": "[]",
        "goals-TOTAL_FORMS": "1",
        "goals-INITIAL_FORMS": "1",
        "goals-MIN_NUM_FORMS": "1",
        "goals-MAX_NUM_FORMS": "1000",
        "goals-0-id": goal.pk,
        "goals-0-offer": offer.pk,
        "goals-0-value": goal.value,
        "goals-0-title": goal.title,
        "goals-0-payout_type": "fixed",
        "goals-0-payout": "1",
        "goals-0-payout_percent": "0",
        "goals-0-revenue_type": "fixed",
        "goals-0-revenue": "2",
        "goals-0-revenue_percent": "0",
        "goals-0-currency": "USD",
        "goals-0-default_status": "2",
    }
    response = admin_client.post(reverse("admin:offers_offer_change", args=[offer.pk]), form, follow=True)
    assert response.redirect_chain, response.context["inline_admin_formsets"][0].formset.errors
    shown = [str(message) for message in response.context["messages"]]
    assert "The destination URL holds {goal_name}, which is no macro: it is left as it is." in shown
    offer.refresh_from_db()
    assert offer.destination_url.endswith("g={goal_name}")


def test_the_admin_lists_the_destination_macros_beside_the_urls(admin_client):
    response = admin_client.get(reverse("admin:offers_offer_add"))
    page = response.content.decode()
    assert (
        "<code title=" in page
        and "<code title='The click id (24 hex characters); also {click_id}'>{clickid}</code>" in page
    )
    assert "{deeplink}" in page and "{time_petty}" in page


def test_every_unknown_name_of_a_url_is_named_once_in_order():
    offer = OfferFactory.build(destination_url="https://a.example/?x={b}&y={a}&z={b}&c={clickid}")
    assert offer_url_warnings(offer) == [
        "The destination URL holds {b}, {a}, which is no macro: it is left as it is."
    ]
