"""The "may run" rule read from the database (`affiliate_can_run_offer`, which probabilistic
postbacks ask) at the edge of its third condition: only the affiliate's own approved access to
this very offer opens a private offer, not another affiliate's access to it, nor the affiliate's
access to another offer."""

import pytest

from offers import access
from offers.models import Offer, OfferAccess
from tests.factories import AffiliateFactory, OfferAccessFactory, OfferFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def private_offer():
    return OfferFactory(visibility=Offer.Visibility.PRIVATE)


def test_another_affiliates_approved_access_opens_no_private_offer(private_offer):
    affiliate = AffiliateFactory()
    OfferAccessFactory(offer=private_offer, status=OfferAccess.Status.APPROVED)

    assert not access.affiliate_can_run_offer(affiliate=affiliate, offer=private_offer)


def test_approved_access_to_another_offer_opens_no_private_offer(private_offer):
    affiliate = AffiliateFactory()
    OfferAccessFactory(affiliate=affiliate, status=OfferAccess.Status.APPROVED)

    assert not access.affiliate_can_run_offer(affiliate=affiliate, offer=private_offer)


def test_the_affiliates_own_approved_access_to_the_offer_opens_it(private_offer):
    affiliate = AffiliateFactory()
    OfferAccessFactory(affiliate=affiliate, offer=private_offer, status=OfferAccess.Status.APPROVED)

    assert access.affiliate_can_run_offer(affiliate=affiliate, offer=private_offer)
