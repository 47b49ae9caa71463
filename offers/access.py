"""May this affiliate run this offer: the one rule, for every surface, and the click path's cache.

An affiliate may send traffic to an offer when, checked in this order,
1. the offer is active,
2. the affiliate is active, and
3. the offer is public, or the affiliate's access to it is approved (pending, rejected or no
   request at all is no access).

`refusal` states the rule and says which condition fails. Its other forms are built on it:
`offers_runnable_by` (the queryset, for lists and forms), `affiliate_can_run_offer` (one offer,
read from the database), `may_run_visible_offer` (an offer of the affiliate's list) and the
click path, which asks it about the cached snapshots below.

The click path's lookups are kept in each process for CLICK_LOOKUP_CACHE_SECONDS (default 5). So a
manager's change (pausing an offer, blocking an affiliate, approving access) reaches the click
path of every web node within that many seconds, and clicks cost no database query in between.
Unknown ids are cached too, so a flood of bogus links does not reach the database either.
"""

import enum
import operator
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from itertools import product

from cachetools import TLRUCache, cached
from django.conf import settings
from django.db.models import Exists, OuterRef, Q

from offers.models import Affiliate, Offer, OfferAccess


class Refusal(enum.StrEnum):
    """Why an affiliate may not run an offer, in the words the click endpoint answers with."""

    OFFER_PAUSED = "This offer is paused."
    AFFILIATE_BLOCKED = "This affiliate is blocked."
    NO_ACCESS = "This affiliate has no access to this offer."


def refusal(
    *, offer_active: bool, affiliate_active: bool, offer_private: bool, access_approved: Callable[[], bool]
) -> Refusal | None:
    """Why the affiliate may not run the offer (the first condition that fails), or None when it
    may. `access_approved` is asked only when the answer depends on it, for a private offer, so
    the click path looks up no access for public offers."""
    if not offer_active:
        return Refusal.OFFER_PAUSED
    if not affiliate_active:
        return Refusal.AFFILIATE_BLOCKED
    if offer_private and not access_approved():
        return Refusal.NO_ACCESS
    return None


def offers_runnable_by(affiliate: Affiliate):
    """Offers the affiliate may send traffic to.

    `refusal` is asked about every combination of offer status, visibility and approved access,
    for this affiliate; the query keeps the offers whose combination it accepts."""
    accepted = []
    for status, visibility in product(Offer.Status, Offer.Visibility):
        with_access = {
            approved
            for approved in (True, False)
            if refusal(
                offer_active=status == Offer.Status.ACTIVE,
                affiliate_active=affiliate.is_active,
                offer_private=visibility == Offer.Visibility.PRIVATE,
                access_approved=lambda approved=approved: approved,
            )
            is None
        }
        if with_access == {True, False}:
            accepted.append(Q(status=status, visibility=visibility))
        elif with_access:
            accepted.append(Q(status=status, visibility=visibility, access_approved=with_access.pop()))
    if not accepted:
        return Offer.objects.none()
    approved_access = OfferAccess.objects.filter(
        affiliate=affiliate, offer=OuterRef("pk"), status=OfferAccess.Status.APPROVED
    )
    return Offer.objects.alias(access_approved=Exists(approved_access)).filter(reduce(operator.or_, accepted))


def affiliate_can_run_offer(*, affiliate: Affiliate, offer: Offer) -> bool:
    """The rule for one offer, read from the database (no cache)."""

    def access_approved():
        approved = OfferAccess.objects.filter(
            affiliate=affiliate, offer=offer, status=OfferAccess.Status.APPROVED
        )
        return approved.exists()

    return (
        refusal(
            offer_active=offer.is_active,
            affiliate_active=affiliate.is_active,
            offer_private=offer.is_private,
            access_approved=access_approved,
        )
        is None
    )


def may_run_visible_offer(offer: Offer) -> bool:
    """The rule for an offer listed by offers.selectors.offers_visible_to, from the access status
    it carries. Those lists are shown only to active affiliates (the portal and the API turn
    blocked ones away), so the affiliate is active."""
    return (
        refusal(
            offer_active=offer.is_active,
            affiliate_active=True,
            offer_private=offer.is_private,
            access_approved=lambda: offer.access_status == OfferAccess.Status.APPROVED,
        )
        is None
    )


# --- The click path's snapshots, cached in the process ---------------------------------------


