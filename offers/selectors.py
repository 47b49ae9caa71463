"""Reads about affiliates and the offers they see. Whether one may run an offer is offers.access's."""

from django.db.models import OuterRef, Subquery

from offers.models import Affiliate, Offer, OfferAccess


def affiliate_of(user) -> Affiliate | None:
    """The affiliate behind a user, or None for managers, anonymous and other users."""
    if not user.is_authenticated:
        return None
    try:
        return user.affiliate
    except Affiliate.DoesNotExist:
        return None


def offers_visible_to(affiliate: Affiliate):
    """Active offers an affiliate can browse: every public one, and private ones to request access to.

    Each offer carries `access_status`: the affiliate's OfferAccess status for it, or None.
    """
    access = OfferAccess.objects.filter(affiliate=affiliate, offer=OuterRef("pk")).values("status")[:1]
    return (
        Offer.objects.filter(status=Offer.Status.ACTIVE)
        .annotate(access_status=Subquery(access))
        .prefetch_related("goals__country_payouts")
    )


def offer_access_filtered(queryset, filters: dict):
    """Access requests with the status `filters` names (cleaned by OfferAccessFilterForm), or all."""
    return queryset.filter(status=filters["status"]) if filters["status"] else queryset
