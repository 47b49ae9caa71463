"""Time partitions of the tables that grow with the traffic, and the retention of their rows.

On PostgreSQL each registered table (`register`, next to its model) is range-partitioned by its
time column (or day column, a `date`: the same weeks, from Monday to Monday, and its rows leave by
whole days): one partition a week, Monday 00:00 UTC to the next, named `<table>_p<YYYYMMDD>`, and
`<table>_before` for everything before the first week (on an installation that predates the
partitions, the old table itself, attached as it is: no row is copied; empty on a new one).
`maintain`, run by beat every hour, makes the weeks ahead and removes a week once all of it is
older than the table's retention: detached concurrently, then dropped, so neither step blocks a
writer; the detach takes milliseconds whatever the week holds, the drop the time to free its files
(bench/retention.py: 0.19 to 0.25 s for a month of 1 million clicks, 1.1 to 1.7 s for 10 million,
against 1.2 to 1.6 s to DELETE 1 million rows). Rows of `_before` older than
the retention leave in batches until the whole partition is past it and is dropped too.

There is no default partition: PostgreSQL cannot detach concurrently while one exists. A row
whose time no partition covers is refused, which is why weeks are made AHEAD_WEEKS ahead, at
migration time and each hour. The time columns are set by the product itself (the time of the
click, the hit, the delivery), never by a caller.

A partitioned table's unique constraints must include its partition column: each unique rule of
these tables therefore holds the time too ((click_id, created_at) for clicks). It is the same rule,
as each of their ids is made once with its time. No foreign key points at them, and theirs carry
no database constraint either: attaching or dropping a partition would otherwise lock the tables
they refer to (conversions, written all the time). Their rows are written only through the
product's services, and deletions cascade in Django.

SQLite (the embedded default) has no partitions: old rows leave in batches.
"""

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, OperationalError, connection, transaction
from django.db.migrations.operations.base import Operation

logger = logging.getLogger(__name__)

WEEK = timedelta(days=7)
# Weeks made ahead of the current one: beat may stop for this long before a write is refused.
AHEAD_WEEKS = 8
# Rows deleted by one statement, and statements by one run, where rows leave in batches: a batch
# holds its locks for a fraction of a second, and a run ends in bounded time.
DELETE_BATCH = 5_000
DELETE_BATCHES_PER_RUN = 200
# How long maintenance waits for a lock before it gives up until its next run, so that it never
# queues the product's writers behind it.
LOCK_TIMEOUT = "2s"
LOCK_NOT_AVAILABLE = "55P03"
# How often partitioning a table tries its short locks before it gives up (it can run again).
LOCK_ATTEMPTS = 8


@dataclass(frozen=True)
class Partitioned:
    table: str
    column: str
    # How many days rows are kept: the setting holding it, or, for a retention the product sets
    # rather than the operator, the number itself.
    retention_setting: str | None
    retention_days: int | None = None
    # The column holds a day (a date) rather than a time: rows leave by whole days.
    by_day: bool = False

    @property
    def retention(self) -> timedelta:
        if self.retention_setting is None:
            return timedelta(days=self.retention_days)
        return timedelta(days=getattr(settings, self.retention_setting))

    @property
    def held_by(self) -> str:
        """What names the table in `maintain`'s `hold`: its retention setting, else the table."""
        return self.retention_setting or self.table

    def first_kept_day(self, now: datetime | None = None) -> date:
        """The first UTC day none of whose rows has left by `now`: maintenance removes the rows
        older than its run's time minus the retention, by whole days for a day column, by time
        otherwise (the day of that moment then loses its first hours)."""
        cutoff = (now or datetime.now(UTC)).astimezone(UTC) - self.retention
        day = cutoff.date()
        whole = self.by_day or cutoff == datetime(day.year, day.month, day.day, tzinfo=UTC)
        return day if whole else day + timedelta(days=1)

    @property
    def before(self) -> str:
        return f"{self.table}_before"

    def week_name(self, start: datetime) -> str:
        return f"{self.table}_p{start:%Y%m%d}"


_registry: dict[str, Partitioned] = {}


