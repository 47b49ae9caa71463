"""Database helpers for the hot write paths, where the ORM's per-query overhead is the cost."""

from functools import cache

from django.db import DEFAULT_DB_ALIAS, connection, connections


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
    if connection.vendor == "postgresql":
        columns = [list(column) for column in zip(*map(_values, instances), strict=True)]
        statements = [(_unnest_sql(model, skip_conflicts_by), instances, columns)]
    else:
        size = max(1, connection.ops.bulk_batch_size(_fields(model), instances))
        statements = [
            (_values_sql(model, len(chunk), skip_conflicts_by), chunk, sum(map(_values, chunk), []))
            for chunk in (instances[start : start + size] for start in range(0, len(instances), size))
        ]
    inserted = set()
    for sql, chunk, params in statements:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            returned = cursor.fetchall()
        if skip_conflicts_by is None:
            # One row back per row in, in the same order (what Django's bulk_create relies on too).
            written = zip(chunk, returned, strict=True)
        else:
            by_key = {getattr(instance, skip_conflicts_by): instance for instance in chunk}
            written = [(by_key[key], (pk,)) for pk, key in returned]
        for instance, (pk, *_) in written:
            _saved(instance, pk)
            inserted.add(id(instance))
    return [instance for instance in instances if id(instance) in inserted]


def placeholders(count: int) -> str:
    """`%s, %s, ...`: the parameters of an IN list or a VALUES row of `count` values."""
    return ", ".join(["%s"] * count)


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
def _values_sql(model, rows: int, returning_also: str | None):
    """An INSERT of `rows` rows from a VALUES list: the rows' values one after another."""
    row = f"({placeholders(len(_fields(model)))})"
    return _insert_from(model, f"VALUES {', '.join([row] * rows)}", returning_also)


@cache
def _unnest_sql(model, returning_also: str | None):
    """An INSERT of any number of rows from one array per column (PostgreSQL)."""
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in _fields(model))
    return _insert_from(model, f"SELECT * FROM unnest({arrays})", returning_also)


def _insert_from(model, rows: str, returning_also: str | None) -> str:
    """With `returning_also` (see insert_many's `skip_conflicts_by`), conflicting rows are skipped."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in _fields(model))
    returning = [model._meta.pk.column] + (
        [model._meta.get_field(returning_also).column] if returning_also else []
    )
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) {rows} "
        f"{'ON CONFLICT DO NOTHING ' if returning_also else ''}RETURNING {', '.join(map(quote, returning))}"
    )
