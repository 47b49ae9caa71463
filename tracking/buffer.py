"""The click write buffer: a click costs the request no network round trip, and clicks reach the
database in large batches.

The path of a click, and what keeps it safe:
1. The request puts the click row on an in-process queue and answers at once. A thread of the
   web process sends what the queue holds to Redis every few milliseconds (BATCH_WINDOW), in one
   script call per batch: for each click its row as a key (`clicks:pending:<click id>`) and a
   stream entry (`clicks:stream`). On graceful shutdown the queue is sent before the process exits.
2. Writers (the Celery task `flush_click_buffer`, run every second by beat) read the stream
   through a consumer group, insert a batch with ON CONFLICT DO NOTHING, and only then
   acknowledge the entries and delete the keys. A writer killed mid-batch leaves its entries
   pending; another writer claims them after CLAIM_IDLE_MS and inserts them again, harmlessly.
3. A conversion looks for its click in the database, then in the pending key, then in the
   database again: the key is deleted only after the row is committed, so a click on its way is
   always found by one of the three (tracking.store.clicks_get).
   A click a few milliseconds old may still be on its web process's queue; see `wait_for_recent`.
   While Redis is unreachable, a click that is not in the database may be in Redis: the lookup
   says so (`Unreachable`) rather than "not found".
4. If Redis is unreachable, the thread writes the batch to the database directly; if that fails
   too, it keeps the batch and tries again for several minutes, then logs the rows as an error.

Visits refused by the offer's targeting (rows with `refused`, tracking.store) take the same way,
to be counted once, but get no pending key: no conversion looks for them, and a lookup must
never find one as a click.

What can be lost, and only when a process dies without running its shutdown: the clicks a web
process answered in its last BATCH_WINDOW (SIGKILL, out-of-memory kill, power loss), and the
clicks Redis holds if Redis itself loses its memory. Run Redis with AOF persistence
(`appendonly yes`, `appendfsync everysec`) to bound the latter to about one second of clicks.
"""

import atexit
import collections
import json
import logging
import os
import socket
import threading
import time
from functools import cache

import orjson
import redis
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

STREAM = "clicks:stream"
GROUP = "click-writers"
PENDING_KEY = "clicks:pending:"
BATCH_SIZE = 1000
# How long a web process gathers clicks before sending them to Redis.
BATCH_WINDOW = 0.02
# How often a web process tries Redis, then the database, before it logs a batch as lost.
SEND_ATTEMPTS = 30
# A writer that has not acknowledged an entry for this long is presumed dead.
CLAIM_IDLE_MS = 30_000

# For each click: ARGV holds click id, row, click id, row, ...; an empty click id (a refused
# click's) sets no pending key.
PUSH_SCRIPT = """
for i = 1, #ARGV, 2 do
    if ARGV[i] ~= '' then
        redis.call('SET', KEYS[1] .. ARGV[i], ARGV[i + 1])
    end
    redis.call('XADD', KEYS[2], '*', 'c', ARGV[i + 1])
end
"""


@cache
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5, health_check_interval=30)


def _client() -> redis.Redis | None:
    url = settings.CLICK_BUFFER_REDIS_URL
    return _client_for(url) if url else None


def is_enabled() -> bool:
    return bool(settings.CLICK_BUFFER_REDIS_URL)


class _Sender:
    """The web process's queue of clicks and the thread that sends them on.

    The request only appends to a deque. The thread wakes once per batch window, not once per
    click: waking a thread per click would cost more than sending the click.
    """

    def __init__(self, write_rows):
        self.write_rows = write_rows
        self.rows = collections.deque()
        self.wake = threading.Event()
        self.sending = threading.Lock()
        self.pid = os.getpid()
        threading.Thread(target=self._run, name="click-sender", daemon=True).start()

    def add(self, row):
        self.rows.append(row)
        if not self.wake.is_set():
            self.wake.set()

    def _run(self):
        while True:
            self.wake.wait()
            time.sleep(BATCH_WINDOW)
            self.wake.clear()
            self.send_queued()

    def send_queued(self):
        """Send everything queued so far, after any batch already on its way."""
        with self.sending:
            while self.rows:
                batch = [self.rows.popleft() for _ in range(min(len(self.rows), BATCH_SIZE))]
                self._send(batch)

    def push_queued(self):
        """Hand what is queued to Redis now, once, for a request (see `wait_for_recent`). What
        Redis does not take stays queued for the thread to write directly: the request may be
        inside a transaction, which must neither write the clicks (a rollback would lose them)
        nor wait for retries."""
        if not self.sending.acquire(blocking=False):
            return  # the thread is sending them right now
        try:
            while self.rows:
                batch = [self.rows.popleft() for _ in range(min(len(self.rows), BATCH_SIZE))]
                try:
                    _push_to_redis(batch)
                except Exception:
                    self.rows.extendleft(reversed(batch))
                    self.wake.set()
                    return
        finally:
            self.sending.release()

    def _send(self, rows):
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                _push_to_redis(rows)
                return
            except Exception:
                logger.warning(
                    "Click buffer unreachable; writing %d clicks directly", len(rows), exc_info=True
                )
            try:
                close_old_connections()
                self.write_rows(rows)
                return
            except Exception:
                logger.exception(
                    "Neither Redis nor the database took %d clicks (attempt %d)", len(rows), attempt
                )
                time.sleep(min(attempt, 10))
        # Only reached after minutes of both stores refusing: keep the clicks in the log.
        logger.error("Giving up on %d clicks: %s", len(rows), json.dumps(rows))


