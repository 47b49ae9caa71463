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
period changes in between; the count stops once past MAX_DELIVERIES, as such a backfill is
refused.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from config.filters import period_q
from conversions.models import Conversion, ConversionEvent
from postbacks import firing
from postbacks.models import Delivery, Postback

MAX_DAYS = 30
# The most deliveries one backfill makes: a bigger one is refused, and a shorter period asked for.
MAX_DELIVERIES = 100_000
# Deliveries made per transaction: each one is short, and holds no lock a live event waits for.
BATCH = 250
# After each batch, the task making a backfill's deliveries rests at least this many times as long
# as the batch took (see rest_after_batch): the database's share of the work runs at full priority
# whatever the worker's, and live postbacks share that CPU.
REST_AFTER_BATCH = 3.0


def rest_after_batch(seconds: float, made: int) -> float:
    """How long the task making a backfill rests after a batch that took `seconds` and made
    `made` deliveries: REST_AFTER_BATCH times as long, and at least as long as the backfill's
    sender takes to send them (POSTBACK_BACKFILL_PER_SECOND). A backfill is thus made at the
    pace it is sent, its database work spread over the sending rather than in bursts ahead of it,
    and done as soon (the largest, 100,000 deliveries at 100 a second, in 17 minutes: well within
    the hour the broker leaves a task before giving it to another worker, its visibility_timeout
    in config.settings)."""
    return max(seconds * REST_AFTER_BATCH, made / settings.POSTBACK_BACKFILL_PER_SECOND)


# What the firing rule reads of a conversion (postbacks.firing.event_of), by attribute.
RULE_FIELDS = ("offer_id", "goal_id", "unknown_goal", "integration_method", "is_test")


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
    # A conversion is skipped when the postback has a delivery for it, and deliveries leave after
    # LOG_RETENTION_DAYS: before that, a conversion already sent would be sent again.
    first = timezone.now().date() - timedelta(days=settings.LOG_RETENTION_DAYS - 1)
    if period.date_from < first:
        return (
            f"Postbacks sent are remembered {settings.LOG_RETENTION_DAYS} days: choose a period from "
            f"{first:%Y-%m-%d}, so that no conversion is sent twice."
        )
    return ""


def default_period() -> Period:
    """The last seven days, today included."""
    today = timezone.now().date()
    return Period(today - timedelta(days=6), today)


def backfill_count(postback: Postback, period: Period) -> int:
    """How many deliveries a backfill of `period` makes now: the preview. Counting stops once
    past MAX_DELIVERIES, where the backfill is refused anyway (`count_problem`): a count above
    it says only that there are more than that."""
    rule, after, count = Rule(postback), 0, 0
    while count <= MAX_DELIVERIES:
        events, after = backfill_batch(postback, period, rule=rule, after=after, for_count=True)
        if after is None:
            break
        count += len(events)
    return count


def count_problem(count: int) -> str:
    """Why a backfill of `count` deliveries (as `backfill_count` says) cannot be made, in words
    for the form and the API; empty if it can."""
    if count > MAX_DELIVERIES:
        return (
            f"This period would send more than {MAX_DELIVERIES:,} postbacks, the most one backfill "
            "sends: choose a shorter period."
        )
    return ""


