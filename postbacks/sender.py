"""Sending deliveries: the sender of a worker process, and sending from the calling thread.

The delivery table is the queue (postbacks.queue); broker messages only wake senders up.
1. After a transaction that created deliveries commits, one Celery task `send_deliveries` is
   queued; the worker process that runs it wakes its sender (one asyncio loop in a background
   thread, `Sender`) and returns at once. Beat queues the same task every POSTBACK_SWEEP_SECONDS.
   Backfill deliveries have a sender of their own, in the backfill worker's process: the task
   making a backfill wakes it after each batch, and `send_backfill_deliveries` otherwise.
2. A woken sender takes (`queue.claim`) up to CLAIM_BATCH due deliveries at a time, for as long
   as it finds some and has room, under a lease, then sends them concurrently on one HTTP client
   (postbacks.outbound), keeping connections to each host open.
3. Results are recorded in batches every few milliseconds (`queue.record`); while the database
   takes no writes at all (unreachable, read-only, timing out), a sender keeps its results and
   tries again.

Guarantees that follow: nothing is lost (the row is the truth; a lost message only waits for the
next wake-up); a delivery whose worker died mid-send is taken again once its lease has run out;
at least once, with the same X-Postback-Id on every attempt, and a late result cannot undo a newer
one (`queue.record`); deliveries of one postback for one conversion go out in event order
(`queue.claim` skips a delivery while an earlier one of the same pair is unfinished); and a host
that stops answering only holds its own deliveries: once SLOW_HOST_REQUESTS of its requests have
run for SLOW_AFTER_SECONDS, the sender takes no more deliveries for that host (host and port)
until they end; they wait in the database.
"""

import asyncio
import logging
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import uvloop
from django.conf import settings
from django.db import connection

from config.metrics import POSTBACK_IN_FLIGHT, attempt_result, postback_attempts_counted
from postbacks import outbound, queue

logger = logging.getLogger(__name__)

# While requests are in flight, the sender waits for room for this many before it claims again:
# a claim's cost is mostly fixed (a transaction, and reading past the due deliveries it must
# leave: a slow host's, or those waiting for an earlier one), so fewer, larger claims cost less.
CLAIM_AT_ROOM = 250
MAX_IN_FLIGHT = 2000
RECORD_EVERY_SECONDS = 0.02
# A backfill's results are recorded in fewer, larger batches: each is a transaction of the
# database the live deliveries share, and nothing waits for them but the backfill's next claims
# (and, rarely, a live delivery of the same postback and conversion: event order).
BACKFILL_RECORD_EVERY_SECONDS = 0.25
SLOW_AFTER_SECONDS = 2.0
SLOW_HOST_REQUESTS = 16
CONNECTIONS_PER_HOST = 64
# Backfill requests in flight at most, from a backfill's sender: what an affiliate's server gets
# of a backfill at once, beside its live postbacks (half of the connections a live sender opens).
BACKFILL_IN_FLIGHT = CONNECTIONS_PER_HOST // 2
# Backfill deliveries are claimed this many at a time at least: each claim is a transaction of the
# database the live deliveries share, so a backfill is taken in a few claims a second, not in one
# claim per request.
BACKFILL_CLAIM_AT = BACKFILL_IN_FLIGHT // 2
# While backfill requests are in flight, the backfill's sender claims at least this often: a live
# delivery may wait for a backfill one (event order), which is taken ahead of the bound.
BACKFILL_LOOK_EVERY_SECONDS = 0.5


def _in_backfill_bound(row: dict) -> bool:
    """Whether a claimed delivery counts in the bound and the rate of backfill requests: a
    backfill delivery a live one waits for is sent as if live (postbacks.queue)."""
    return row["is_backfill"] and not row.get("waited_for")


# --- Requests -------------------------------------------------------------------------------


