"""Backfill: which past conversions a postback is sent for when an affiliate sends it for a period.

A postback's backfill over a period (whole days in UTC, both included, at most MAX_DAYS) covers
the conversions of its affiliate (of its offer, when it is local) created in that period, test
conversions excepted, that the postback would fire for now, as postbacks.firing decides with
the affiliate's postbacks as they are now (so a global postback is not sent where a local one
of the offer takes precedence). Each conversion is judged on one of its events, and sent once,
with its current values:

- `created` ("By creating"): its creation event, with the status it was created in;
- a status (`approved`, `pending`, ...): its latest event, that is its current status: the
  conversions now in that status;
- `any`: its latest event: the conversion's current state, once (not its whole history).

A conversion the postback already has a delivery for, live or from an earlier backfill, is left
out: sending the same period twice creates nothing the second time. The preview's count and the
deliveries made come from the same `backfill_batch`, so they agree while no conversion of the
period changes in between.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.utils import timezone

from config.filters import period_q
from conversions.models import Conversion, ConversionEvent
from postbacks import firing
from postbacks.models import Delivery, Postback

MAX_DAYS = 30
# The most deliveries one backfill makes: a bigger one is refused, and a shorter period asked for.
MAX_DELIVERIES = 100_000
# Deliveries made per transaction: each one is short, and holds no lock a live event waits for.
BATCH = 1000

# What the firing rule reads of a conversion (postbacks.firing.event_of).
RULE_FIELDS = ("offer", "goal", "unknown_goal", "integration_method", "is_test")


@dataclass(frozen=True)
class Period:
    date_from: date
    date_to: date

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1


def period_problem(period: Period) -> str:
    """Why a backfill cannot cover `period`, in words for the form and the API; empty if it can."""
    if period.date_from > period.date_to:
        return "The end date is before the start date."
    if period.days > MAX_DAYS:
        return (
            f"Choose a period of at most {MAX_DAYS} days: "
            f"{period.date_from:%Y-%m-%d} to {period.date_to:%Y-%m-%d} is {period.days} days."
        )
    if period.date_from > timezone.now().date():
        return "The period starts in the future: there are no conversions to send yet."
    return ""


def default_period() -> Period:
    """The last seven days, today included."""
    today = timezone.now().date()
    return Period(today - timedelta(days=6), today)


def backfill_count(postback: Postback, period: Period) -> int:
    """How many deliveries a backfill of `period` makes now: the preview."""
    rule, after, count = Rule(postback), 0, 0
    while True:
        events, after = backfill_batch(postback, period, rule=rule, after=after, for_count=True)
        if after is None:
            return count
        count += len(events)


def backfill_batch(
    postback: Postback, period: Period, *, rule: "Rule", after: int, for_count: bool = False
) -> tuple[list, int | None]:
    """The next events to send: of the next BATCH conversions of the period after conversion
    pk `after`, the chosen event of each that `rule` fires for and that has no delivery of the
    postback yet, with its conversion loaded for the macros (only what the rule reads,
    `for_count`); and the last conversion pk read (None when none was left).

    Every query names at most BATCH conversions by id: their cost stays the same however many
    conversions the period holds, and whatever the planner's statistics say of a table that a
    burst has just grown."""
    conversions = Conversion.objects.filter(
        period_q("created_at", period.date_from, period.date_to),
        affiliate_id=postback.affiliate_id,
        is_test=False,
        pk__gt=after,
    )
    if postback.offer_id is not None:
        conversions = conversions.filter(offer_id=postback.offer_id)
    ids = list(conversions.order_by("pk").values_list("pk", flat=True)[:BATCH])
    if not ids:
        return [], None
    delivered = set(
        Delivery.objects.filter(postback_id=postback.pk, conversion_id__in=ids).values_list(
            "conversion_id", flat=True
        )
    )
    events = ConversionEvent.objects.filter(conversion_id__in=[pk for pk in ids if pk not in delivered])
    if postback.status == Postback.StatusFilter.CREATED:
        events = events.filter(kind=ConversionEvent.Kind.CREATED)
    chosen = {}
    for event in events.only("conversion_id", "kind", "new_status").order_by("conversion_id", "pk"):
        # The creation event (the first), or else the latest: the last one read wins.
        if postback.status != Postback.StatusFilter.CREATED or event.conversion_id not in chosen:
            chosen[event.conversion_id] = event
    # The conversions by id, without a join: a plan that cannot go wrong on stale statistics.
    conversions = Conversion.objects.filter(pk__in=list(chosen))
    if for_count:
        conversions = conversions.only(*RULE_FIELDS)
    else:
        conversions = conversions.select_related("offer", "goal", "click")
    for conversion in conversions:
        chosen[conversion.pk].conversion = conversion
    return [event for event in chosen.values() if rule(event)], ids[-1]


class Rule:
    """Whether the postback fires for a conversion event, by postbacks.firing with the
    affiliate's postbacks as they are now; remembered per distinct event as the rule sees it."""

    def __init__(self, postback: Postback):
        self.postback = postback
        self.postbacks = list(Postback.objects.filter(affiliate_id=postback.affiliate_id, enabled=True))
        self.consider_global = postback.affiliate.consider_global_postback
        self.decided: dict[firing.Event, bool] = {}

    def __call__(self, conversion_event) -> bool:
        event = firing.event_of(conversion_event)
        if event not in self.decided:
            chosen = firing.select(self.postbacks, event, consider_global=self.consider_global)
            self.decided[event] = any(postback.pk == self.postback.pk for postback in chosen)
        return self.decided[event]
