"""Every rule of the network model holds in the database itself, and reads as a clear validation error."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from offers.models import Advertiser, Affiliate, Goal, Offer, OfferAccess
from tests.factories import AdvertiserFactory, AffiliateFactory, GoalFactory, OfferAccessFactory, OfferFactory

pytestmark = pytest.mark.django_db


def assert_rejected_by_database(create):
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def test_offer_ids_and_pids_are_allocated_in_sequence_when_not_given():
    first, second = OfferFactory(), OfferFactory()
    assert second.offer_id == first.offer_id + 1
    assert AffiliateFactory().pid + 1 == AffiliateFactory().pid


def test_a_migrated_offer_keeps_its_offer_id_and_new_offers_continue_after_it():
    OfferFactory(offer_id=5000)
    assert OfferFactory().offer_id == 5001


def test_offer_ids_are_unique_in_the_database():
    OfferFactory(offer_id=7)
    assert_rejected_by_database(
        lambda: Offer.objects.create(
            offer_id=7, advertiser=AdvertiserFactory(), title="x", destination_url="https://a.example/"
        )
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"title": ""},
        {"status": "deleted"},
        {"visibility": "secret"},
        {"click_lifetime_days": 0},
        {"destination_url": "ftp://files.example/offer"},
        {"offer_id": 0},
        {"offer_id": 1_000_000_000},
    ],
)
def test_invalid_offers_are_rejected_by_the_database(fields):
    advertiser = AdvertiserFactory()
    values = {"offer_id": 99, "title": "Offer", "destination_url": "https://a.example/?c={clickid}", **fields}
    assert_rejected_by_database(lambda: Offer.objects.create(advertiser=advertiser, **values))


def test_invalid_offer_fields_are_reported_per_field():
    offer = Offer(advertiser=AdvertiserFactory(), offer_id=1, title="", destination_url="javascript:alert(1)")
    with pytest.raises(ValidationError) as error:
        offer.full_clean()
    assert {"title", "destination_url"} <= set(error.value.message_dict)


def test_destination_urls_may_carry_macros():
    offer = OfferFactory.build(
        advertiser=AdvertiserFactory(),
        offer_id=1,
        destination_url="https://a.example/p?cid={clickid}&s1={sub1}",
    )
    offer.full_clean()


def test_goal_values_are_unique_per_offer_ignoring_case():
    offer = OfferFactory(goals=[{"value": "Install", "title": "Install"}])
    assert_rejected_by_database(lambda: Goal.objects.create(offer=offer, value="install", title="Again"))
    with pytest.raises(ValidationError) as error:
        Goal(offer=offer, value="INSTALL", title="Again").full_clean()
    assert error.value.message_dict == {"value": ["This offer already has a goal with this value."]}


def test_the_same_goal_value_may_exist_on_two_offers():
    OfferFactory(goals=[{"value": "install", "title": "Install"}])
    OfferFactory(goals=[{"value": "install", "title": "Install"}])


@pytest.mark.parametrize(
    "fields",
    [
        {"value": ""},
        {"title": ""},
        {"payout": Decimal("-1")},
        {"revenue": Decimal("-0.01")},
        {"currency": "usd"},
        {"currency": "US"},
        {"default_status": 4},
    ],
)
def test_invalid_goals_are_rejected_by_the_database(fields):
    offer = OfferFactory(goals=[])
    values = {"value": "1", "title": "Sale", **fields}
    assert_rejected_by_database(lambda: Goal.objects.create(offer=offer, **values))


def test_goal_values_are_limited_to_what_advertisers_can_send():
    with pytest.raises(ValidationError) as error:
        GoalFactory.build(offer=OfferFactory(goals=[]), value="first deposit").full_clean()
    assert "value" in error.value.message_dict


def test_a_conversion_without_a_goal_counts_as_the_first_goal_and_a_goal_value_ignores_case(
    django_assert_num_queries,
):
    created = OfferFactory(
        goals=[{"value": "reg", "title": "Registration"}, {"value": "dep", "title": "Deposit"}]
    )
    offer = Offer.objects.prefetch_related("goals").get(pk=created.pk)
    with django_assert_num_queries(0):  # the click path's cached offers come with their goals
        assert offer.goal_for("").value == "reg"
        assert offer.goal_for().value == "reg"
        assert offer.goal_for("DEP").value == "dep"
        assert offer.goal_for("sale") is None
    assert offer.currency == "USD"
    assert OfferFactory(goals=[]).goal_for() is None


def test_advertiser_names_are_unique_and_not_empty():
    AdvertiserFactory(name="Acme")
    assert_rejected_by_database(lambda: Advertiser.objects.create(name="Acme"))
    assert_rejected_by_database(lambda: Advertiser.objects.create(name=""))


def test_advertiser_ip_allowlist_accepts_addresses_and_ranges_only():
    AdvertiserFactory.build(ip_allowlist=["203.0.113.7", "198.51.100.0/24", "2001:db8::/32"]).full_clean()
    with pytest.raises(ValidationError) as error:
        AdvertiserFactory.build(ip_allowlist=["203.0.113.7", "not-an-ip"]).full_clean()
    assert "not-an-ip" in str(error.value.message_dict["ip_allowlist"])


@pytest.mark.parametrize("fields", [{"status": "deleted"}, {"pid": 0}])
def test_invalid_affiliates_are_rejected_by_the_database(fields):
    affiliate = AffiliateFactory()
    assert_rejected_by_database(lambda: Affiliate.objects.filter(pk=affiliate.pk).update(**fields))


def test_pids_are_unique_and_one_login_has_one_affiliate():
    affiliate = AffiliateFactory(pid=42)
    assert_rejected_by_database(lambda: AffiliateFactory(pid=42))
    assert_rejected_by_database(lambda: Affiliate.objects.create(pid=43, user=affiliate.user))


def test_an_affiliate_has_one_access_entry_per_offer():
    access = OfferAccessFactory()
    assert_rejected_by_database(
        lambda: OfferAccess.objects.create(affiliate=access.affiliate, offer=access.offer)
    )
    assert_rejected_by_database(lambda: OfferAccess.objects.filter(pk=access.pk).update(status="maybe"))


def test_every_model_reads_well_as_text():
    access = OfferAccessFactory(
        offer__title="Store", offer__offer_id=12, affiliate__pid=3, affiliate__user__username="bob"
    )
    assert str(access) == "3 bob -> #12 Store: pending"
    assert str(access.offer.goals.get()) == "Conversion (1)"
    assert str(access.offer.advertiser).startswith("Advertiser")
