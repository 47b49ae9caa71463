"""A conversion's status after it is created: who may change it to what, holds and their end.

Managers may set any status; an advertiser's postback may only move a conversion along
ADVERTISER_STATUS_CHANGES. A conversion on hold is approved by beat once its offer's hold period
has ended. A test conversion (`conversion_create_test`) starts with the status it is given.
"""

import os
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from conversions.events import CountedAs, conversion_created_emit, conversion_event, conversion_events_emit
from conversions.models import Conversion, ConversionEvent
from conversions.repeats import uniqueness_lookup
from offers.choices import ConversionStatus
from offers.models import Affiliate, Goal, Offer
from offers.payouts import Amounts, PayoutRefused, amounts_for_new_sum, conversion_amounts, pays_percent
from tracking.models import ALL_SUB_FIELDS, sub_fields

TEST_IP = "203.0.113.7"  # an address reserved for documentation: never a real visitor
# The order sum of a test conversion whose goal pays a percent of it: one that shows the percent.
TEST_ORDER_SUM = Decimal(100)

STATUS_NOT_PENDING = "Conversion status is not pending"
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
    # Affise's words: every refused change starts from a status other than pending.
    return STATUS_NOT_PENDING


def manager_status_changes(current: int) -> list[ConversionStatus]:
    """The statuses a manager may move a conversion to from `current`: every other one.
    conversion_set_status may still refuse the change for the conversion itself (one declined for
    a goal its offer lacks leaves declined only once the offer has that goal), and says why."""
    return [status for status in ConversionStatus if status != current]


def hold_until(offer: Offer, status: int):
    """When a conversion given `status` now is approved by itself: the end of the offer's hold
    period for a hold, never otherwise."""
    if status != ConversionStatus.HOLD:
        return None
    return timezone.now() + timedelta(days=offer.hold_period_days)


@transaction.atomic
def conversion_set_status(
    *,
    conversion: Conversion,
    status: int,
    source: str,
    changed_by=None,
    order_sum: Decimal | None = None,
    order_currency: str = "",
):
    """Set a conversion's status and emit its event. Returns the event, or None when the status
    was already `status` (so concurrent identical changes emit one event).

    An advertiser's status change may carry a new order sum (`order_sum` in `order_currency`):
    it is stored, and the payout, revenue and currency follow it (offers.payouts, by the goal's
    terms for the conversion's country; PayoutRefused when they cannot pay on it). A conversion
    declined on arrival and set to another status loses its decline reason, and one declined for a
    goal the offer lacked moves to that goal, paid as it says for the conversion's country
    (ValidationError while the offer still lacks it). The event carries what the conversion was
    counted as before (`counted_before`, conversions.events.CountedAs), for listeners that count
    amounts per goal and status."""
    # Only the conversion's row: FOR UPDATE through the join would also lock the offer's row,
    # which every transaction writing a conversion of the offer needs (its foreign key check).
    conversion = (
        Conversion.objects.select_for_update(of=("self",))
        .select_related("offer", "goal")
        .get(pk=conversion.pk)
    )
    if conversion.status == status:
        return None
    old_status = conversion.status
    before = Amounts(conversion.payout, conversion.revenue, conversion.currency)
    counted_before = CountedAs(conversion.goal_id, *vars(before).values())
    changed = ["status", "hold_until", "updated_at"]
    if conversion.decline_reason and status != ConversionStatus.DECLINED:
        changed += _declined_on_arrival_undone(conversion)
    if order_sum is not None:
        after = amounts_for_new_sum(
            conversion.goal,
            country=conversion.country,
            current=before,
            order_sum=order_sum,
            order_currency=order_currency,
        )
        amounts = vars(after) | {"order_sum": order_sum, "order_currency": order_currency}
        for name, value in amounts.items():
            setattr(conversion, name, value)
        changed += list(amounts)
    conversion.status = status
    conversion.hold_until = hold_until(conversion.offer, status)
    conversion.save(update_fields=changed)
    event = conversion_event(conversion, ConversionEvent.Kind.STATUS_CHANGED, old_status, source, changed_by)
    event.counted_before = counted_before
    return conversion_events_emit([event])[0]


def _declined_on_arrival_undone(conversion: Conversion) -> list[str]:
    """Clear what declined `conversion` on arrival, as a manager approves it once the cause is
    fixed: a conversion for a goal the offer lacked takes that goal, now added, and its amounts.
    Answers the fields changed."""
    changed = ["decline_reason"]
    if conversion.unknown_goal:
        goal = conversion.offer.goal_for(conversion.unknown_goal)
        if goal is None:
            raise ValidationError(
                f"The advertiser sent goal {conversion.unknown_goal!r}, which offer "
                f"#{conversion.offer.offer_id} does not have: add that goal to the offer first, then "
                "change the status."
            )
        try:
            amounts = conversion_amounts(
                goal,
                country=conversion.country,
                order_sum=conversion.order_sum,
                order_currency=conversion.order_currency,
            )
        except PayoutRefused as refused:
            message = f"Goal {goal.value!r} cannot pay this conversion: {refused.message}"
            raise ValidationError(message) from None
        conversion.goal, conversion.unknown_goal = goal, ""
        lookup = uniqueness_lookup(conversion)
        if lookup is not None and Conversion.objects.filter(**lookup).exclude(pk=conversion.pk).exists():
            raise ValidationError(f"Goal {goal.value!r} of the offer already has this conversion.")
        conversion.payout, conversion.revenue, conversion.currency = vars(amounts).values()
        changed += ["goal", "unknown_goal", "payout", "revenue", "currency"]
    conversion.decline_reason = ""
    return changed


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


def new_test_action_id() -> str:
    """The advertiser's action id of a test conversion: "test-" and random hex, never a real one's."""
    return f"test-{os.urandom(6).hex()}"


@transaction.atomic
def conversion_create_test(
    *, offer: Offer, affiliate: Affiliate, goal: Goal, status: int, integration_method: str
) -> ConversionEvent:
    """Create a test conversion of `goal` with sample values (the visitor address TEST_IP, an
    action id "test-<random hex>", every sub value "test_<name>") and emit its creation event;
    returns the event. Listeners leave test conversions out (statistics, affiliate postbacks): the
    caller does with it what its test needs. A goal paying a percent is paid on TEST_ORDER_SUM."""
    order_sum = TEST_ORDER_SUM if pays_percent(goal) else goal.revenue
    # A test conversion has no visitor, so no country: it is paid the goal's own amounts.
    amounts = conversion_amounts(goal, country="", order_sum=order_sum, order_currency=goal.currency)
    conversion = Conversion.objects.create(
        offer=offer,
        affiliate=affiliate,
        goal=goal,
        status=status,
        integration_method=integration_method,
        action_id=new_test_action_id(),
        payout=amounts.payout,
        revenue=amounts.revenue,
        currency=amounts.currency,
        order_sum=order_sum,
        order_currency=goal.currency,
        ip=TEST_IP,
        comment="Test postback",
        is_test=True,
        **sub_fields({name: f"test_{name}" for name in ALL_SUB_FIELDS}),
    )
    return conversion_created_emit(conversion, source=ConversionEvent.Source.TEST)
