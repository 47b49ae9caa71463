"""A conversion's status after it is created: who may change it to what, holds and their end.

Managers may set any status; an advertiser's postback may only move a conversion along
ADVERTISER_STATUS_CHANGES. A conversion on hold is approved by beat once its offer's hold period
has ended. A test conversion (`conversion_create_test`) starts with the status it is given.
"""

import os
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from conversions.events import conversion_event_emit
from conversions.models import Conversion, ConversionEvent
from offers.choices import ConversionStatus
from offers.models import Affiliate, Goal, Offer
from tracking.models import SUB_FIELDS

TEST_IP = "203.0.113.7"  # an address reserved for documentation: never a real visitor

# What an advertiser may do to an existing conversion; approved and declined are final for them.
ADVERTISER_STATUS_CHANGES = {
    ConversionStatus.PENDING: {ConversionStatus.APPROVED, ConversionStatus.DECLINED, ConversionStatus.HOLD},
    ConversionStatus.HOLD: {ConversionStatus.APPROVED, ConversionStatus.DECLINED},
}


def advertiser_status_change_refused(*, current: int, requested: ConversionStatus) -> str | None:
    """Why an advertiser may not move a conversion from `current` to `requested` (the answer
    they are given); None when they may."""
    if requested in ADVERTISER_STATUS_CHANGES.get(current, set()):
        return None
    return f"Status change not allowed: {ConversionStatus(current).label} to {requested.label}"


def hold_until(offer: Offer, status: int):
    """When a conversion given `status` now is approved by itself: the end of the offer's hold
    period for a hold, never otherwise."""
    if status != ConversionStatus.HOLD:
        return None
    return timezone.now() + timedelta(days=offer.hold_period_days)


@transaction.atomic
def conversion_set_status(*, conversion: Conversion, status: int, source: str, changed_by=None):
    """Set a conversion's status and emit its event. Returns the event, or None when the status
    was already `status` (so concurrent identical changes emit one event)."""
    # Only the conversion's row: FOR UPDATE through the join would also lock the offer's row,
    # which every transaction writing a conversion of the offer needs (its foreign key check).
    conversion = (
        Conversion.objects.select_for_update(of=("self",)).select_related("offer").get(pk=conversion.pk)
    )
    if conversion.status == status:
        return None
    old_status = conversion.status
    conversion.status = status
    conversion.hold_until = hold_until(conversion.offer, status)
    conversion.save(update_fields=["status", "hold_until", "updated_at"])
    return conversion_event_emit(
        conversion=conversion,
        kind=ConversionEvent.Kind.STATUS_CHANGED,
        old_status=old_status,
        source=source,
        changed_by=changed_by,
    )


def conversion_approve_expired_holds() -> int:
    """Approve conversions whose hold period has ended (run by beat)."""
    due = Conversion.objects.filter(status=ConversionStatus.HOLD, hold_until__lte=timezone.now())
    approved = 0
    for conversion in due.only("pk").iterator():
        event = conversion_set_status(
            conversion=conversion,
            status=ConversionStatus.APPROVED,
            source=ConversionEvent.Source.HOLD_EXPIRED,
        )
        approved += event is not None
    return approved


@transaction.atomic
def new_test_action_id() -> str:
    """The advertiser's action id of a test conversion: "test-" and random hex, never a real one's."""
    return f"test-{os.urandom(6).hex()}"


def conversion_create_test(
    *, offer: Offer, affiliate: Affiliate, goal: Goal, status: int, integration_method: str
) -> ConversionEvent:
    """Create a test conversion of `goal` with sample values (the visitor address TEST_IP, an
    action id "test-<random hex>", every sub value "test_<name>") and emit its creation event;
    returns the event. Listeners leave test conversions out (statistics, affiliate postbacks): the
    caller does with it what its test needs."""
    conversion = Conversion.objects.create(
        offer=offer,
        affiliate=affiliate,
        goal=goal,
        status=status,
        integration_method=integration_method,
        action_id=new_test_action_id(),
        payout=goal.payout,
        revenue=goal.revenue,
        currency=goal.currency,
        order_sum=goal.revenue,
        order_currency=goal.currency,
        ip=TEST_IP,
        comment="Test postback",
        is_test=True,
        **{name: f"test_{name}" for name in SUB_FIELDS},
    )
    return conversion_event_emit(
        conversion=conversion,
        kind=ConversionEvent.Kind.CREATED,
        old_status=None,
        source=ConversionEvent.Source.TEST,
    )
