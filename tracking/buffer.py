"""The click write buffer: clicks are answered after one Redis round trip and written to the
database in batches.

How it stays safe:
- A click is acknowledged (302) only after Redis has it, in one MULTI: its row as a key
  (`clicks:pending:<click id>`) and a stream entry (`clicks:stream`).
- Writers (the Celery task `flush_click_buffer`, run every second by beat) read the stream through
  a consumer group, insert a batch with ON CONFLICT DO NOTHING, and only then acknowledge the
  entries and delete the keys. A writer killed mid-batch leaves its entries pending; another
  writer claims them after CLAIM_IDLE_MS and inserts them again, harmlessly.
- A conversion looks for its click in the pending key first, then in the database: the key is
  deleted only after the row is committed, so a click is always in one of the two places.
- If Redis is unreachable the click is written to the database directly (slower, nothing lost).

What can be lost: clicks acknowledged by Redis but not yet written when Redis itself loses its
memory (a Redis crash without persistence). Run Redis with AOF persistence (`appendonly yes`,
`appendfsync everysec`) to bound that to about one second of clicks.
"""

import json
import logging
import os
import socket
import time
from functools import cache

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

STREAM = "clicks:stream"
GROUP = "click-writers"
PENDING_KEY = "clicks:pending:"
BATCH_SIZE = 1000
# A writer that has not acknowledged an entry for this long is presumed dead.
CLAIM_IDLE_MS = 30_000


@cache
def _client_for(url: str) -> redis.Redis:
    # Short timeouts: when Redis is down, a click falls back to the database instead of waiting.
    return redis.Redis.from_url(url, socket_connect_timeout=0.25, socket_timeout=1, health_check_interval=30)


def _client() -> redis.Redis | None:
    url = settings.CLICK_BUFFER_REDIS_URL
    return _client_for(url) if url else None


def is_enabled() -> bool:
    return _client() is not None


def push(row: dict) -> bool:
    """Buffer one click row. False when the buffer is off or unreachable: write it yourself."""
    client = _client()
    if client is None:
        return False
    data = json.dumps(row, separators=(",", ":"))
    try:
        pipe = client.pipeline(transaction=True)
        pipe.set(PENDING_KEY + row["click_id"], data)
        pipe.xadd(STREAM, {"c": data})
        pipe.execute()
    except redis.RedisError:
        logger.warning("Click buffer unreachable; writing click %s directly", row["click_id"], exc_info=True)
        return False
    return True


def pending_row(click_id: str) -> dict | None:
    """The buffered row of a click not yet written to the database, if any."""
    client = _client()
    if client is None:
        return None
    try:
        data = client.get(PENDING_KEY + click_id)
    except redis.RedisError:
        logger.warning("Click buffer unreachable while looking up %s", click_id, exc_info=True)
        return None
    return json.loads(data) if data else None


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
        if not entries:
            break
        written += _write_entries(client, entries, write_rows)
    return written


def backlog() -> int:
    """Clicks acknowledged but not yet written (buffered in Redis)."""
    client = _client()
    return client.xlen(STREAM) if client is not None else 0


def _ensure_group(client):
    try:
        client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _write_entries(client, entries, write_rows) -> int:
    # A deleted entry (already written and removed by another writer) comes back without fields.
    entries = [(entry_id, fields) for entry_id, fields in entries if fields]
    rows = [json.loads(fields[b"c"]) for _, fields in entries]
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
