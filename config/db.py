"""Database helpers for the hot write paths, where the ORM's per-query overhead is the cost."""

from functools import cache

from django.db import DEFAULT_DB_ALIAS, connection, connections


def insert(instance, *, ignore_conflicts: bool = False) -> bool:
    """Insert `instance` in one statement that also returns its id; what `Model.save()` does for
    a new row, at a fraction of the cost (no signals: the models written here have no receivers).

    With `ignore_conflicts`, the row is inserted with ON CONFLICT DO NOTHING and the answer is
    False when a unique constraint already held an equal row: no savepoint and no second query
    tell the two apart, so the constraint, not a check-then-insert, decides between concurrent
    twins. Works on PostgreSQL and SQLite (both support ON CONFLICT and RETURNING).
    """
    sql, _ = _insert_sql(type(instance), 1, ignore_conflicts)
    with connection.cursor() as cursor:
        cursor.execute(sql, _values(instance))
        row = cursor.fetchone()
    if row is None:
        return False
    _saved(instance, row[0])
    return True


def insert_many(instances: list, *, skip_conflicts_by: str | None = None) -> list:
    """Insert `instances` (all of one model), set their ids, and return those inserted, in the
    order given.

    With `skip_conflicts_by`, rows that a unique constraint already holds an equal of (or that an
    earlier row of the same call does) are skipped with ON CONFLICT DO NOTHING. It names a field
    whose value is unique to each new row, such as a random public id: the statement returns it
    with each inserted row's id, which is how the skipped rows are told from the others.

    On PostgreSQL the rows travel as one array per column (INSERT ... SELECT FROM unnest): one
    statement of the same short text however many rows, which the driver parses once, where a
    VALUES list of thousands of placeholders is parsed again on every call. Elsewhere (SQLite)
    a VALUES list, in as many statements as its parameter limit needs.
    """
    if not instances:
        return []
    model = type(instances[0])
    ignore_conflicts = skip_conflicts_by is not None
    if connection.vendor == "postgresql":
        chunks = [(instances, _unnest_sql(model, ignore_conflicts, skip_conflicts_by))]
    else:
        size = max(1, connection.ops.bulk_batch_size(_fields(model), instances))
        chunks = [
            (chunk, _insert_sql(model, len(chunk), ignore_conflicts, skip_conflicts_by))
            for start in range(0, len(instances), size)
            for chunk in [instances[start : start + size]]
        ]
    inserted = []
    for chunk, (sql, by_columns) in chunks:
        rows = [_values(instance) for instance in chunk]
        params = [list(column) for column in zip(*rows, strict=True)] if by_columns else sum(rows, [])
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            returned = cursor.fetchall()
        if skip_conflicts_by is None:
            # One row back per row in, in the same order (what Django's bulk_create relies on too).
            pairs = list(zip(chunk, returned, strict=True))
        else:
            by_key = {getattr(instance, skip_conflicts_by): instance for instance in chunk}
            pairs = [(by_key[key], (pk,)) for pk, key in returned]
        for instance, (pk, *_) in pairs:
            _saved(instance, pk)
        inserted_here = {id(instance) for instance, _ in pairs}
        inserted += [instance for instance in chunk if id(instance) in inserted_here]
    return inserted


def _values(instance) -> list:
    # The connection itself, not its thread-local proxy: this runs for every column of every row.
    db = connections[DEFAULT_DB_ALIAS]
    return [field.get_db_prep_save(field.pre_save(instance, True), db) for field in _fields(type(instance))]


def _saved(instance, pk) -> None:
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias


@cache
def _fields(model) -> list:
    return [field for field in model._meta.concrete_fields if not field.primary_key]


@cache
def _insert_sql(model, rows: int, ignore_conflicts: bool, returning_also: str | None = None):
    """A multi-row INSERT ... VALUES; False: its parameters are the rows' values one after another."""
    row = f"({', '.join(['%s'] * len(_fields(model)))})"
    return _insert_from(model, f"VALUES {', '.join([row] * rows)}", ignore_conflicts, returning_also), False


@cache
def _unnest_sql(model, ignore_conflicts: bool, returning_also: str | None):
    """An INSERT of any number of rows from one array per column (PostgreSQL); True: its
    parameters are the columns."""
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in _fields(model))
    return _insert_from(model, f"SELECT * FROM unnest({arrays})", ignore_conflicts, returning_also), True


def _insert_from(model, rows: str, ignore_conflicts: bool, returning_also: str | None) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in _fields(model))
    returning = [model._meta.pk.column] + (
        [model._meta.get_field(returning_also).column] if returning_also else []
    )
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) {rows} "
        f"{'ON CONFLICT DO NOTHING ' if ignore_conflicts else ''}RETURNING {', '.join(map(quote, returning))}"
    )
