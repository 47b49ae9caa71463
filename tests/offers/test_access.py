"""May this affiliate run this offer: the rule, one row per case, and every form of it (the click
path, the queryset, one offer from the database, an offer of the affiliate's list) giving the same
answer for every combination of offer status and visibility, affiliate status and access."""

import pytest

from offers import access
from offers.access import Refusal
from offers.models import Offer
from offers.selectors import offers_visible_to
from tests.factories import AffiliateFactory, OfferAccessFactory, OfferFactory

ACTIVE, PAUSED, BLOCKED = True, False, False
PUBLIC, PRIVATE = False, True
APPROVED, NOT_APPROVED = True, False

RULE_CASES = [
    # offer active, affiliate active, offer private, access approved: the refusal
    (ACTIVE, ACTIVE, PUBLIC, NOT_APPROVED, None),
    (ACTIVE, ACTIVE, PUBLIC, APPROVED, None),
    (ACTIVE, ACTIVE, PRIVATE, APPROVED, None),
    (ACTIVE, ACTIVE, PRIVATE, NOT_APPROVED, Refusal.NO_ACCESS),
    (ACTIVE, BLOCKED, PUBLIC, NOT_APPROVED, Refusal.AFFILIATE_BLOCKED),
    (ACTIVE, BLOCKED, PRIVATE, APPROVED, Refusal.AFFILIATE_BLOCKED),
    # The first condition that fails is the one named.
    (PAUSED, ACTIVE, PUBLIC, NOT_APPROVED, Refusal.OFFER_PAUSED),
    (PAUSED, ACTIVE, PRIVATE, APPROVED, Refusal.OFFER_PAUSED),
    (PAUSED, BLOCKED, PRIVATE, NOT_APPROVED, Refusal.OFFER_PAUSED),
    (ACTIVE, BLOCKED, PRIVATE, NOT_APPROVED, Refusal.AFFILIATE_BLOCKED),
]


@pytest.mark.parametrize(
    ("offer_active", "affiliate_active", "offer_private", "approved", "expected"), RULE_CASES
)
def test_the_rule(offer_active, affiliate_active, offer_private, approved, expected):
    refusal = access.refusal(
        offer_active=offer_active,
        affiliate_active=affiliate_active,
        offer_private=offer_private,
        access_approved=lambda: approved,
    )
    assert refusal is expected


def test_access_is_asked_only_about_a_private_offer():
    asked = []

    def access_approved():
        asked.append(True)
        return False

    for offer_private in (False, True):
        access.refusal(
            offer_active=True,
            affiliate_active=True,
            offer_private=offer_private,
            access_approved=access_approved,
        )
    assert asked == [True]


@pytest.mark.django_db
@pytest.mark.usefixtures("direct_writes")
@pytest.mark.parametrize("offer_status", list(Offer.Status))
@pytest.mark.parametrize("visibility", list(Offer.Visibility))
@pytest.mark.parametrize("affiliate_status", ["active", "blocked"])
@pytest.mark.parametrize("access_status", [None, "pending", "approved", "rejected"])
def test_the_click_path_the_queryset_and_the_affiliates_list_agree(
    client, offer_status, visibility, affiliate_status, access_status
):
    offer = OfferFactory(status=offer_status, visibility=visibility)
    affiliate = AffiliateFactory(status=affiliate_status)
    if access_status:
        OfferAccessFactory(offer=offer, affiliate=affiliate, status=access_status)
    runnable = access.offers_runnable_by(affiliate).filter(pk=offer.pk).exists()
    click = client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}")
    assert (click.status_code == 302) is runnable
    assert access.affiliate_can_run_offer(affiliate=affiliate, offer=offer) is runnable
    listed = offers_visible_to(affiliate).filter(pk=offer.pk).first()
    if listed is not None and affiliate.is_active:  # the list is shown to active affiliates only
        assert access.may_run_visible_offer(listed) is runnable
