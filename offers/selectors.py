"""Reads about who may see and run which offer. Every surface (portal, API, click path) asks here."""

from django.db.models import OuterRef, Q, Subquery

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
        .prefetch_related("goals")
    )


def may_run_visible_offer(offer: Offer) -> bool:
    """For an offer from offers_visible_to: public, or private with approved access."""
    return not offer.is_private or offer.access_status == OfferAccess.Status.APPROVED


def offers_runnable_by(affiliate: Affiliate):
    """Offers the affiliate may send traffic to: active, and public or with approved access."""
    if not affiliate.is_active:
        return Offer.objects.none()
    approved = OfferAccess.objects.filter(affiliate=affiliate, status=OfferAccess.Status.APPROVED)
    return Offer.objects.filter(status=Offer.Status.ACTIVE).filter(
        Q(visibility=Offer.Visibility.PUBLIC) | Q(pk__in=approved.values("offer_id"))
    )


def affiliate_can_run_offer(*, affiliate: Affiliate, offer: Offer) -> bool:
    return offers_runnable_by(affiliate).filter(pk=offer.pk).exists()


def offer_access_filtered(queryset, filters: dict):
    """Access requests with the status `filters` names (cleaned by OfferAccessFilterForm), or all."""
    return queryset.filter(status=filters["status"]) if filters["status"] else queryset