def request_for(row: dict) -> outbound.Request:
    """The request of a claimed delivery: the same X-Postback-Id on every attempt."""
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
    """Send deliveries `queue.claim` gave out, from the calling thread, and record the results
    (test postbacks)."""
    if rows:
        queue.record(asyncio.run(_send_all(rows)))  # raises only when the database takes no writes


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
    sends them, whenever it is woken (`wake`) and as long as it finds some.

    A sender takes either live deliveries or, with `backfill`, backfill ones: those are sent by a
    sender of their own, in the backfill worker's process, which runs at a lower priority. A
    live sender's process thus spends nothing on a backfill (its claims, requests and results
    shared the process's threads and interpreter lock, and raised live latency by half); only
    the database and the machine are shared. The backfill's sender also takes the backfill
    deliveries live ones wait for (event order), ahead of its bound and rate, and then calls
    `wake_live` so that a live sender takes the live ones. A live sender takes such backfill
    deliveries too when the sweep wakes it (`wake(waited_for=True)`), so that a live delivery
    never depends on the backfill's worker running."""

    def __init__(self, *, backfill: bool = False, wake_live=lambda: None):
        self.backfill = backfill
        self._wake_live = wake_live
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="postback-sender", daemon=True)
        # Claims and results go through two database threads (two connections), so that taking
        # the next deliveries does not wait behind recording the last ones.
        self._claims = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postback-claims")
        self._records = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postback-records")
        self._thread.start()
        self._ready.wait()

    def wake(self, *, waited_for: bool = False) -> None:
        """Take the due deliveries (of a backfill's sender: say that some may be due, see
        `_backfill_room`). `waited_for`, for a live sender (the sweep): also the due backfill
        deliveries live ones wait for, so that those never depend on the backfill's worker."""
        self._loop.call_soon_threadsafe(self._woken, waited_for)

    def stop(self, timeout: float = 15.0) -> None:
        """Take nothing more, finish and record what is in flight (worker shutdown); the lease
        covers the rest."""
        future = asyncio.run_coroutine_threadsafe(self._drain(), self._loop)
        try:
            future.result(timeout)
        except Exception:
            logger.warning("Postback sender stopped with deliveries in flight; they will be sent again")
        # Each database thread holds a connection of its own: closed, rather than left to time out.
        for thread in (self._claims, self._records):
            thread.submit(lambda: connection.close()).result(timeout)

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
        self._backfill_running = 0  # backfill deliveries taken and not yet sent
        self._backfill_may_be_due = True  # until a claim finds none: the queue may hold some
        self._backfill_wakes = 0  # wake-ups saying so, counted: one during a claim is kept
        self._backfill_allowance = 0.0  # backfill requests that may start now (the rate)
        self._backfill_counted_at = time.monotonic()
        self._backfill_timer: asyncio.TimerHandle | None = None
        self._look_timer: asyncio.TimerHandle | None = None
        self._slow_answers: set[str] = set()  # hosts whose last request took SLOW_AFTER_SECONDS
        self._tasks: set = set()
        self._stopping = False
        self._claiming = False
        self._waited_for_wanted = False  # a live sender's next claim takes them too (`wake`)
        # aiohttp wants to be created inside its loop. Connections are kept open and reused, at
        # most CONNECTIONS_PER_HOST to one affiliate server at a time.
        self._session = outbound.new_session(limit_per_host=CONNECTIONS_PER_HOST)
        self._loop.create_task(self._take_loop())
        self._loop.create_task(self._record_loop())

    def _woken(self, waited_for: bool = False):
        self._waited_for_wanted |= waited_for
        if self.backfill:
            self._backfill_may_be_due = True
            self._backfill_wakes += 1
        self._wake.set()

    async def _take_loop(self):
        while True:
            if self.backfill:
                self._wake_when_backfill_allowed()
                self._look_again_while_sending()
            await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            while (room := MAX_IN_FLIGHT - len(self._tasks)) >= (CLAIM_AT_ROOM if self._tasks else 1):
                limit, limited = min(room, queue.CLAIM_BATCH), self._limited_hosts()
                self._claiming = True
                try:
                    rows = await (self._claim_backfill if self.backfill else self._claim_live)(limit, limited)
                finally:
                    self._claiming = False
                if rows is False:  # a claim failed, and logged: the next wake-up or sweep tries again
                    break
                for row in rows:
                    # Counted as running now: the next claim's room for its host (`_limited_hosts`).
                    self._running[row["pk"]] = (row["host"], time.monotonic())
                    task = self._loop.create_task(self._send(row))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                if len(rows) < limit or self._stopping:
                    break  # nothing more is due now: sleep until woken

    async def _claim_live(self, limit: int, limited: dict[str, int]) -> list[dict] | bool:
        """Claim live deliveries and, when the sweep asked for them (`wake`), the backfill ones
        live ones wait for."""
        waited_for, self._waited_for_wanted = self._waited_for_wanted, False
        return await self._db(
            self._claims,
            queue.claim,
            limit=limit,
            limited_hosts=limited,
            backfill=waited_for,
            backfill_limit=0,
        )

    async def _claim_backfill(self, limit: int, limited: dict[str, int]) -> list[dict] | bool:
        """Claim the backfill deliveries live ones wait for, and others within the backfill's
        room (`_backfill_room`); when there was room for more than were due, stop looking for
        them until told there may be some again."""
        backfill_room, wakes = self._backfill_room(), self._backfill_wakes
        rows = await self._db(
            self._claims,
            queue.claim,
            limit=limit,
            limited_hosts=limited,
            live=False,
            backfill_limit=backfill_room,
        )
        if rows is False:
            return rows
        backfill_taken = sum(map(_in_backfill_bound, rows))
        # It had room for more than were due, and no wake-up since says more came.
        took_all_due = backfill_room > 0 and backfill_taken < backfill_room and len(rows) < limit
        if took_all_due and wakes == self._backfill_wakes:
            self._backfill_may_be_due = False
        self._backfill_running += backfill_taken  # counted now: the next claim's room
        self._backfill_allowance -= backfill_taken
        return rows

    def _backfill_room(self) -> int:
        """How many backfill deliveries the next claim may take: none unless some may be due
        (once a claim finds fewer than it had room for, the claims make no query for them until
        a backfill, deliveries sent again or the sweep say there may be some again); else within
        BACKFILL_IN_FLIGHT and POSTBACK_BACKFILL_PER_SECOND. Sending a backfill takes CPU the
        live deliveries share: the rate keeps it to a part of what the machine has, so a backfill
        of any size leaves live latency as it was, and takes its minutes instead."""
        if not self._backfill_may_be_due:
            return 0
        rate, now = settings.POSTBACK_BACKFILL_PER_SECOND, time.monotonic()
        self._backfill_allowance = min(
            BACKFILL_IN_FLIGHT, self._backfill_allowance + (now - self._backfill_counted_at) * rate
        )
        self._backfill_counted_at = now
        room = min(BACKFILL_IN_FLIGHT - self._backfill_running, int(self._backfill_allowance))
        return room if room >= BACKFILL_CLAIM_AT else 0

    def _wake_when_backfill_allowed(self):
        """When the rate, not the bound, holds back backfill deliveries that may be due: wake the
        sender when it allows a claim (when the bound does, a request ending wakes it)."""
        if (
            self._backfill_may_be_due
            and self._backfill_timer is None
            and BACKFILL_IN_FLIGHT - self._backfill_running >= BACKFILL_CLAIM_AT > self._backfill_allowance
        ):
            wait = (BACKFILL_CLAIM_AT - self._backfill_allowance) / settings.POSTBACK_BACKFILL_PER_SECOND
            self._backfill_timer = self._loop.call_later(wait + 0.001, self._backfill_allowed)

    def _backfill_allowed(self):
        self._backfill_timer = None
        self._wake.set()

    def _look_again_while_sending(self):
        """While backfill requests are in flight, neither the rate nor their results may wake the
        sender for a while (a slow host holds them): it claims again after
        BACKFILL_LOOK_EVERY_SECONDS, for the backfill deliveries live ones wait for."""
        if self._look_timer is None and self._backfill_running:
            self._look_timer = self._loop.call_later(BACKFILL_LOOK_EVERY_SECONDS, self._look_again)

    def _look_again(self):
        self._look_timer = None
        self._wake.set()

    async def _send(self, row):
        host, began = row["host"], time.monotonic()
        self._running[row["pk"]] = (host, began)
        in_flight = POSTBACK_IN_FLIGHT.labels(host)
        in_flight.inc()
        started = time.time()
        try:
            outcome = await outbound.send(self._session, request_for(row))
        finally:
            del self._running[row["pk"]]
            self._backfill_running -= _in_backfill_bound(row)
            in_flight.dec()
        kind = "backfill" if row["is_backfill"] else "live"
        postback_attempts_counted(attempt_result(outcome.http_code), kind).inc()
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
            # Let a batch gather.
            await asyncio.sleep(BACKFILL_RECORD_EVERY_SECONDS if self.backfill else RECORD_EVERY_SECONDS)
            self._results_ready.clear()
            results, self._results = self._results, []
            unrecorded = await self._db(self._records, queue.record_or_keep, results)
            if unrecorded is False:
                unrecorded = results
            if unrecorded:
                # The database takes no writes: keep the results and try again. Were the
                # process to die meanwhile, the leases would bring the deliveries back.
                self._results = unrecorded + self._results
                self._results_ready.set()
                await asyncio.sleep(1.0)
            else:
                if self.backfill:
                    await self._db(self._records, self._wake_live_if_waiting, [row for row, _, _ in results])
                if self._room_made_for_claims(results):
                    self._wake.set()

    def _wake_live_if_waiting(self, rows: list[dict]) -> None:
        """Wake the live senders when live deliveries waited for these backfill ones (event
        order): they are due now. On a database thread: a broker's slow answer holds no request."""
        if queue.live_waiting_for(rows):
            self._wake_live()

    def _room_made_for_claims(self, results) -> bool:
        """Whether recording `results` may let a claim take more: deliveries waiting for these
        may be due (event order), or room was made. A backfill delivery no other waited for when
        it was taken makes room only for more of the backfill, which is claimed BACKFILL_CLAIM_AT
        at a time."""
        if not self.backfill or not all(_in_backfill_bound(row) for row, _, _ in results):
            return True
        if len(self._tasks) + len(results) >= MAX_IN_FLIGHT - CLAIM_AT_ROOM:
            return True
        return self._backfill_may_be_due and BACKFILL_IN_FLIGHT - self._backfill_running >= BACKFILL_CLAIM_AT

    async def _drain(self):
        self._stopping = True
        while self._tasks or self._claiming:  # a claim under way: what it takes is sent too
            if self._tasks:
                await asyncio.wait(list(self._tasks))
            else:
                await asyncio.sleep(0.01)
        if self._results:
            results, self._results = self._results, []
            await self._db(self._records, queue.record_or_keep, results)

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


_senders: dict[bool, Sender] = {}
_senders_lock = threading.Lock()


def process_sender(*, backfill: bool = False, wake_live=lambda: None) -> Sender:
    """This process's live sender, or its backfill one, started on first use (after the worker
    has forked); `wake_live` is for the backfill one (see `Sender`)."""
    with _senders_lock:
        if backfill not in _senders:
            _senders[backfill] = Sender(backfill=backfill, wake_live=wake_live)
        return _senders[backfill]


def stop_process_senders() -> None:
    for running in list(_senders.values()):
        running.stop()
