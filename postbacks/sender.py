"""Sending deliveries: taking them from the database, making the requests, recording the results.

The delivery table is the queue; broker messages only wake senders up.
1. After a transaction that created deliveries commits, one Celery task `send_deliveries` is
   queued; the worker process that runs it wakes its sender (one asyncio loop in a background
   thread, `Sender`) and returns at once. Beat queues the same task every POSTBACK_SWEEP_SECONDS.
2. A woken sender takes (`claim`) up to CLAIM_BATCH due deliveries at a time, for as long as it
   finds some and has room: in one short transaction it leases them, setting `locked_until`
   and `next_attempt_at` to now plus POSTBACK_LEASE_SECONDS (FOR UPDATE SKIP LOCKED on
   PostgreSQL, so senders in several worker processes never take the same one), then sends them
   concurrently on one HTTP client (postbacks.outbound), keeping connections to each host open.
   A leased delivery is thus not due until its lease ends: the due ones are always the head of
   one index, and a claim reads only the rows it takes, however long the queue.
3. Results are recorded in batches every few milliseconds (`record`): the attempt log, the new
   state and the next attempt time from the retry schedule, and the postback's health. A batch
   the database refuses for what a row holds is recorded one result at a time, so one result
   that cannot be stored never holds back the others; a database that takes no writes at all
   (unreachable, read-only, timing out) makes a sender keep its results and try again.

Guarantees that follow: nothing is lost (the row is the truth; a lost message only waits for the
next wake-up); a delivery whose worker died mid-send is taken again once its lease has run out;
at least once, with the same X-Postback-Id on every attempt, and a late result cannot undo a newer
one (`record`); deliveries of one postback for one conversion go out in event order (`claim` skips
a delivery while an earlier one of the same pair is unfinished); and a host that stops answering
only holds its own deliveries: once SLOW_HOST_REQUESTS of its requests have run for
SLOW_AFTER_SECONDS, the sender takes no more deliveries for that host (host and port) until they
end; they wait in the database.
"""

import asyncio
import logging
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import uvloop
from django.conf import settings
from django.db import DataError, IntegrityError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from config.db import placeholders
from postbacks import outbound
from postbacks.models import Delivery, DeliveryAttempt, Postback

logger = logging.getLogger(__name__)

CLAIM_BATCH = 500
# While requests are in flight, the sender waits for room for this many before it claims again:
# a claim's cost is mostly fixed (a transaction, and reading past the due deliveries it must
# leave: a slow host's, or those waiting for an earlier one), so fewer, larger claims cost less.
CLAIM_AT_ROOM = 250
MAX_IN_FLIGHT = 2000
RECORD_EVERY_SECONDS = 0.02
SLOW_AFTER_SECONDS = 2.0
SLOW_HOST_REQUESTS = 16
CONNECTIONS_PER_HOST = 64
CLAIM_FIELDS = [
    "pk",
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
]


# --- The database side (synchronous) ------------------------------------------------------


def _sendable():
    """Deliveries that may be taken now: unfinished, due (a leased one is due when its lease
    ends), their postback still there, and no earlier delivery of the same postback and
    conversion still unfinished."""
    earlier_unfinished = Delivery.objects.filter(
        postback_id=OuterRef("postback_id"),
        conversion_id=OuterRef("conversion_id"),
        pk__lt=OuterRef("pk"),
        state__in=Delivery.UNFINISHED,
    )
    return Delivery.objects.filter(
        state__in=Delivery.UNFINISHED, postback__isnull=False, next_attempt_at__lte=timezone.now()
    ).exclude(Exists(earlier_unfinished))


def claim(ids=None, *, limit: int = CLAIM_BATCH, limited_hosts: dict[str, int] | None = None) -> list[dict]:
    """Take up to `limit` sendable deliveries (of `ids`, when given) for this sender; of a host
    in `limited_hosts`, only as many as the number it maps to."""
    sendable = _sendable()
    if ids is not None:
        sendable = sendable.filter(pk__in=ids)
    limited_hosts = limited_hosts or {}
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Walk the due index in order and stop at `limit`. The planner's count of due rows
            # comes from the last ANALYZE: after a burst it expects a few, and would rather
            # read and sort all of them (a tenth of a second per claim at 30,000 due).
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_sort = off")
        rows = _lock_first(sendable.exclude(host__in=limited_hosts), limit)
        for host, room in limited_hosts.items():
            if room > 0 and len(rows) < limit:
                rows += _lock_first(sendable.filter(host=host), min(room, limit - len(rows)))
        lease = timezone.now() + timedelta(seconds=settings.POSTBACK_LEASE_SECONDS)
        Delivery.objects.filter(pk__in=[row["pk"] for row in rows]).update(
            locked_until=lease, next_attempt_at=lease
        )
    for row in rows:
        row["lease"] = lease
    return rows


