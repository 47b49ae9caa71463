"""Writes to the network: advertisers, affiliates and their logins, offers with goals, access decisions."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from offers.models import Advertiser, Affiliate, Goal, Offer, OfferAccess, new_secure_code


@transaction.atomic
def advertiser_create(
    *, name: str, secure_code: str | None = None, ip_allowlist: list[str] | None = None
) -> Advertiser:
    """Create an advertiser: the admin and the API both come here. Without a `secure_code` it
    gets a generated one, since an advertiser with neither a code nor an IP allowlist takes
    conversions forged by anyone; "" creates it without one, on purpose."""
    advertiser = Advertiser(
        name=name,
        secure_code=new_secure_code() if secure_code is None else secure_code,
        ip_allowlist=ip_allowlist or [],
    )
    advertiser.full_clean()
    advertiser.save()
    return advertiser


@transaction.atomic
def affiliate_create(
    *,
    username: str,
    email: str = "",
    password: str | None = None,
    pid: int | None = None,
    status: str = Affiliate.Status.ACTIVE,
    consider_global_postback: bool = False,
) -> Affiliate:
    """Create an affiliate with its portal login. Without a password the login cannot be used
    until one is set (for API-only partners, or a manager sending a reset)."""
    user = get_user_model()(username=username, email=email)
    user.set_password(password) if password else user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    affiliate = Affiliate(
        user=user, pid=pid, status=status, consider_global_postback=consider_global_postback
    )
    affiliate.full_clean(exclude=["pid", "user"] if pid is None else ["user"])
    affiliate.save()
    return affiliate


@transaction.atomic
def offer_save_with_goals(*, offer: Offer, goals: list[dict] | None) -> Offer:
    """Save an offer and, when `goals` is given, make its goals exactly those (matched by value).

    An offer always keeps at least one goal: conversions without a `goal` count as the first.
    """
    if goals is not None and not goals:
        raise ValidationError({"goals": "An offer needs at least one goal."})
    offer.full_clean(exclude=["offer_id"] if offer.offer_id is None else None)
    offer.save()
    if goals is None:
        return offer
    existing = {goal.value.lower(): goal for goal in offer.goals.all()}
    kept = []
    for fields in goals:
        goal = existing.get(fields["value"].lower()) or Goal(offer=offer)
        for name, value in fields.items():
            setattr(goal, name, value)
        goal.full_clean()
        goal.save()
        kept.append(goal.pk)
    offer.goals.exclude(pk__in=kept).delete()
    return offer


def offer_access_request(*, affiliate: Affiliate, offer: Offer) -> OfferAccess:
    """An affiliate asks to run a private offer. Asking again after a rejection re-opens the request."""
    if not offer.is_private:
        raise ValidationError("This offer is public: no access request is needed.")
    if not offer.is_active:
        raise ValidationError("This offer is paused.")
    access, created = OfferAccess.objects.get_or_create(affiliate=affiliate, offer=offer)
    if not created and access.status == OfferAccess.Status.REJECTED:
        access.status = OfferAccess.Status.PENDING
        access.decided_at = None
        access.decided_by = None
        access.save(update_fields=["status", "decided_at", "decided_by"])
    return access


def offer_access_decide(*, access: OfferAccess, status: str, decided_by) -> OfferAccess:
    """Set an access entry's status; a decision records who made it and when."""
    decided = status != OfferAccess.Status.PENDING
    access.status = status
    access.decided_at = timezone.now() if decided else None
    access.decided_by = decided_by if decided else None
    access.full_clean()
    access.save()
    return access