def backfill_batch(
    postback: Postback, period: Period, *, rule: "Rule", after: tuple | int, for_count: bool = False
) -> tuple[list, tuple | None]:
    """The next events to send: of the next BATCH conversions of the period after `after`, the
    chosen event of each that `rule` fires for and that has no delivery of the postback yet,
    with its conversion loaded for the macros (`for_count`: only the conversions' ids, nothing
    else loaded); and where this batch stopped, the `after` of the next one (None when no
    conversion was left). `after` is 0 for the first batch.

    The conversions are read in (created_at, pk) order, each batch from the (created_at, pk) the
    previous one stopped at: the index conversion_affiliate_created (affiliate, created_at)
    starts the scan there and gives the rows in created_at order, leaving only the rows of one
    instant to order by pk, so a batch reads its BATCH rows and not the rest of the period (in
    pk order, each batch read and sorted all the conversions of the period left after it).

    Every other query names at most BATCH conversions by id: their cost stays the same however
    many conversions the period holds, and whatever the planner's statistics say of a table that
    a burst has just grown."""
    conversions = Conversion.objects.filter(
        period_q("created_at", period.date_from, period.date_to),
        affiliate_id=postback.affiliate_id,
        is_test=False,
    )
    if postback.offer_id is not None:
        conversions = conversions.filter(offer_id=postback.offer_id)
    if after:
        created_at, pk = after
        # The bound on created_at alone is the one the index serves; the pk orders the rows of
        # one instant, the previous batch having stopped among them. Not written "created_at >
        # t OR pk > p": the planner would count the bound on created_at twice, expect a few rows
        # and read and sort all the rest of the period (measured) rather than follow the index.
        conversions = conversions.filter(~Q(created_at=created_at, pk__lte=pk), created_at__gte=created_at)
    # What the rule reads comes with the page: the heap rows are read for is_test anyway.
    page = list(
        conversions.order_by("created_at", "pk").values_list("pk", "created_at", *RULE_FIELDS)[:BATCH]
    )
    if not page:
        return [], None
    ids = [row[0] for row in page]
    delivered = set(
        Delivery.objects.filter(postback_id=postback.pk, conversion_id__in=ids)
        .order_by()
        .values_list("conversion_id", flat=True)
    )
    events = ConversionEvent.objects.filter(conversion_id__in=[pk for pk in ids if pk not in delivered])
    if postback.status == Postback.StatusFilter.CREATED:
        events = events.filter(kind=ConversionEvent.Kind.CREATED)
    chosen = {}  # conversion id: its event's (id, kind, new_status)
    for conversion_id, *event in events.order_by("conversion_id", "pk").values_list(
        "conversion_id", "pk", "kind", "new_status"
    ):
        # The creation event (the first), or else the latest: the last one read wins.
        if postback.status != Postback.StatusFilter.CREATED or conversion_id not in chosen:
            chosen[conversion_id] = event
    firing = []  # the ids of the conversions to send for, in the page's order
    for conversion_id, _, *conversion_values in page:
        if conversion_id in chosen:
            _, kind, new_status = chosen[conversion_id]
            if rule.fires(kind, new_status, conversion_values=tuple(conversion_values)):
                firing.append(conversion_id)
    stopped_at = (page[-1][1], page[-1][0])
    if for_count:
        return firing, stopped_at
    # The conversions by id, without a join: a plan that cannot go wrong on stale statistics.
    conversions = Conversion.objects.select_related("offer", "goal", "click").in_bulk(firing)
    sent = []
    for conversion_id in firing:
        # Deleted since it was read, a conversion has nothing to send.
        if conversion_id in conversions:
            event_id, kind, new_status = chosen[conversion_id]
            event = _loaded(
                ConversionEvent,
                {"id": event_id, "conversion_id": conversion_id, "kind": kind, "new_status": new_status},
            )
            event.conversion = conversions[conversion_id]
            sent.append(event)
    return sent, stopped_at


class Rule:
    """Whether the postback fires for a conversion event, by postbacks.firing with the
    affiliate's postbacks as they are now. Decided once per distinct input of the rule (the
    event's kind and status, its conversion's RULE_FIELDS): the conversions of a batch share a
    handful of those, so a batch asks postbacks.firing a few times, not once per conversion."""

    def __init__(self, postback: Postback):
        self.postback = postback
        self.postbacks = list(Postback.objects.filter(affiliate_id=postback.affiliate_id, enabled=True))
        self.consider_global = postback.affiliate.consider_global_postback
        self.decided: dict[tuple, bool] = {}

    def fires(self, kind: str, new_status: int, *, conversion_values: tuple) -> bool:
        """Whether it fires for an event of `kind` to `new_status` of a conversion whose
        RULE_FIELDS hold `conversion_values`, in that order."""
        key = (kind, new_status, conversion_values)
        if key not in self.decided:
            event = _loaded(ConversionEvent, {"kind": kind, "new_status": new_status})
            event.conversion = _loaded(Conversion, dict(zip(RULE_FIELDS, conversion_values, strict=True)))
            chosen = firing.select(
                self.postbacks, firing.event_of(event), consider_global=self.consider_global
            )
            self.decided[key] = any(postback.pk == self.postback.pk for postback in chosen)
        return self.decided[key]


def _loaded(model, values: dict):
    """An instance of `model` as a query of only these fields would load it: any other field is
    read from the database when asked for, by the pk; without one (the rule's inputs), reading
    it raises, where a default would pass for a stored value."""
    values = {model._meta.pk.attname: None, **values}
    names = [field.attname for field in model._meta.concrete_fields if field.attname in values]
    return model.from_db(model.objects.db, names, [values[name] for name in names])