def _lock_first(deliveries, count: int) -> list[dict]:
    return list(
        deliveries.select_for_update(skip_locked=True, of=("self",))
        .order_by("next_attempt_at", "pk")
        .values(*CLAIM_FIELDS)[:count]
    )


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
        same_result[(state, row["lease"], outcome.http_code, outcome.error, outcome.excerpt)].append(
            row["pk"]
        )
    with transaction.atomic():
        for (state, lease, http_code, error, excerpt), ids in same_result.items():
            Delivery.objects.filter(pk__in=ids, locked_until=lease).update(
                **_result_fields(http_code, error, excerpt),
                state=state,
                delivered_at=now if state == Delivery.State.SUCCEEDED else None,
                next_attempt_at=None,
            )
        for row, outcome in retries:
            delay = retry_delay(row["attempts"] + 1, outcome.retry_after)
            Delivery.objects.filter(pk=row["pk"], locked_until=row["lease"]).update(
                **_result_fields(outcome.http_code, outcome.error, outcome.excerpt),
                state=Delivery.State.RETRYING,
                next_attempt_at=now + timedelta(seconds=delay),
            )
        _log_attempts(results)
        _update_postback_health(
            [(row, outcome) for row, _, outcome in results if not row["conversion__is_test"]]
        )


def _log_attempts(results) -> None:
    """One attempt-log row per result. Written without model instances: at thousands of
    deliveries per second, building them cost more than the statement."""
    columns = ["delivery_id", "started_at", "url", "http_code", "error", "duration_ms", "response_excerpt"]
    table = connection.ops.quote_name(DeliveryAttempt._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders(len(columns))})",
            [
                (
                    row["pk"],
                    connection.ops.adapt_datetimefield_value(datetime.fromtimestamp(started, tz=UTC)),
                    outbound.wire_url(row["url"]),  # as sent (rows stored before wire URLs included)
                    outcome.http_code,
                    outcome.error[:255],
                    outcome.duration_ms,
                    outcome.excerpt,
                )
                for row, started, outcome in results
            ],
        )


def _result_fields(http_code: int, error: str, excerpt: str) -> dict:
    return {
        "attempts": F("attempts") + 1,
        "http_code": http_code,
        "error": error[:255],
        "response_excerpt": excerpt,
        "locked_until": None,
    }


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


def _update_postback_health(results) -> None:
    """A success clears a postback's failing streak; a postback whose deliveries have all failed
    for POSTBACK_DISABLE_AFTER_DAYS is disabled, with the reason shown to the affiliate."""
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
        reason = (
            f"Disabled on {now:%Y-%m-%d %H:%M} UTC: every delivery failed for "
            f"{settings.POSTBACK_DISABLE_AFTER_DAYS} days. Last error: {last_error[postback_id]}"
        )
        Postback.objects.filter(pk=postback_id).update(enabled=False, disabled_reason=reason[:255])


# --- Requests -------------------------------------------------------------------------------


def request_for(row: dict) -> outbound.Request:
    headers = {"X-Postback-Id": str(row["delivery_id"])}
    if row["method"] == "POST":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return outbound.Request(
        method=row["method"],
        url=row["url"],
        body=row["body"],
        headers=headers,
        signing_secret=row["affiliate__signing_secret"],  # outbound signs the request as sent
    )


def send_claimed(rows: list[dict]) -> None:
    """Send deliveries `claim` gave out, from the calling thread, and record the results (test
    postbacks)."""
    if rows:
        record(asyncio.run(_send_all(rows)))  # raises only when the database takes no writes


def send_unsaved(*, method: str, url: str, body: str, signing_secret: str) -> outbound.Outcome:
    """Send one request the way a delivery is sent (headers, signature, safety checks), for a
    postback URL that is not saved (the integration test wizard); nothing is recorded."""
    row = {
        "delivery_id": uuid.uuid4(),
        "method": method,
        "url": url,
        "body": body,
        "affiliate__signing_secret": signing_secret,
    }
    [(_, _, outcome)] = asyncio.run(_send_all([row]))
    return outcome


async def _send_all(rows):
    async with outbound.new_session() as session:

        async def one(row):
            started = time.time()
            return row, started, await outbound.send(session, request_for(row))

        return await asyncio.gather(*(one(row) for row in rows))


# --- The sender of a worker process -----------------------------------------------------------


