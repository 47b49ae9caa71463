"""The manager admin: every page loads for staff, nobody else gets in, actions call the domain rules."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from offers.models import Affiliate, Offer, OfferAccess
from tests.factories import (
    AdvertiserFactory,
    AffiliateFactory,
    OfferAccessFactory,
    OfferFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

MODELS = ["advertiser", "offer", "affiliate", "offeraccess"]


@pytest.fixture
def admin_client(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def network():
    access = OfferAccessFactory()
    return {
        "advertiser": access.offer.advertiser,
        "offer": access.offer,
        "affiliate": access.affiliate,
        "offeraccess": access,
    }


@pytest.mark.parametrize("model", MODELS)
def test_list_add_and_change_pages_load_for_managers(admin_client, network, model):
    for url in (
        reverse(f"admin:offers_{model}_changelist"),
        reverse(f"admin:offers_{model}_add"),
        reverse(f"admin:offers_{model}_change", args=[network[model].pk]),
    ):
        assert admin_client.get(url).status_code == 200, url


def test_list_search_and_filters_work(admin_client, network):
    url = reverse("admin:offers_offer_changelist")
    response = admin_client.get(url, {"q": network["offer"].title, "status__exact": "active"})
    assert response.status_code == 200
    assert network["offer"].title in response.content.decode()
    response = admin_client.get(
        reverse("admin:offers_affiliate_changelist"), {"q": str(network["affiliate"].pid)}
    )
    assert response.context["cl"].result_count == 1


def test_the_admin_refuses_affiliates_and_anonymous_visitors(client, affiliate):
    url = reverse("admin:offers_offer_changelist")
    assert client.get(url).status_code == 302
    client.force_login(affiliate.user)
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_an_offer_is_created_with_its_goals_inline(admin_client):
    advertiser = AdvertiserFactory()
    response = admin_client.post(
        reverse("admin:offers_offer_add"),
        {
            "offer_id": "77",
            "advertiser": advertiser.pk,
            "title": "New offer",
            "description": "",
            "status": "active",
            "visibility": "public",
            "destination_url": "https://a.example/?c={clickid}",
            "preview_url": "",
            "trafficback_url": "",
            "click_lifetime_days": "30",
            "hold_period_days": "0",
            "secure_code": "",
            "goals-TOTAL_FORMS": "1",
            "goals-INITIAL_FORMS": "0",
            "goals-MIN_NUM_FORMS": "1",
            "goals-MAX_NUM_FORMS": "1000",
            "goals-0-value": "install",
            "goals-0-title": "Install",
            "goals-0-payout_type": "fixed",
            "goals-0-payout": "1.5",
            "goals-0-payout_percent": "0",
            "goals-0-revenue_type": "fixed",
            "goals-0-revenue": "2",
            "goals-0-revenue_percent": "0",
            "goals-0-currency": "USD",
            "goals-0-default_status": "2",
        },
    )
    assert response.status_code == 302, response.context["adminform"].errors if response.context else response
    offer = Offer.objects.get(offer_id=77)
    assert list(offer.goals.values_list("value", flat=True)) == ["install"]


def test_an_offer_without_goals_is_refused(admin_client):
    advertiser = AdvertiserFactory()
    response = admin_client.post(
        reverse("admin:offers_offer_add"),
        {
            "offer_id": "78",
            "advertiser": advertiser.pk,
            "title": "No goal",
            "status": "active",
            "visibility": "public",
            "destination_url": "https://a.example/",
            "click_lifetime_days": "30",
            "hold_period_days": "0",
            "goals-TOTAL_FORMS": "0",
            "goals-INITIAL_FORMS": "0",
            "goals-MIN_NUM_FORMS": "1",
            "goals-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 200
    assert "An offer needs at least one goal." in response.content.decode()
    assert not Offer.objects.filter(offer_id=78).exists()


def test_a_click_lifetime_longer_than_clicks_are_kept_is_refused(admin_client, settings):
    settings.CLICK_RETENTION_DAYS = 90
    response = admin_client.post(
        reverse("admin:offers_offer_add"),
        {
            "offer_id": "79",
            "advertiser": AdvertiserFactory().pk,
            "title": "Long lifetime",
            "status": "active",
            "visibility": "public",
            "destination_url": "https://a.example/",
            "click_lifetime_days": "91",
            "hold_period_days": "0",
            "goals-TOTAL_FORMS": "0",
            "goals-INITIAL_FORMS": "0",
            "goals-MIN_NUM_FORMS": "1",
            "goals-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 200
    assert "Clicks are kept 90 days (CLICK_RETENTION_DAYS): a click lifetime cannot be longer." in (
        response.content.decode()
    )
    assert not Offer.objects.filter(offer_id=79).exists()


def test_the_add_form_proposes_the_next_free_offer_id(admin_client):
    OfferFactory(offer_id=41)
    response = admin_client.get(reverse("admin:offers_offer_add"))
    assert response.context["adminform"].form.initial["offer_id"] == 42


def test_approving_access_requests_records_the_manager(admin_client, manager, network):
    response = admin_client.post(
        reverse("admin:offers_offeraccess_changelist"),
        {
            "action": "approve",
            "_selected_action": [network["offeraccess"].pk],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    access = OfferAccess.objects.get(pk=network["offeraccess"].pk)
    assert access.status == OfferAccess.Status.APPROVED and access.decided_by == manager


@pytest.mark.parametrize("action, status", [("reject", "rejected"), ("approve", "approved")])
def test_deciding_requests_from_the_list_of_pending_ones_counts_the_requests_decided(
    admin_client, manager, action, status
):
    requests = OfferAccessFactory.create_batch(2, status=OfferAccess.Status.PENDING)
    pending = f"{reverse('admin:offers_offeraccess_changelist')}?status__exact=pending"

    response = admin_client.post(
        pending,
        {"action": action, "index": 0, "_selected_action": [access.pk for access in requests], "post": "yes"},
        follow=True,
    )

    assert [str(message) for message in response.context["messages"]] == [f"2 request(s) {status}."]
    decided = OfferAccess.objects.filter(pk__in=[access.pk for access in requests])
    assert {(access.status, access.decided_by) for access in decided} == {(status, manager)}


def test_offers_are_paused_and_affiliates_blocked_in_bulk(admin_client):
    offers, affiliates = [OfferFactory(), OfferFactory()], [AffiliateFactory(), AffiliateFactory()]
    admin_client.post(
        reverse("admin:offers_offer_changelist"),
        {"action": "pause", "_selected_action": [o.pk for o in offers], "post": "yes"},
    )
    admin_client.post(
        reverse("admin:offers_affiliate_changelist"),
        {"action": "block", "_selected_action": [a.pk for a in affiliates], "post": "yes"},
    )
    assert set(Offer.objects.values_list("status", flat=True)) == {"paused"}
    assert set(Affiliate.objects.values_list("status", flat=True)) == {"blocked"}


def test_api_keys_are_listed_without_their_secret(admin_client, affiliate_api, affiliate):
    response = admin_client.get(reverse("admin:api_apikey_changelist"))
    assert response.status_code == 200
    key = affiliate.user.api_keys.get()
    assert key.prefix in response.content.decode() and key.key_hash not in response.content.decode()


def test_a_manager_without_rights_to_goals_changes_an_offer_and_its_goals_stay(client):
    offer = OfferFactory(goals=[{"value": "sale", "title": "Sale"}])
    clerk = UserFactory(is_staff=True)
    clerk.user_permissions.set(
        Permission.objects.filter(codename__in=["view_offer", "change_offer", "view_advertiser"])
    )
    client.force_login(clerk)
    form = {
        "offer_id": offer.offer_id,
        "advertiser": offer.advertiser_id,
        "title": "Renamed",
        "description": "",
        "status": "active",
        "visibility": "public",
        "destination_url": offer.destination_url,
        "preview_url": "",
        "trafficback_url": "",
        "click_lifetime_days": "30",
        "hold_period_days": "0",
        "secure_code": "",
    }
    response = client.post(reverse("admin:offers_offer_change", args=[offer.pk]), form)
    assert response.status_code == 302
    offer.refresh_from_db()
    assert offer.title == "Renamed"
    assert list(offer.goals.values_list("value", flat=True)) == ["sale"]
