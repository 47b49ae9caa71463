"""The delivery table as the senders' queue: taking due deliveries, recording what came of them,
the retry schedule, and the health of their postbacks.

- `claim` takes up to CLAIM_BATCH due deliveries in one short transaction and leases them, setting
  `locked_until` and `next_attempt_at` to now plus POSTBACK_LEASE_SECONDS (FOR UPDATE SKIP LOCKED
  on PostgreSQL, so senders in several worker processes never take the same one). A leased
  delivery is thus not due until its lease ends: the due ones are always the head of one index,
  and a claim reads only the rows it takes, however long the queue. It skips a delivery while an
  earlier one of the same postback and conversion is unfinished, so that they go out in event
  order, and takes only a few of a slow host's (`limited_hosts`). Live deliveries come first:
  backfill ones (`Delivery.is_backfill`, postbacks.backfill) have an index of their own and only
  fill the room the due live ones leave, so a backfill of any size never delays a live delivery
  behind it in the queue; a due backfill delivery that a live one waits for (event order) is
  taken ahead of the backfill's bound. Live and backfill deliveries have senders of their own
  (postbacks.sender): a live sender's claims make one query, and never look for backfill ones.
- `record` stores results in batches: the attempt log, the new state and the next attempt time
  from the retry schedule (`retry_delay`, or the endpoint's Retry-After), and the postback's
  health (a postback whose every delivery fails for POSTBACK_DISABLE_AFTER_DAYS is disabled). A
  result that comes back after its lease ran out cannot undo a newer one. A batch the database
  refuses for what a row holds is recorded one result at a time, so one result that cannot be
  stored never holds back the others; a database that takes no writes at all (unreachable,
  read-only, timing out) raises `DatabaseUnavailable`, and `record_or_keep` hands those results
  back to be recorded later.
"""

import logging
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.db import DataError, IntegrityError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from config.db import insert_many, set_for_transaction
from postbacks import outbound
from postbacks.explanations import disabled_reason
from postbacks.models import Delivery, DeliveryAttempt, Postback

logger = logging.getLogger(__name__)

CLAIM_BATCH = 500
CLAIM_FIELDS = [
    "pk",
    # The partition key (config.partitions): updates that name it read only their partitions.
    "created_at",
    "delivery_id",
    "method",
    "url",
    "body",
    "host",
    "attempts",
    "postback_id",
    "conversion_id",
    "affiliate__signing_secret",
    "conversion__is_test",
    "is_backfill",
]


# --- Taking deliveries --------------------------------------------------------------------


# Deliveries are made with the time of the process that makes them: one whose clock is ahead
# of the claiming one's by less than this is still found.
CLOCK_SLACK = timedelta(hours=1)


def _made():
    """Every delivery made so far. Said in so many words, so that a query leaves out, when it is
    planned, the empty weeks made ahead (config.partitions): planning a claim over all of them
    took 1.7 to 1.8 ms against 1.0 to 1.1 ms, and the claim runs for every batch sent."""
    return Delivery.objects.filter(created_at__lt=timezone.now() + CLOCK_SLACK)


def _sendable():
    """Deliveries that may be taken now: unfinished, due (a leased one is due when its lease
    ends), their postback still there, and no earlier delivery of the same postback and
    conversion still unfinished."""
    earlier_unfinished = _made().filter(
        postback_id=OuterRef("postback_id"),
        conversion_id=OuterRef("conversion_id"),
        pk__lt=OuterRef("pk"),
        state__in=Delivery.UNFINISHED,
    )
    return (
        _made()
        .filter(state__in=Delivery.UNFINISHED, postback__isnull=False, next_attempt_at__lte=timezone.now())
        .exclude(Exists(earlier_unfinished))
    )