def register(
    model, column: str, *, retention_setting: str | None = None, retention_days: int | None = None
) -> None:
    """Keep `model`'s rows in weekly partitions by `column` (a time, or a day), each for the days
    of the setting named `retention_setting`, or for `retention_days`."""
    if (retention_setting is None) == (retention_days is None):
        raise ValueError("give either retention_setting or retention_days")
    table = model._meta.db_table
    by_day = model._meta.get_field(column).get_internal_type() == "DateField"
    _registry[table] = Partitioned(table, column, retention_setting, retention_days, by_day)


def first_kept_day(model, *, now: datetime | None = None) -> date:
    """The first UTC day all of whose rows of `model` (a registered one) are still kept."""
    return _registry[model._meta.db_table].first_kept_day(now)


def registered() -> list[Partitioned]:
    return list(_registry.values())


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the week `moment` falls in."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


# --- Maintenance ---------------------------------------------------------------------------


@dataclass
class Report:
    made: list[str]
    dropped: list[str]
    deleted: dict[str, int]
    # Tables left alone, and why (a lock not granted in time, a retention refused).
    skipped: dict[str, str]


def maintain(*, now: datetime | None = None, hold: dict[str, str] | None = None) -> Report:
    """Make the weeks ahead of every registered table and remove its rows past their retention.

    `hold` maps a retention setting (or the table of a retention of its own, `held_by`) to the
    reason its tables keep their rows this time (a retention shorter than what the product still
    needs, see ops.retention). Runs outside a transaction: each step commits on its own, so that
    a step's locks are short.
    """
    now = now or datetime.now(UTC)
    hold = hold or {}
    report = Report([], [], {}, {})
    for spec in registered():
        try:
            if connection.vendor == "postgresql":
                report.made += _make_weeks(spec, now)
            if spec.held_by in hold:
                report.skipped[spec.table] = hold[spec.held_by]
                continue
            cutoff = now - spec.retention
            if connection.vendor == "postgresql":
                report.dropped += _drop_weeks(spec, cutoff)
                table = spec.before if _exists(spec.before) else None
            else:
                table = spec.table
            # A day leaves once all of it is older, as a week does.
            older = cutoff.date() if spec.by_day else cutoff
            if table:
                report.deleted[table] = _delete_older(table, spec.column, older)
        except _LockNotGranted as exc:
            report.skipped[spec.table] = str(exc)
            logger.warning("Partition maintenance of %s waits for its next run: %s", spec.table, exc)
        except Exception as exc:
            # One table's failure leaves the others' weeks made and their old rows removed; the
            # metrics (`coverage`) and their alerts say when a table falls behind.
            report.skipped[spec.table] = f"failed: {exc}"
            logger.exception("Partition maintenance of %s failed", spec.table)
    return report


@dataclass(frozen=True)
class Coverage:
    table: str
    # How far ahead of now the table's partitions reach: AHEAD_WEEKS to one more while beat runs
    # maintenance; a row past it is refused.
    weeks_ahead: float
    # Partitions whose every row is past the retention and that are still there: maintenance
    # removes them within the hour, unless it is failing or the retention is held.
    past_retention: int


def coverage(*, now: datetime | None = None) -> list[Coverage]:
    """What maintenance has left of each registered table, for operators' metrics: a table that
    cannot be read (not partitioned yet while a deploy migrates) is left out, not the others.
    PostgreSQL only."""
    now = now or datetime.now(UTC)
    found = []
    for spec in registered():
        try:
            with transaction.atomic():  # a savepoint, should the scrape run in a transaction
                partitions = _partitions(spec)
        except DatabaseError:
            logger.exception("Partitions of %s could not be read", spec.table)
            continue
        ends = [upper for _, upper in partitions if upper is not None]
        cutoff = now - spec.retention
        found.append(
            Coverage(
                spec.table,
                weeks_ahead=(max(ends) - now) / WEEK if ends else 0.0,
                past_retention=sum(1 for _, upper in partitions if _all_past(upper, cutoff)),
            )
        )
    return found


class _LockNotGranted(Exception):
    pass