@dataclass(frozen=True)
class OfferSnapshot:
    pk: int
    offer_id: int
    is_active: bool
    is_private: bool
    destination_url: str
    trafficback_url: str
    click_lifetime_days: int
    title: str
    advertiser_id: int
    allow_deeplinks: bool
    deeplink_domains: tuple[str, ...]
    # Targeting (offers.targeting.targeting_refusal reads these as it reads an Offer's lists).
    target_countries: tuple[str, ...] = ()
    target_os_families: tuple[str, ...] = ()
    target_device_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class AffiliateSnapshot:
    pk: int
    pid: int
    is_active: bool
    name: str


# Bounded memory whatever ids clients invent: past this, the least recently used entry goes.
MAX_ENTRIES = 100_000


def _expires(key, value, now: float) -> float:
    return now + settings.CLICK_LOOKUP_CACHE_SECONDS


# A TLRUCache rather than a TTLCache: each entry's lifetime is read from the setting when it is
# stored, so a changed setting (tests' override_settings) applies without rebuilding the cache.
_cache = TLRUCache(maxsize=MAX_ENTRIES, ttu=_expires)
# The threads of a web process (gunicorn's gthread workers) share the cache, and cachetools'
# caches are not thread-safe. The lock is held to read or store an entry, never during a query.
_lock = threading.Lock()


# The snapshot's lists (JSON lists in the database), kept as tuples: a snapshot is frozen.
LIST_FIELDS = ("deeplink_domains", "target_countries", "target_os_families", "target_device_types")


@cached(_cache, key=lambda offer_id: ("offer", offer_id), lock=_lock)
def offer_by_public_id(offer_id: int) -> OfferSnapshot | None:
    offer = (
        Offer.objects.filter(offer_id=offer_id)
        .values(
            "pk",
            "status",
            "visibility",
            "destination_url",
            "trafficback_url",
            "click_lifetime_days",
            "title",
            "advertiser_id",
            "allow_deeplinks",
            *LIST_FIELDS,
        )
        .first()
    )
    if offer is None:
        return None
    status, visibility = offer.pop("status"), offer.pop("visibility")
    return OfferSnapshot(
        offer_id=offer_id,
        is_active=status == Offer.Status.ACTIVE,
        is_private=visibility == Offer.Visibility.PRIVATE,
        **{**offer, **{name: tuple(offer[name]) for name in LIST_FIELDS}},
    )


@cached(_cache, key=lambda pid: ("affiliate", pid), lock=_lock)
def affiliate_by_pid(pid: int) -> AffiliateSnapshot | None:
    fields = ("pk", "status", "user__first_name", "user__last_name")
    affiliate = Affiliate.objects.filter(pid=pid).values_list(*fields).first()
    if affiliate is None:
        return None
    pk, status, *names = affiliate
    # The person's name, never the login: it travels in offer URLs to advertisers.
    name = " ".join(name for name in names if name)
    return AffiliateSnapshot(pk=pk, pid=pid, is_active=status == Affiliate.Status.ACTIVE, name=name)


@cached(_cache, key=lambda *, affiliate, offer: ("access", affiliate.pk, offer.pk), lock=_lock)
def has_approved_access(*, affiliate: AffiliateSnapshot, offer: OfferSnapshot) -> bool:
    approved = Q(affiliate_id=affiliate.pk, offer_id=offer.pk, status=OfferAccess.Status.APPROVED)
    return OfferAccess.objects.filter(approved).exists()


def snapshot_refusal(*, offer: OfferSnapshot, affiliate: AffiliateSnapshot | None) -> Refusal | None:
    """The rule on the click path's snapshots, its access looked up in the cache. An unknown
    affiliate (None) may run nothing: to the rule it is an affiliate that is not active."""
    return refusal(
        offer_active=offer.is_active,
        affiliate_active=affiliate is not None and affiliate.is_active,
        offer_private=offer.is_private,
        access_approved=lambda: has_approved_access(affiliate=affiliate, offer=offer),
    )


@cached(_cache, key=lambda offer_pk: ("offer-with-goals", offer_pk), lock=_lock)
def offer_with_goals(offer_pk: int) -> Offer:
    """The offer with its advertiser and goals, and their payouts by country, for attributing
    conversions: cached like the click path's lookups, so a manager's change reaches postbacks
    within the same few seconds."""
    offers = Offer.objects.select_related("advertiser").prefetch_related("goals__country_payouts")
    return offers.get(pk=offer_pk)


def clear():
    """Forget everything cached in this process (tests, and after a manager's change here)."""
    with _lock:
        _cache.clear()