def claim(
    ids=None,
    *,
    limit: int = CLAIM_BATCH,
    limited_hosts: dict[str, int] | None = None,
    live: bool = True,
    backfill: bool = True,
    backfill_limit: int | None = None,
) -> list[dict]:
    """Take up to `limit` sendable deliveries (of `ids`, when given) for this sender; of a host
    in `limited_hosts`, only as many as the number it maps to. Due live deliveries are taken
    first (unless `live` is False: a backfill's sender). Then, unless `backfill` is False (a
    live sender: none is looked for at all), the backfill ones due live ones wait for, as if
    live (marked `waited_for`), and other backfill ones in the rest of the batch, at most
    `backfill_limit`."""
    sendable = _sendable()
    if ids is not None:
        sendable = sendable.filter(pk__in=ids)
    host_room = dict(limited_hosts or {})
    with transaction.atomic():
        # Walk the due index in order and stop at `limit` (PostgreSQL). The planner's count of
        # due rows comes from the last ANALYZE: after a burst it expects a few, and would rather
        # read and sort all of them (a tenth of a second per claim at 30,000 due).
        set_for_transaction(enable_sort="off")
        # `is_backfill` spelled out in each query: it is what lets the planner use the partial
        # index of each kind (delivery_due, delivery_backfill_due).
        rows = _take(sendable.filter(is_backfill=False), limit, host_room) if live else []
        if backfill and len(rows) < limit:
            rows += _waited_for(sendable, taken=rows, limit=limit - len(rows), host_room=host_room)
        backfill_room = limit - len(rows) if backfill else 0
        if backfill_limit is not None:
            backfill_room = min(backfill_room, backfill_limit)
        if backfill_room > 0:
            backfill_due = sendable.filter(is_backfill=True)
            if rows:  # this transaction's own locks do not make SKIP LOCKED skip what it took
                backfill_due = backfill_due.exclude(pk__in=[row["pk"] for row in rows])
            rows += _take(backfill_due, backfill_room, host_room)
        lease = timezone.now() + timedelta(seconds=settings.POSTBACK_LEASE_SECONDS)
        _by_pk(rows).update(locked_until=lease, next_attempt_at=lease)
    for row in rows:
        row["lease"] = lease
    return rows


# Due live deliveries waiting for a backfill one looked at per claim: live senders take due live
# deliveries within milliseconds, so those left are the few that wait (event order, a slow host).
WAITING_LOOKED_AT = 100


def _waited_for(sendable, *, taken: list[dict], limit: int, host_room: dict[str, int]) -> list[dict]:
    """Up to `limit` due backfill deliveries that due live ones wait for (an earlier delivery of
    the same postback and conversion, event order), marked `waited_for`: taken as if live, so
    that a live delivery never waits for the backfill's turn. One that is not due (its retry is
    later) is waited for, as an earlier live one would be, and one of a slow host for its turn."""
    earlier_backfill = _made().filter(
        postback_id=OuterRef("postback_id"),
        conversion_id=OuterRef("conversion_id"),
        pk__lt=OuterRef("pk"),
        is_backfill=True,
        state__in=Delivery.UNFINISHED,
    )
    # Only those waiting for a backfill delivery: live ones waiting for a live one (a retry)
    # would fill the window and hide them.
    waiting = (
        _made()
        .filter(state__in=Delivery.UNFINISHED, is_backfill=False, next_attempt_at__lte=timezone.now())
        .filter(Exists(earlier_backfill))
        .exclude(pk__in=[row["pk"] for row in taken])
        .order_by("next_attempt_at", "pk")
        .values_list("postback_id", "conversion_id")[:WAITING_LOOKED_AT]
    )
    pairs = Q()
    for postback_id, conversion_id in set(waiting):
        pairs |= Q(postback_id=postback_id, conversion_id=conversion_id)
    if not pairs:
        return []
    # Found by their pairs (the (postback, conversion) index) and not in due order: an order
    # would have the planner walk the backfill's whole due index (sorting is off) to find them.
    rows = (
        sendable.filter(pairs, is_backfill=True)
        .exclude(host__in=host_room)
        .select_for_update(skip_locked=True, of=("self",))
        .order_by()
        .values(*CLAIM_FIELDS)[:limit]
    )
    return [row | {"waited_for": True} for row in rows]


def live_waiting_for(rows: list[dict]) -> bool:
    """Whether an unfinished live delivery has the postback and conversion of one of these
    claimed backfill ones: event order held it back until they were done."""
    if not rows:
        return False
    pairs = Q()
    for row in rows:
        pairs |= Q(postback_id=row["postback_id"], conversion_id=row["conversion_id"])
    return _made().filter(pairs, is_backfill=False, state__in=Delivery.UNFINISHED).exists()


def _take(deliveries, limit: int, host_room: dict[str, int]) -> list[dict]:
    """Up to `limit` of `deliveries`, in due order, of a limited host only as many as its room
    in `host_room` (which is then used up by as many)."""
    rows = _lock_first(deliveries.exclude(host__in=host_room), limit)
    for host, room in host_room.items():
        if room > 0 and len(rows) < limit:
            taken = _lock_first(deliveries.filter(host=host), min(room, limit - len(rows)))
            host_room[host] = room - len(taken)
            rows += taken
    return rows