def _make_weeks(spec: Partitioned, now: datetime) -> list[str]:
    """Weeks from the end of the last partition to AHEAD_WEEKS after the current one. Each is
    made apart and then attached, which takes a lock that lets reads and writes go on (CREATE
    TABLE ... PARTITION OF would lock out the table's every query while it waits)."""
    made = []
    end = _partition_end(spec)
    horizon = week_start(now) + (AHEAD_WEEKS + 1) * WEEK
    while end < horizon:
        name = spec.week_name(end)
        with _short_locks():
            _execute(
                f'CREATE TABLE IF NOT EXISTS "{name}" '
                f'(LIKE "{spec.table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
            )
            _execute(f'ALTER TABLE "{spec.table}" ATTACH PARTITION "{name}" FOR VALUES {_week_bounds(end)}')
        made.append(name)
        end += WEEK
    return made


def _drop_weeks(spec: Partitioned, cutoff: datetime) -> list[str]:
    """Weekly partitions, and `_before`, whose every row is older than `cutoff`: each detached
    concurrently (writers and readers go on; the partition leaves once the queries that see it
    are done) and then dropped, which touches the table no more."""
    dropped = []
    for name in _left_detached(spec):
        _execute(f'DROP TABLE IF EXISTS "{name}"')
        dropped.append(name)
    for name, upper in _partitions(spec):
        if not _all_past(upper, cutoff):
            continue
        _finish_detaching(spec)
        if _is_attached(spec.table, name):
            with _short_locks(transactional=False):
                _execute(f'ALTER TABLE "{spec.table}" DETACH PARTITION "{name}" CONCURRENTLY')
        _execute(f'DROP TABLE IF EXISTS "{name}"')
        dropped.append(name)
    return dropped


def _all_past(upper: datetime | None, cutoff: datetime) -> bool:
    """Whether every row of a partition ending at `upper` is older than `cutoff`."""
    return upper is not None and upper <= cutoff


def _finish_detaching(spec: Partitioned) -> None:
    """A detach interrupted midway (a killed run) leaves its partition half detached, and the
    table accepts no other detach until it is finished."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = inhrelid "
            "WHERE inhparent = %s::regclass AND inhdetachpending",
            [spec.table],
        )
        pending = [name for (name,) in cursor.fetchall()]
    for name in pending:
        # It waits for the queries that still see the partition: not longer than any lock here.
        with _short_locks(transactional=False):
            _execute(f'ALTER TABLE "{spec.table}" DETACH PARTITION "{name}" FINALIZE')


def _left_detached(spec: Partitioned) -> list[str]:
    """Partitions a run detached and was stopped before it dropped them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition AND relname ~ %s",
            [f"^{spec.table}_(p[0-9]{{8}}|before)$"],
        )
        return [name for (name,) in cursor.fetchall()]


def _delete_older(table: str, column: str, cutoff: datetime | date) -> int:
    """Delete `table`'s rows older than `cutoff`, DELETE_BATCH at a time, each batch its own
    transaction, for at most DELETE_BATCHES_PER_RUN batches: the next run goes on."""
    # Rows by their physical address, which every table has, whatever its primary key. On
    # PostgreSQL as an array, which it reads by address (IN (SELECT ...) would be a semi-join
    # that reads the whole table once a batch: 27 s against 4 s for 690,000 of 1,000,000 rows).
    if connection.vendor == "postgresql":
        rows = f'ctid = ANY(ARRAY(SELECT ctid FROM "{table}" WHERE "{column}" < %s LIMIT {DELETE_BATCH}))'
    else:
        rows = f'rowid IN (SELECT rowid FROM "{table}" WHERE "{column}" < %s LIMIT {DELETE_BATCH})'
    deleted = 0
    for _ in range(DELETE_BATCHES_PER_RUN):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f'DELETE FROM "{table}" WHERE {rows}', [cutoff])
            count = cursor.rowcount
        deleted += count
        if count < DELETE_BATCH:
            break
    return deleted


