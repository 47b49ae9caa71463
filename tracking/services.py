"""Recording clicks and finding them again."""

from collections.abc import Callable
from datetime import UTC, datetime

from django.db import connection, transaction

from config.db import placeholders, select_models
from tracking import buffer
from tracking.models import Click

# Every column a click row carries (all but the primary key), in one fixed order, with the value a
# row written by an older release (before a column existed) gets.
FIELDS = [field for field in Click._meta.concrete_fields if not field.primary_key]
COLUMNS = [field.column for field in FIELDS]
DEFAULTS = {field.column: field.get_default() for field in FIELDS}
CREATED_AT = COLUMNS.index("created_at")
# Below this many rows a plain INSERT is cheaper than setting up a COPY.
COPY_MIN_ROWS = 20


_listeners: list[Callable[[list[dict]], None]] = []


def click_listen(listener: Callable[[list[dict]], None]) -> Callable[[], None]:
    """Call `listener(rows)` with the rows each write inserts (not those already stored), inside
    the transaction that inserts them. Returns the function that stops it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def _values(row: dict) -> list:
    values = [row.get(column, DEFAULTS[column]) for column in COLUMNS]
    values[CREATED_AT] = datetime.fromtimestamp(row["created_at"], tz=UTC)
    return values


def click_write_rows(rows: list[dict]) -> None:
    """Insert click rows; rows already written (a retried batch) are skipped.

    On PostgreSQL the batch is streamed with COPY into a temporary table and moved over with
    ON CONFLICT DO NOTHING: several times cheaper than building model instances and an INSERT.
    Listeners (the statistics) see the rows this call inserted, in the same transaction.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql" and len(rows) >= COPY_MIN_ROWS:
            inserted = _copy_rows(rows)
        else:
            inserted = _insert_rows(rows)
        if inserted and _listeners:
            written = list({row["click_id"]: row for row in rows if row["click_id"] in inserted}.values())
            for listener in _listeners:
                listener(written)


def _copy_rows(rows: list[dict]) -> set[str]:
    columns = ", ".join(COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS click_batch ON COMMIT DELETE ROWS "
            f"AS SELECT {columns} FROM {Click._meta.db_table} WITH NO DATA"
        )
        with cursor.copy(f"COPY click_batch ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(_values(row))
        cursor.execute(
            f"INSERT INTO {Click._meta.db_table} ({columns}) SELECT {columns} FROM click_batch "
            "ON CONFLICT (click_id) DO NOTHING RETURNING click_id"
        )
        return {click_id for (click_id,) in cursor.fetchall()}


def _insert_rows(rows: list[dict]) -> set[str]:
    """A multi-row INSERT that answers which click ids it inserted (PostgreSQL and SQLite)."""
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(Click._meta.db_table)} ({', '.join(map(quote, COLUMNS))}) VALUES "
    one_row = f"({placeholders(len(COLUMNS))})"
    size = max(1, connection.ops.bulk_batch_size(FIELDS, rows))
    inserted = set()
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            params = [
                field.get_db_prep_save(value, connection)
                for row in chunk
                for field, value in zip(FIELDS, _values(row), strict=True)
            ]
            values = ", ".join([one_row] * len(chunk))
            cursor.execute(f"{head}{values} ON CONFLICT (click_id) DO NOTHING RETURNING click_id", params)
            inserted.update(click_id for (click_id,) in cursor.fetchall())
    return inserted


def click_record(row: dict) -> None:
    """Store a click: through the write buffer when it is on, else directly.

    `row` holds the Click columns (`offer_id` and `affiliate_id` as primary keys) with
    `created_at` as a Unix timestamp.
    """
    if buffer.is_enabled():
        buffer.push(row, click_write_rows)
    else:
        click_write_rows([row])


def click_flush_buffer(*, max_seconds: float = 5.0) -> int:
    return buffer.flush(click_write_rows, max_seconds=max_seconds)


def clicks_get(click_ids: list[str]) -> dict[str, Click | None]:
    """The clicks with these ids, wherever they are on their way to the database (see
    tracking.buffer): None for an id no click has. An id is left out when the click is not in the
    database and the buffer cannot be asked.

    The database is asked first, which is one query when the clicks are older than a second or
    so, as nearly all are by the time their conversions come. The ids it lacks are then looked
    up in the buffer and, those the buffer lacks too, in the database again: a buffer entry is
    removed only after its row is committed, so a click that left the buffer between the first
    two looks is found by the third. Clicks found only in the buffer are written now.
    """
    if not click_ids:
        return {}
    click_ids = list(dict.fromkeys(click_ids))
    found: dict[str, Click | None] = _stored(click_ids)
    missing = [click_id for click_id in click_ids if click_id not in found]
    if missing:
        found |= _buffered_or_stored(missing)
        missing = [click_id for click_id in missing if click_id in found and found[click_id] is None]
    if missing and buffer.wait_for_recent(missing):
        found |= _buffered_or_stored(missing)
    return found


def _stored(click_ids: list[str]) -> dict[str, Click]:
    # Raw SQL: this runs for every batch of postbacks, and compiling the ORM's query cost more
    # than running it. (Without ORDER BY, too: ordering by the default, -created_at, can lead
    # the planner to walk another index instead of the click id's unique index.)
    where = f"click_id IN ({placeholders(len(click_ids))})"
    return {click.click_id: click for click in select_models(Click, where, click_ids)}


def _buffered_or_stored(click_ids: list[str]) -> dict[str, Click | None]:
    try:
        rows, unreachable = buffer.pending_rows(click_ids), False
    except buffer.Unreachable:
        rows, unreachable = {}, True
    if rows:
        click_write_rows(list(rows.values()))
    stored = _stored(click_ids)
    return {click_id: stored.get(click_id) for click_id in click_ids if click_id in stored or not unreachable}