class Sender:
    """An asyncio loop in a background thread that takes due deliveries from the database and
    sends them, whenever it is woken (`wake`) and as long as it finds some."""

    def __init__(self):
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="postback-sender", daemon=True)
        # Claims and results go through two database threads (two connections), so that taking
        # the next deliveries does not wait behind recording the last ones.
        self._claims = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postback-claims")
        self._records = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postback-records")
        self._thread.start()
        self._ready.wait()

    def wake(self) -> None:
        self._loop.call_soon_threadsafe(self._wake.set)

    def stop(self, timeout: float = 15.0) -> None:
        """Finish and record what is in flight (worker shutdown); the lease covers the rest."""
        future = asyncio.run_coroutine_threadsafe(self._drain(), self._loop)
        try:
            future.result(timeout)
        except Exception:
            logger.warning("Postback sender stopped with deliveries in flight; they will be sent again")

    # Everything below runs in the sender's thread.

    def _run(self):
        self._loop = uvloop.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        finally:
            self._ready.set()
        self._loop.run_forever()

    async def _start(self):
        self._wake = asyncio.Event()
        self._results: list = []
        self._results_ready = asyncio.Event()
        self._running: dict[int, tuple[str, float]] = {}  # delivery id -> (host, start)
        self._slow_answers: set[str] = set()  # hosts whose last request took SLOW_AFTER_SECONDS
        self._tasks: set = set()
        # aiohttp wants to be created inside its loop. Connections are kept open and reused, at
        # most CONNECTIONS_PER_HOST to one affiliate server at a time.
        self._session = outbound.new_session(limit_per_host=CONNECTIONS_PER_HOST)
        self._loop.create_task(self._take_loop())
        self._loop.create_task(self._record_loop())

    async def _take_loop(self):
        while True:
            await self._wake.wait()
            self._wake.clear()
            while (room := MAX_IN_FLIGHT - len(self._tasks)) >= (CLAIM_AT_ROOM if self._tasks else 1):
                limited = self._limited_hosts()
                rows = (
                    await self._db(self._claims, claim, limit=min(room, CLAIM_BATCH), limited_hosts=limited)
                    or []
                )
                for row in rows:
                    task = self._loop.create_task(self._send(row))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                if not rows or len(rows) < min(room, CLAIM_BATCH):
                    break  # nothing more is due now: sleep until woken

    async def _send(self, row):
        host, began = row["host"], time.monotonic()
        self._running[row["pk"]] = (host, began)
        started = time.time()
        try:
            outcome = await outbound.send(self._session, request_for(row))
        finally:
            del self._running[row["pk"]]
        if time.monotonic() - began >= SLOW_AFTER_SECONDS:
            self._slow_answers.add(host)
        else:
            self._slow_answers.discard(host)
        self._results.append((row, started, outcome))
        self._results_ready.set()

    def _limited_hosts(self) -> dict[str, int]:
        """Slow hosts, each with the number of requests it may still be sent: hosts whose last
        request took SLOW_AFTER_SECONDS or more, and hosts with SLOW_HOST_REQUESTS requests
        running that long."""
        since = time.monotonic() - SLOW_AFTER_SECONDS
        running = Counter(host for host, _ in self._running.values())
        waiting = Counter(host for host, began in self._running.values() if began <= since)
        slow = self._slow_answers | {host for host, count in waiting.items() if count >= SLOW_HOST_REQUESTS}
        return {host: max(0, SLOW_HOST_REQUESTS - running[host]) for host in slow}

    async def _record_loop(self):
        while True:
            await self._results_ready.wait()
            await asyncio.sleep(RECORD_EVERY_SECONDS)  # let a batch gather
            self._results_ready.clear()
            results, self._results = self._results, []
            unrecorded = await self._db(self._records, _record_or_keep, results)
            if unrecorded is False:
                unrecorded = results
            if unrecorded:
                # The database takes no writes: keep the results and try again. Were the
                # process to die meanwhile, the leases would bring the deliveries back.
                self._results = unrecorded + self._results
                self._results_ready.set()
                await asyncio.sleep(1.0)
            else:
                # Room was made, and deliveries waiting for these (event order) may be due.
                self._wake.set()

    async def _drain(self):
        while self._tasks:
            await asyncio.wait(list(self._tasks))
        if self._results:
            results, self._results = self._results, []
            await self._db(self._records, _record_or_keep, results)

    async def _db(self, thread, function, *args, **kwargs):
        """Run a database call on one of the sender's database threads; False when it failed."""

        def call():
            # No per-call health check (a round trip each time): a connection that broke
            # fails its statement, and is closed below so that the next call reconnects.
            try:
                return function(*args, **kwargs)
            except Exception:
                logger.exception("Postback sender: %s failed", function.__name__)
                connection.close()
                return False

        return await self._loop.run_in_executor(thread, call)


def _record_or_keep(results) -> list:
    """Record `results`; returns those left unrecorded because the database takes no writes."""
    try:
        record(results)
    except DatabaseUnavailable as exc:
        logger.warning("Postback sender: the database takes no writes, %d results kept", len(exc.unrecorded))
        connection.close()  # the next call reconnects
        return exc.unrecorded
    return []


_sender: Sender | None = None
_sender_lock = threading.Lock()


def process_sender() -> Sender:
    """This process's sender, started on first use (after the worker has forked)."""
    global _sender
    with _sender_lock:
        if _sender is None:
            _sender = Sender()
        return _sender


def stop_process_sender() -> None:
    if _sender is not None:
        _sender.stop()