def _partitions(spec: Partitioned) -> list[tuple[str, datetime | None]]:
    """The table's partitions with the end of the time each covers, oldest first (`_before`
    first); None for an end PostgreSQL gives no time for."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname, pg_get_expr(child.relpartbound, child.oid) "
            "FROM pg_inherits JOIN pg_class child ON child.oid = inhrelid "
            "WHERE inhparent = %s::regclass",
            [spec.table],
        )
        bounds = cursor.fetchall()
    found = []
    for name, bound in bounds:
        # FOR VALUES FROM (...) TO ('2026-12-07 00:00:00+00')
        upper = bound.rsplit("TO (", 1)[-1].rstrip(")").strip("'")
        # A date column's bound is a day: its midnight, UTC.
        end = None if upper == "MAXVALUE" else datetime.fromisoformat(upper)
        found.append((name, end if end is None or end.tzinfo else end.replace(tzinfo=UTC)))
    return sorted(found, key=lambda item: (item[1] is None, item[1] or datetime.max.replace(tzinfo=UTC)))


def _partition_end(spec: Partitioned) -> datetime:
    ends = [upper for _, upper in _partitions(spec) if upper is not None]
    if not ends:
        raise RuntimeError(f"{spec.table} is not partitioned: its migration has not run.")
    return max(ends)


def _exists(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f'"{table}"'])
        return cursor.fetchone()[0]


def _is_attached(parent: str, child: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_inherits WHERE inhparent = %s::regclass AND inhrelid = %s::regclass",
            [f'"{parent}"', f'"{child}"'],
        )
        return cursor.fetchone() is not None


@contextmanager
def _short_locks(*, transactional: bool = True):
    """Statements in it wait at most LOCK_TIMEOUT for a lock, then give up with _LockNotGranted.
    In one transaction unless `transactional` is off (DETACH ... CONCURRENTLY wants none)."""
    try:
        if transactional:
            with transaction.atomic():
                _execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                yield
        else:
            _execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            try:
                yield
            finally:
                _execute("RESET lock_timeout")
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise _LockNotGranted(str(exc).strip()) from exc
        raise


def _retrying_short_locks(step) -> None:
    """Run `step` in a transaction whose locks wait at most LOCK_TIMEOUT, again a few times,
    further apart each time, while a lock is not granted: a long query on the table (a report)
    must not keep its readers and writers queued behind the lock meanwhile."""
    for attempt in range(LOCK_ATTEMPTS):
        try:
            with _short_locks():
                step()
            return
        except _LockNotGranted:
            if attempt == LOCK_ATTEMPTS - 1:
                raise
            time.sleep(min(2**attempt, 30))


def _execute(sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# --- Partitioning a table -------------------------------------------------------------------


class PartitionByTime(Operation):
    """A migration operation: partition `model_name`'s table by `column` (see the module's
    docstring), on PostgreSQL. `state_operations` say what changes in the model for it (unique
    rules that take the column in); elsewhere they are applied to the database as they are.

    The migration holding it must be `atomic = False`: indexes are built concurrently.
    """

    reversible = False

    def __init__(self, model_name: str, column: str, state_operations=(), renamed=None):
        self.model_name = model_name
        self.column = column
        self.state_operations = list(state_operations)
        # Unique constraints whose names the model changes with them: old name -> new name.
        self.renamed = dict(renamed or {})

    def deconstruct(self):
        return (
            self.__class__.__qualname__,
            [self.model_name, self.column],
            {"state_operations": self.state_operations, "renamed": self.renamed},
        )

    def state_forwards(self, app_label, state):
        for operation in self.state_operations:
            operation.state_forwards(app_label, state)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            state = from_state
            for operation in self.state_operations:
                following = state.clone()
                operation.state_forwards(app_label, following)
                operation.database_forwards(app_label, schema_editor, state, following)
                state = following
            return
        table = to_state.apps.get_model(app_label, self.model_name)._meta.db_table
        partition_existing(table, self.column, renamed=self.renamed)

    def describe(self):
        return f"Partition {self.model_name} by week of {self.column}"


def partition_existing(
    table: str, column: str, *, renamed: dict[str, str] | None = None, now: datetime | None = None
) -> None:
    """Turn `table`, with its rows, into a table partitioned by week of `column`, while the
    product reads and writes it. Can run again after an interruption; does nothing to a table
    already partitioned.

    The table itself becomes the partition `<table>_before`, for every time before the Monday after
    next: no row is copied, so none can be lost or doubled. What takes time happens first, without
    blocking anyone: the unique indexes that take `column` in are built concurrently, and the
    partition's bound is checked by a constraint validated under a lock writers pass. Then one
    short transaction renames the table, puts a partitioned table with its name, indexes and
    constraints in its place, attaches it, and makes the weeks ahead; under an exclusive lock,
    but with nothing left to build or scan. `renamed` gives unique constraints new names.
    """
    if _is_partitioned(table):
        return
    _refuse_references(table)
    indexes = _indexes(table)
    for index in indexes:
        if index.unique and column not in index.columns:
            _drop_if_invalid(index.widened_name)
            _execute(
                f'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "{index.widened_name}" '
                f'ON "{table}" ({_column_list([*index.columns, column])}){index.where}'
            )
    # The bound is set once the indexes are built, and a week away at least, so that no row
    # written while it is validated, or while the lock below is waited for, is past it. A bound
    # left by an interrupted run is set again.
    cutover = week_start(now or datetime.now(UTC)) + 2 * WEEK
    bound = f"{table}_before_bound"

    def set_bound():
        if _has_constraint(table, bound):
            _execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{bound}"')
        _execute(
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{bound}" '
            f'CHECK ("{column}" < {_moment(cutover)}) NOT VALID'
        )

    _retrying_short_locks(set_bound)
    _execute(f'ALTER TABLE "{table}" VALIDATE CONSTRAINT "{bound}"')
    _retrying_short_locks(lambda: _cut_over(table, column, indexes, cutover, renamed or {}))


def _cut_over(table: str, column: str, indexes: list, cutover: datetime, renamed: dict[str, str]):
    before, bound = f"{table}_before", f"{table}_before_bound"
    _execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
    _execute(f'ALTER TABLE "{table}" RENAME TO "{before}"')
    for number, index in enumerate(indexes):
        if index.unique and column not in index.columns:
            if index.constraint:
                _execute(f'ALTER TABLE "{before}" DROP CONSTRAINT "{index.constraint}"')
                kind = "PRIMARY KEY" if index.primary else "UNIQUE"
                _execute(
                    f'ALTER TABLE "{before}" ADD CONSTRAINT "{index.widened_name}" '
                    f'{kind} USING INDEX "{index.widened_name}"'
                )
            else:
                _execute(f'DROP INDEX "{index.name}"')
        else:
            _execute(f'ALTER INDEX "{index.name}" RENAME TO "{before[:50]}_{number}"')
    sequence = _own_sequence(table, before)
    _execute(
        f'CREATE TABLE "{table}" (LIKE "{before}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS) '
        f'PARTITION BY RANGE ("{column}")'
    )
    _execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{bound}"')
    if sequence:
        _execute(f'ALTER TABLE "{table}" ALTER COLUMN id SET DEFAULT nextval(\'"{sequence}"\')')
        _execute(f'ALTER SEQUENCE "{sequence}" OWNED BY "{table}".id')
    _execute(
        f'ALTER TABLE "{table}" ATTACH PARTITION "{before}" '
        f"FOR VALUES FROM (MINVALUE) TO ({_moment(cutover)})"
    )
    # The partition's bound holds it now: its check would outlive a bound moved by a re-run.
    _execute(f'ALTER TABLE "{before}" DROP CONSTRAINT "{bound}"')
    for index in indexes:
        _execute(index.parent_sql(table, column, renamed))
    for start in (cutover + n * WEEK for n in range(AHEAD_WEEKS + 1)):
        _execute(
            f'CREATE TABLE "{table}_p{start:%Y%m%d}" PARTITION OF "{table}" FOR VALUES {_week_bounds(start)}'
        )


@dataclass
class _Index:
    name: str
    unique: bool
    primary: bool
    # The constraint the index belongs to (a primary key or a unique constraint), if any.
    constraint: str | None
    columns: list[str]
    where: str
    definition: str

    @property
    def widened_name(self) -> str:
        return f"{self.name[:55]}_by_time"

    def parent_sql(self, table: str, column: str, renamed: dict[str, str]) -> str:
        """The index, or constraint, on the partitioned table: PostgreSQL takes the partition's
        equivalent one in rather than building it again."""
        columns = [*self.columns, column] if self.unique and column not in self.columns else self.columns
        if self.constraint:
            kind = "PRIMARY KEY" if self.primary else "UNIQUE"
            name = renamed.get(self.constraint, self.constraint)
            return f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {kind} ({_column_list(columns)})'
        if self.unique:
            return f'CREATE UNIQUE INDEX "{self.name}" ON "{table}" ({_column_list(columns)}){self.where}'
        # CREATE INDEX name ON public.table USING btree (...): the same on the partitioned table.
        return (
            self.definition.split(" ON ", 1)[0]
            + f' ON "{table}" USING'
            + self.definition.split(" USING", 1)[1]
        )


def _indexes(table: str) -> list[_Index]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT index.relname, i.indisunique, i.indisprimary, c.conname,
                   ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
                         FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k),
                   pg_get_expr(i.indpred, i.indrelid), pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            JOIN pg_class index ON index.oid = i.indexrelid
            LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.contype IN ('p', 'u')
            WHERE i.indrelid = %s::regclass AND i.indisvalid
            ORDER BY index.relname
            """,
            [f'"{table}"'],
        )
        rows = cursor.fetchall()
    return [
        _Index(
            name, unique, primary, constraint, list(columns), f" WHERE {where}" if where else "", definition
        )
        for name, unique, primary, constraint, columns, where, definition in rows
        if not name.endswith("_by_time")
    ]


