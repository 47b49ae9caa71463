import pytest
from django.core.exceptions import ValidationError

from offers.access import affiliate_can_run_offer
from offers.models import Offer, OfferAccess
from offers.selectors import offers_visible_to
from offers.services import affiliate_create, offer_access_decide, offer_access_request, offer_save_with_goals
from tests.factories import AdvertiserFactory, AffiliateFactory, OfferFactory

pytestmark = pytest.mark.django_db


def test_creating_an_affiliate_creates_its_login():
    affiliate = affiliate_create(username="newpartner", email="p@example.com", password="a-long-password-1")
    assert affiliate.user.check_password("a-long-password-1")
    assert affiliate.pid >= 1 and affiliate.is_active


def test_an_affiliate_without_password_cannot_log_in_until_one_is_set():
    affiliate = affiliate_create(username="apionly")
    assert not affiliate.user.has_usable_password()


def test_a_taken_username_is_a_field_error():
    affiliate_create(username="taken")
    with pytest.raises(ValidationError) as error:
        affiliate_create(username="taken")
    assert "username" in error.value.message_dict


def test_an_offer_needs_at_least_one_goal():
    offer = Offer(advertiser=AdvertiserFactory(), title="No goals", destination_url="https://a.example/")
    with pytest.raises(ValidationError) as error:
        offer_save_with_goals(offer=offer, goals=[])
    assert error.value.message_dict == {"goals": ["An offer needs at least one goal."]}
    assert not Offer.objects.exists()


def test_saving_goals_updates_matching_values_and_removes_the_rest():
    offer = OfferFactory(goals=[{"value": "reg", "title": "Reg"}, {"value": "dep", "title": "Dep"}])
    kept = offer.goals.get(value="reg")
    offer_save_with_goals(
        offer=offer, goals=[{"value": "REG", "title": "Registration"}, {"value": "ftd", "title": "FTD"}]
    )
    assert sorted(offer.goals.values_list("value", flat=True)) == ["REG", "ftd"]
    assert offer.goals.get(value="REG").pk == kept.pk


def test_public_offers_are_runnable_by_every_active_affiliate():
    offer, affiliate = OfferFactory(), AffiliateFactory()
    assert affiliate_can_run_offer(affiliate=affiliate, offer=offer)
    affiliate.status = "blocked"
    assert not affiliate_can_run_offer(affiliate=affiliate, offer=offer)


def test_paused_offers_are_neither_visible_nor_runnable():
    offer, affiliate = OfferFactory(status=Offer.Status.PAUSED), AffiliateFactory()
    assert not offers_visible_to(affiliate).filter(pk=offer.pk).exists()
    assert not affiliate_can_run_offer(affiliate=affiliate, offer=offer)


def test_private_offers_are_visible_but_runnable_only_after_approval(manager):
    offer, affiliate = OfferFactory(visibility=Offer.Visibility.PRIVATE), AffiliateFactory()
    assert offers_visible_to(affiliate).get(pk=offer.pk).access_status is None
    access = offer_access_request(affiliate=affiliate, offer=offer)
    assert access.status == OfferAccess.Status.PENDING
    assert not affiliate_can_run_offer(affiliate=affiliate, offer=offer)
    offer_access_decide(access=access, status=OfferAccess.Status.APPROVED, decided_by=manager)
    assert affiliate_can_run_offer(affiliate=affiliate, offer=offer)
    assert access.decided_by == manager and access.decided_at is not None


def test_a_rejected_request_can_be_asked_again(manager):
    offer, affiliate = OfferFactory(visibility=Offer.Visibility.PRIVATE), AffiliateFactory()
    access = offer_access_request(affiliate=affiliate, offer=offer)
    offer_access_decide(access=access, status=OfferAccess.Status.REJECTED, decided_by=manager)
    again = offer_access_request(affiliate=affiliate, offer=offer)
    assert again.pk == access.pk and again.status == OfferAccess.Status.PENDING and again.decided_by is None


def test_public_offers_need_no_access_request():
    with pytest.raises(ValidationError, match="public"):
        offer_access_request(affiliate=AffiliateFactory(), offer=OfferFactory())