def _lock_first(deliveries, count: int) -> list[dict]:
    return list(
        deliveries.select_for_update(skip_locked=True, of=("self",))
        .order_by("next_attempt_at", "pk")
        .values(*CLAIM_FIELDS)[:count]
    )


# --- Recording results --------------------------------------------------------------------

# Errors about what a row holds, which recording it alone can tell apart from the others.
# Anything else (the database unreachable, read-only after a failover, out of disk, a lock or
# statement timeout) refuses every write alike: then the results are kept and recorded later,
# since recording a delivered postback as failed would send it again.
ROW_ERRORS = (DataError, IntegrityError, ValueError)


class DatabaseUnavailable(OperationalError):
    """Results could not be recorded because the database takes no writes now; `unrecorded` are
    those not recorded (all of them, or the rest of a batch being recorded one by one)."""

    def __init__(self, unrecorded: list):
        super().__init__(f"the database takes no writes now: {len(unrecorded)} results not recorded")
        self.unrecorded = unrecorded


def record_or_keep(results) -> list:
    """Record `results`; returns those left unrecorded because the database takes no writes."""
    try:
        record(results)
    except DatabaseUnavailable as exc:
        logger.warning("Postback sender: the database takes no writes, %d results kept", len(exc.unrecorded))
        connection.close()  # the next call reconnects
        return exc.unrecorded
    return []


def record(results: list[tuple[dict, float, outbound.Outcome]]) -> None:
    """Store the outcome of sent deliveries (see `_record`), as one batch when possible.

    When the batch is refused for what a row holds, the results are recorded one by one, and
    one that is still refused is recorded as a failed attempt saying its answer could not be
    stored, which then follows the retry schedule, so that it neither holds back the others nor
    comes back every second. Raises `DatabaseUnavailable` when the database refuses writes as a
    whole.
    """
    try:
        _record(results)
        return
    except ROW_ERRORS:
        logger.exception(
            "Postback sender: %d results refused as a batch; recording them one by one", len(results)
        )
    except Exception as exc:
        raise DatabaseUnavailable(results) from exc
    for position, result in enumerate(results):
        try:
            _record_alone(result)
        except ROW_ERRORS:
            # Not even the attempt saying so could be stored: the lease brings the delivery back.
            logger.exception("Postback sender: no result of delivery %s could be recorded", result[0]["pk"])
        except Exception as exc:
            raise DatabaseUnavailable(results[position:]) from exc


def _record_alone(result) -> None:
    try:
        _record([result])
    except ROW_ERRORS as exc:
        row, started, outcome = result
        logger.exception("Postback sender: the answer to delivery %s could not be stored", row["pk"])
        answered = f" (HTTP {outcome.http_code})" if outcome.http_code else ""
        unstored = outbound.Outcome(
            0, f"The answer{answered} could not be stored: {type(exc).__name__}", "", outcome.duration_ms
        )
        _record([(row, started, unstored)])


def _record(results: list[tuple[dict, float, outbound.Outcome]]) -> None:
    """Store the outcome of sent deliveries, in one transaction.

    Every attempt is logged. The delivery itself takes the result only while the claim it was
    sent under still holds (`locked_until` is that claim's lease): a result that comes back
    after the lease ran out, when the sweep may have sent the delivery again, cannot undo a
    newer one. Deliveries with the same result (typically: 200 and the same short answer) are
    updated by one statement; a retry time differs per delivery (jitter), so failures are
    updated one by one.
    """
    now = timezone.now()
    same_result = defaultdict(list)
    retries = []
    for row, _, outcome in results:
        if outcome.succeeded:
            state = Delivery.State.SUCCEEDED
        elif row["conversion__is_test"] or row["attempts"] + 1 > len(settings.POSTBACK_RETRY_SCHEDULE):
            state = Delivery.State.FAILED
        else:
            retries.append((row, outcome))
            continue
        same_result[(state, row["lease"], outcome.http_code, outcome.error, outcome.excerpt)].append(row)
    with transaction.atomic():
        for (state, lease, http_code, error, excerpt), rows in same_result.items():
            _by_pk(rows).filter(locked_until=lease).update(
                **_result_fields(http_code, error, excerpt),
                state=state,
                delivered_at=now if state == Delivery.State.SUCCEEDED else None,
                next_attempt_at=None,
            )
        for row, outcome in retries:
            delay = retry_delay(row["attempts"] + 1, outcome.retry_after)
            _by_pk([row]).filter(locked_until=row["lease"]).update(
                **_result_fields(outcome.http_code, outcome.error, outcome.excerpt),
                state=Delivery.State.RETRYING,
                next_attempt_at=now + timedelta(seconds=delay),
            )
        _log_attempts(results)
        _update_postback_health(
            [(row, outcome) for row, _, outcome in results if not row["conversion__is_test"]]
        )