def _own_sequence(table: str, before: str) -> str | None:
    """The sequence that numbers the table's ids, made the partitioned table's: an identity
    column (what Django makes) cannot be a partition's, so its sequence is replaced by an equal
    one, at the same value, under the lock that keeps anyone from drawing from it meanwhile. None
    for a table whose key is not numbered (a composite primary key)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_serial_sequence(%s, 'id') FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attname = 'id'",
            [f'"{before}"', f'"{before}"'],
        )
        found = cursor.fetchone()
        if found is None or found[0] is None:
            return None
        (sequence,) = found
        cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
        last_value, is_called = cursor.fetchone()
        cursor.execute(
            "SELECT attidentity <> '' FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'id'",
            [f'"{before}"'],
        )
        (identity,) = cursor.fetchone()
    name = f"{table}_id_seq"
    if identity:
        _execute(f'ALTER TABLE "{before}" ALTER COLUMN id DROP IDENTITY')
        _execute(f'CREATE SEQUENCE "{name}" AS bigint')
        _execute("SELECT setval(%s, %s, %s)", [f'"{name}"', last_value, is_called])
    elif sequence.split(".")[-1].strip('"') != name:
        _execute(f'ALTER SEQUENCE {sequence} RENAME TO "{name}"')
    _execute(f'ALTER TABLE "{before}" ALTER COLUMN id DROP DEFAULT')
    return name


def _refuse_references(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, conrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND (confrelid = %s::regclass OR conrelid = %s::regclass)",
            [f'"{table}"', f'"{table}"'],
        )
        references = cursor.fetchall()
    if references:
        named = ", ".join(f"{name} on {owner}" for name, owner in references)
        raise RuntimeError(
            f"{table} cannot be partitioned while foreign keys refer to it or from it ({named}): "
            "an earlier migration removes them."
        )


def _is_partitioned(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [f'"{table}"'])
        return cursor.fetchone() is not None


def _has_constraint(table: str, name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s", [f'"{table}"', name]
        )
        return cursor.fetchone() is not None


def _drop_if_invalid(index: str) -> None:
    """An index whose concurrent build was interrupted stays behind, invalid: built again."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(%s) AND NOT indisvalid", [f'"{index}"']
        )
        invalid = cursor.fetchone() is not None
    if invalid:
        _execute(f'DROP INDEX CONCURRENTLY "{index}"')


def _column_list(columns: list[str]) -> str:
    return ", ".join(column if column.startswith('"') else f'"{column}"' for column in columns)


def _moment(moment: datetime) -> str:
    """A time as SQL spells it in a statement that takes no parameters (DDL). Compared with a
    date column, PostgreSQL reads it as a date: its day, as every moment here is a midnight UTC."""
    return f"'{moment.astimezone(UTC).isoformat()}'"


def _week_bounds(start: datetime) -> str:
    return f"FROM ({_moment(start)}) TO ({_moment(start + WEEK)})"
