"""Writing clicks and finding them again, wherever they are on their way to the database.

Visits refused by the offer's targeting take the same way, so that they are counted exactly once
too: a row with a `refused` key (its offers.targeting.TargetingRefusal value) is a refused click,
written to tracking.models.RefusedClick and never found as a click."""

from collections.abc import Callable
from datetime import UTC, datetime

from django.db import transaction

from config.db import insert_many, select_models
from config.ids import PUBLIC_ID
from tracking import buffer
from tracking.models import Click, RefusedClick, click_times

_listeners: list[Callable[[list[dict]], None]] = []


def click_listen(listener: Callable[[list[dict]], None]) -> None:
    """Call `listener(rows)` with the rows each write inserts (not those already stored), inside
    the transaction that inserts them: the Click columns, `created_at` a datetime. Refused clicks
    come in the same list, told apart by their `refused` key: `refused`, `click_id`, `offer_id`,
    `affiliate_id`, `ip`, `user_agent`, `country`, `os_family`, `device_type`, `created_at`."""
    _listeners.append(listener)


def click_write_rows(rows: list[dict]) -> None:
    """Insert click rows; rows already written (a retried batch) are skipped.

    The rows go to the database without model instances, which would cost more than the
    statement, as one INSERT on PostgreSQL (config.db.insert_many). Against a COPY into a
    temporary table and an INSERT ... SELECT from it, a batch of 1,000 with its statistics took
    39 ms against 45 ms (12 ms against 19 ms of it in this process); a batch of 10, 1.6 ms
    against 2.6 ms for a VALUES list (medians of alternating batches, development machine).
    A column missing from a row (written by an older release, before the column existed) gets
    its default. Refused clicks (rows with `refused`) go to RefusedClick, skipped by click id
    like clicks. Listeners (the statistics) see the rows this call inserted, clicks then refused
    clicks, in the same transaction.
    """
    clicks, refused = [], []
    for row in rows:
        stored = {**row, "created_at": datetime.fromtimestamp(row["created_at"], tz=UTC)}
        (refused if "refused" in row else clicks).append(stored)
    with transaction.atomic():
        inserted = insert_many(clicks, into=Click, skip_conflicts_by="click_id")
        inserted_refused = insert_many(
            [{**row, "reason": row["refused"]} for row in refused],
            into=RefusedClick,
            skip_conflicts_by="click_id",
        )
        # Listeners get refused rows in the format above, without the column's own name.
        inserted += [{name: row[name] for name in row if name != "reason"} for row in inserted_refused]
        if inserted:
            for listener in _listeners:
                listener(inserted)


def click_record(row: dict) -> None:
    """Store a click, through the write buffer when it is on, else directly; the click is in
    Redis or committed when this returns, and when neither took it this raises (an
    OperationalError: the traffic endpoints answer 503) rather than let it be answered.

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
    tracking.buffer): None for an id no click has, a refused click's included. An id is left out
    when the click is not in the database and the buffer cannot be asked.

    The database is asked first, which is one query when the clicks are older than a second or
    so, as nearly all are by the time their conversions come. The ids it lacks are then looked
    up in the buffer and, those the buffer lacks too, in the database again: a buffer entry is
    removed only after its row is committed, so a click that left the buffer between the first
    two looks is found by the third. A click is in the buffer or the database before its id is
    answered to anyone, so no lookup needs to wait for one on its way. Clicks found only in the
    buffer are written now.
    """
    # Only ids of a click id's shape can be one, and only they name a time to look in.
    unknown = {click_id: None for click_id in click_ids if not PUBLIC_ID.match(click_id)}
    click_ids = [click_id for click_id in dict.fromkeys(click_ids) if click_id not in unknown]
    if not click_ids:
        return unknown
    found: dict[str, Click | None] = unknown | _stored(click_ids)
    missing = [click_id for click_id in click_ids if click_id not in found]
    if missing:
        found |= _buffered_or_stored(missing)
    return found


def _stored(click_ids: list[str]) -> dict[str, Click]:
    # Not through the ORM: this runs for every batch of postbacks, and compiling the ORM's query
    # cost more than running it (config.db.select_models). Without ORDER BY, too: ordering by the
    # default, -created_at, can lead the planner to walk another index instead of the click id's.
    # Planned for its ids and times each time: a plan made once for any values, which PostgreSQL
    # adopts after five runs of a prepared statement, walked the time index past every click of
    # the period instead of the click id's index (bench.ingest 0.13 to 0.16 against 0.44).
    stored = select_models(
        Click,
        where={"click_id": click_ids, "created_at": click_times(click_ids)},
        planned_each_time=True,
    )
    return {click.click_id: click for click in stored}


def _buffered_or_stored(click_ids: list[str]) -> dict[str, Click | None]:
    try:
        rows, unreachable = buffer.pending_rows(click_ids), False
    except buffer.Unreachable:
        rows, unreachable = {}, True
    if rows:
        click_write_rows(list(rows.values()))
    stored = _stored(click_ids)
    return {click_id: stored.get(click_id) for click_id in click_ids if click_id in stored or not unreachable}