def _by_pk(rows: list[dict]):
    """The deliveries of these claimed rows, looked for only in the partitions of their times."""
    if not rows:
        return Delivery.objects.none()
    times = [row["created_at"] for row in rows]
    return Delivery.objects.filter(
        pk__in=[row["pk"] for row in rows], created_at__gte=min(times), created_at__lte=max(times)
    )


def _log_attempts(results) -> None:
    """One attempt-log row per result. Written without model instances: at thousands of
    deliveries per second, building them cost more than the statement."""
    insert_many(
        [
            {
                "delivery_id": row["pk"],
                "started_at": datetime.fromtimestamp(started, tz=UTC),
                "url": outbound.wire_url(row["url"]),  # as sent (rows stored before wire URLs included)
                "http_code": outcome.http_code,
                "error": outcome.error[:255],
                "duration_ms": outcome.duration_ms,
                "response_excerpt": outcome.excerpt,
            }
            for row, started, outcome in results
        ],
        into=DeliveryAttempt,
    )


def _result_fields(http_code: int, error: str, excerpt: str) -> dict:
    return {
        "attempts": F("attempts") + 1,
        "http_code": http_code,
        "error": error[:255],
        "response_excerpt": excerpt,
        "locked_until": None,
    }


# --- The retry schedule -------------------------------------------------------------------


def retry_delay(attempts: int, retry_after: str = "") -> float:
    """Seconds until the next attempt after `attempts` failed ones: the schedule, jittered by up
    to 20% so that retries to one endpoint spread out, or the endpoint's Retry-After."""
    asked = _retry_after_seconds(retry_after)
    if asked is not None:
        return min(max(asked, 1.0), 24 * 60 * 60)
    return settings.POSTBACK_RETRY_SCHEDULE[attempts - 1] * random.uniform(0.8, 1.2)


def _retry_after_seconds(value: str) -> float | None:
    """Retry-After as seconds from now: ASCII digits, or an HTTP date. None when it is absent
    or anything else (other digits, a date that is no date or out of range): the schedule
    applies."""
    value = value.strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(value)  # infinite when too long to be a float: bounded by retry_delay
    try:
        return (parsedate_to_datetime(value) - timezone.now()).total_seconds()
    except (TypeError, ValueError, OverflowError):
        return None


# --- The health of postbacks --------------------------------------------------------------


def _update_postback_health(results) -> None:
    """A success clears a postback's failing streak; a postback whose deliveries have all failed
    for POSTBACK_DISABLE_AFTER_DAYS is disabled, with the reason shown to the affiliate. Only live
    deliveries count: a tracker may well refuse a backfill's old click ids while it takes today's."""
    results = [(row, outcome) for row, outcome in results if not row["is_backfill"]]
    succeeded = {row["postback_id"] for row, outcome in results if outcome.succeeded}
    last_error = {row["postback_id"]: outcome.error for row, outcome in results if not outcome.succeeded}
    failing = set(last_error) - succeeded
    now = timezone.now()
    if succeeded:
        Postback.objects.filter(pk__in=succeeded, failing_since__isnull=False).update(failing_since=None)
    if not failing:
        return
    Postback.objects.filter(pk__in=failing, failing_since__isnull=True).update(failing_since=now)
    cutoff = now - timedelta(days=settings.POSTBACK_DISABLE_AFTER_DAYS)
    for postback_id in Postback.objects.filter(
        pk__in=failing, enabled=True, failing_since__lte=cutoff
    ).values_list("pk", flat=True):
        reason = disabled_reason(
            at=now, days=settings.POSTBACK_DISABLE_AFTER_DAYS, error=last_error[postback_id]
        )
        Postback.objects.filter(pk=postback_id).update(enabled=False, disabled_reason=reason[:255])
