"""Offer, affiliate and access lookups for the click path, cached in the process for a few seconds.

Every web process keeps what it looked up for CLICK_LOOKUP_CACHE_SECONDS (default 5). So a
manager's change (pausing an offer, blocking an affiliate, approving access) reaches the click
path of every web node within that many seconds, and clicks cost no database query in between.
Unknown ids are cached too, so a flood of bogus links does not reach the database either.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

from offers.models import Affiliate, Offer, OfferAccess


@dataclass(frozen=True)
class OfferSnapshot:
    pk: int
    offer_id: int
    is_active: bool
    is_private: bool
    destination_url: str
    trafficback_url: str
    click_lifetime_days: int


@dataclass(frozen=True)
class AffiliateSnapshot:
    pk: int
    pid: int
    is_active: bool


class _TTLCache:
    def __init__(self):
        self._entries = {}

    def get(self, key, load):
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = load()
        if len(self._entries) > 100_000:
            # Bounded memory whatever ids clients invent.
            self._entries.clear()
        self._entries[key] = (now + settings.CLICK_LOOKUP_CACHE_SECONDS, value)
        return value

    def clear(self):
        self._entries.clear()


_cache = _TTLCache()


def _load_offer(offer_id):
    offer = (
        Offer.objects.filter(offer_id=offer_id)
        .values_list(
            "pk", "status", "visibility", "destination_url", "trafficback_url", "click_lifetime_days"
        )
        .first()
    )
    if offer is None:
        return None
    pk, status, visibility, destination_url, trafficback_url, click_lifetime_days = offer
    return OfferSnapshot(
        pk=pk,
        offer_id=offer_id,
        is_active=status == Offer.Status.ACTIVE,
        is_private=visibility == Offer.Visibility.PRIVATE,
        destination_url=destination_url,
        trafficback_url=trafficback_url,
        click_lifetime_days=click_lifetime_days,
    )


def _load_affiliate(pid):
    affiliate = Affiliate.objects.filter(pid=pid).values_list("pk", "status").first()
    if affiliate is None:
        return None
    return AffiliateSnapshot(pk=affiliate[0], pid=pid, is_active=affiliate[1] == Affiliate.Status.ACTIVE)


def offer_by_public_id(offer_id: int) -> OfferSnapshot | None:
    return _cache.get(("offer", offer_id), lambda: _load_offer(offer_id))


def affiliate_by_pid(pid: int) -> AffiliateSnapshot | None:
    return _cache.get(("affiliate", pid), lambda: _load_affiliate(pid))


def has_approved_access(*, affiliate: AffiliateSnapshot, offer: OfferSnapshot) -> bool:
    """Private offers only; the same rule as offers.selectors.offers_runnable_by."""

    def load():
        approved = Q(affiliate_id=affiliate.pk, offer_id=offer.pk, status=OfferAccess.Status.APPROVED)
        return OfferAccess.objects.filter(approved).exists()

    return _cache.get(("access", affiliate.pk, offer.pk), load)


def offer_with_goals(offer_pk: int) -> Offer:
    """The offer with its advertiser and goals, for attributing conversions: cached like the
    click path's lookups, so a manager's change reaches postbacks within the same few seconds."""

    def load():
        return Offer.objects.select_related("advertiser").prefetch_related("goals").get(pk=offer_pk)

    return _cache.get(("offer-with-goals", offer_pk), load)


def clear():
    """Forget everything cached in this process (tests, and after a manager's change here)."""
    _cache.clear()