_sender: _Sender | None = None
_sender_lock = threading.Lock()


def _current_sender(write_rows) -> _Sender:
    global _sender
    # A forked process (gunicorn worker) inherits no thread: it needs a sender of its own.
    if _sender is None or _sender.pid != os.getpid():
        with _sender_lock:
            if _sender is None or _sender.pid != os.getpid():
                _sender = _Sender(write_rows)
    return _sender


def _push_to_redis(rows):
    args = []
    for row in rows:
        key = "" if "refused" in row else row["click_id"]
        # orjson: a click row in 0.4 microseconds, against 5.5 with the standard json (bench/click).
        args += [key, orjson.dumps(row)]
    _push_script(settings.CLICK_BUFFER_REDIS_URL)(keys=[PENDING_KEY, STREAM], args=args)


@cache
def _push_script(url: str):
    return _client_for(url).register_script(PUSH_SCRIPT)


def push(row: dict, write_rows) -> None:
    """Queue one click row for Redis; `write_rows` writes batches Redis does not take."""
    _current_sender(write_rows).add(row)


def drain() -> None:
    """Send every click this process has queued (tests, shutdown)."""
    if _sender is not None and _sender.pid == os.getpid():
        _sender.send_queued()


atexit.register(drain)


class Unreachable(Exception):
    """Redis did not answer: a click it holds cannot be found until it is back."""


def pending_rows(click_ids: list[str]) -> dict[str, dict]:
    """The buffered rows of those clicks not yet written to the database, by click id; raises
    Unreachable when Redis does not answer."""
    client = _client()
    if client is None or not click_ids:
        return {}
    try:
        found = client.mget([PENDING_KEY + click_id for click_id in click_ids])
    except redis.RedisError as exc:
        logger.warning("Click buffer unreachable while looking up %d clicks", len(click_ids), exc_info=True)
        raise Unreachable from exc
    return {click_id: orjson.loads(data) for click_id, data in zip(click_ids, found, strict=True) if data}


def wait_for_recent(click_ids: list[str]) -> bool:
    """If any of these click ids was minted in the last two seconds, wait long enough for any web
    process to have sent it to Redis. Click ids begin with their creation time, so this costs
    nothing for older clicks and at most a few batch windows for the others. True if it waited."""
    if not is_enabled() or not any(map(_minted_lately, click_ids)):
        return False
    if _sender is not None and _sender.pid == os.getpid():
        _sender.push_queued()
    time.sleep(BATCH_WINDOW * 3)
    return True


def _minted_lately(click_id: str) -> bool:
    try:
        created = int(click_id[:8], 16)
    except ValueError:
        return False
    return 0 <= time.time() - created <= 2


def flush(write_rows, *, max_seconds: float = 5.0, claim_idle_ms: int = CLAIM_IDLE_MS) -> int:
    """Write buffered clicks with `write_rows(rows)` until the stream is drained or time is up.

    Returns how many entries were written. `write_rows` must be idempotent per click id.
    """
    client = _client()
    if client is None:
        return 0
    _ensure_group(client)
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    deadline = time.monotonic() + max_seconds
    written = 0
    _, claimed, _ = client.xautoclaim(STREAM, GROUP, consumer, min_idle_time=claim_idle_ms, count=BATCH_SIZE)
    if claimed:
        written += _write_entries(client, claimed, write_rows)
    while time.monotonic() < deadline:
        response = client.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=BATCH_SIZE)
        entries = response[0][1] if response else []
        written += _write_entries(client, entries, write_rows)
        if len(entries) < BATCH_SIZE:
            # Drained for now. Leaving the trickle that arrives meanwhile to the next run keeps
            # batches large, which is what makes writing clicks cheap.
            break
    return written


def backlog() -> tuple[int, float] | None:
    """Clicks in Redis not yet written to the database, and the age in seconds of the oldest
    (0 when there are none), by Redis's clock; None when the buffer is off. A written entry is
    deleted from the stream, so the stream's length and its first entry are the backlog."""
    client = _client()
    if client is None:
        return None
    pipe = client.pipeline(transaction=False)
    pipe.xlen(STREAM)
    pipe.xrange(STREAM, count=1)
    pipe.time()
    length, first, (seconds, microseconds) = pipe.execute()
    if not first:
        return length, 0.0
    first_ms = int(first[0][0].split(b"-")[0])
    return length, max(0.0, seconds + microseconds / 1e6 - first_ms / 1000)


def _ensure_group(client):
    try:
        client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _write_entries(client, entries, write_rows) -> int:
    # A deleted entry (already written and removed by another writer) comes back without fields.
    entries = [(entry_id, fields) for entry_id, fields in entries if fields]
    rows = [orjson.loads(fields[b"c"]) for _, fields in entries]
    if rows:
        write_rows(rows)
    ids = [entry_id for entry_id, _ in entries]
    if ids:
        pipe = client.pipeline(transaction=False)
        pipe.xack(STREAM, GROUP, *ids)
        pipe.xdel(STREAM, *ids)
        pipe.delete(*[PENDING_KEY + row["click_id"] for row in rows])
        pipe.execute()
    return len(rows)
