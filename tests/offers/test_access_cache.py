"""The click path's lookup cache at its edges: what each entry is keyed by, when it is read
again, and the bound on its size."""

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from offers import access
from offers.models import Offer, OfferAccess
from tests.factories import AffiliateFactory, GoalFactory, OfferAccessFactory, OfferFactory

pytestmark = pytest.mark.django_db


def test_an_offer_snapshot_carries_what_the_click_path_needs():
    offer = OfferFactory(
        offer_id=77,
        visibility=Offer.Visibility.PRIVATE,
        destination_url="https://adv.example/{clickid}",
        trafficback_url="https://fallback.example/",
        click_lifetime_days=45,
        title="Shoes",
        allow_deeplinks=True,
        deeplink_domains=["shop.example"],
    )
    snapshot = access.offer_by_public_id(77)
    assert snapshot == access.OfferSnapshot(
        pk=offer.pk,
        offer_id=77,
        is_active=True,
        is_private=True,
        destination_url="https://adv.example/{clickid}",
        trafficback_url="https://fallback.example/",
        click_lifetime_days=45,
        title="Shoes",
        advertiser_id=offer.advertiser_id,
        allow_deeplinks=True,
        deeplink_domains=("shop.example",),
    )
    paused = OfferFactory(status=Offer.Status.PAUSED, visibility=Offer.Visibility.PUBLIC)
    assert access.offer_by_public_id(paused.offer_id).is_active is False
    assert access.offer_by_public_id(paused.offer_id).is_private is False


def test_an_affiliate_snapshot_says_whether_it_is_active_and_names_it():
    active = AffiliateFactory(user__first_name="Rocket", user__last_name="Media")
    blocked = AffiliateFactory(status="blocked", user__username="stopped")
    snapshot = access.AffiliateSnapshot(active.pk, active.pid, True, "Rocket Media")
    assert access.affiliate_by_pid(active.pid) == snapshot
    # Never the login, which is half of a credential: without a name, none.
    assert access.affiliate_by_pid(blocked.pid) == access.AffiliateSnapshot(
        blocked.pk, blocked.pid, False, ""
    )
    assert access.affiliate_by_pid(999_999_999) is None


def test_offers_and_affiliates_with_the_same_number_are_cached_apart():
    offer, affiliate = OfferFactory(offer_id=5), AffiliateFactory(pid=5)
    assert access.offer_by_public_id(5).pk == offer.pk
    assert access.affiliate_by_pid(5).pk == affiliate.pk
    assert access.offer_by_public_id(5).pk == offer.pk


def test_access_is_cached_per_affiliate_and_offer():
    offer = OfferFactory(visibility=Offer.Visibility.PRIVATE)
    other_offer = OfferFactory(visibility=Offer.Visibility.PRIVATE)
    approved_affiliate = OfferAccessFactory(offer=offer, status="approved").affiliate
    other = AffiliateFactory()
    OfferAccessFactory(offer=other_offer, affiliate=approved_affiliate, status="pending")

    def approved(affiliate, offer):
        return access.has_approved_access(
            affiliate=access.affiliate_by_pid(affiliate.pid),
            offer=access.offer_by_public_id(offer.offer_id),
        )

    assert approved(approved_affiliate, offer) is True
    assert approved(other, offer) is False
    assert approved(approved_affiliate, other_offer) is False


@override_settings(CLICK_LOOKUP_CACHE_SECONDS=3600)
def test_within_the_cache_time_a_change_is_not_read_and_clear_forgets_it():
    offer = OfferFactory()
    assert access.offer_by_public_id(offer.offer_id).is_active
    Offer.objects.filter(pk=offer.pk).update(status=Offer.Status.PAUSED)
    with CaptureQueriesContext(connection) as queries:
        assert access.offer_by_public_id(offer.offer_id).is_active
    assert queries.captured_queries == []
    access.clear()
    assert not access.offer_by_public_id(offer.offer_id).is_active


@override_settings(CLICK_LOOKUP_CACHE_SECONDS=0)
def test_with_no_cache_time_every_lookup_reads_the_database():
    request = OfferAccessFactory(status="approved", offer=OfferFactory(visibility=Offer.Visibility.PRIVATE))
    affiliate = access.affiliate_by_pid(request.affiliate.pid)
    offer = access.offer_by_public_id(request.offer.offer_id)
    assert access.has_approved_access(affiliate=affiliate, offer=offer)
    OfferAccess.objects.filter(pk=request.pk).update(status="rejected")
    assert not access.has_approved_access(affiliate=affiliate, offer=offer)


@override_settings(CLICK_LOOKUP_CACHE_SECONDS=3600)
def test_the_offer_with_its_goals_is_cached_like_the_click_paths_lookups():
    offer = OfferFactory()
    loaded = access.offer_with_goals(offer.pk)
    assert [goal.pk for goal in loaded.goals.all()] == [goal.pk for goal in offer.goals.all()]
    GoalFactory(offer=offer, value="later")
    with CaptureQueriesContext(connection) as queries:
        cached = access.offer_with_goals(offer.pk)
        assert cached.advertiser.pk == offer.advertiser.pk and len(cached.goals.all()) == 1
    assert queries.captured_queries == []


@override_settings(CLICK_LOOKUP_CACHE_SECONDS=3600)
def test_the_cache_holds_at_most_100000_entries_and_forgets_the_least_recently_used_first():
    offer = OfferFactory()
    access.offer_by_public_id(offer.offer_id)
    Offer.objects.filter(pk=offer.pk).update(status=Offer.Status.PAUSED)
    # Bogus ids, as a flood of invented links would bring (unknown ids are cached as None).
    bogus = iter(range(10**8, 10**9))
    for _ in range(access.MAX_ENTRIES - 1):
        access._cache[("offer", next(bogus))] = None
    assert ("offer", offer.offer_id) in access._cache  # 100,000 entries: all kept
    access._cache[("offer", next(bogus))] = None  # one more: the least recently used, the offer, goes
    assert len(access._cache) == access.MAX_ENTRIES
    assert not access.offer_by_public_id(offer.offer_id).is_active


@override_settings(CLICK_LOOKUP_CACHE_SECONDS=3600)
def test_each_offer_with_its_goals_is_cached_apart():
    first, second = OfferFactory(), OfferFactory()
    assert access.offer_with_goals(first.pk).pk == first.pk
    assert access.offer_with_goals(second.pk).pk == second.pk
