"""Database helpers for the hot write paths, where the ORM's per-query overhead is the cost."""

from contextlib import contextmanager
from decimal import Decimal
from functools import cache
from ipaddress import IPv4Address, IPv6Address

import orjson
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.models import Field


def insert_many(instances: list, *, skip_conflicts_by: str | None = None) -> list:
    """Insert `instances` (all of one model), set their ids, and return those inserted, in the
    order given.

    With `skip_conflicts_by`, rows that a unique constraint already holds an equal of (or that an
    earlier row of the same call does) are skipped with ON CONFLICT DO NOTHING. It names a field
    whose value is unique to each new row, such as a random public id: the statement returns it
    with each inserted row's id, which is how the skipped rows are told from the others.

    On PostgreSQL the rows travel as one JSON document, a list of {column: value} objects that
    the database reads into rows of the table's own type (json_populate_recordset): one short
    statement with one parameter however many rows, so the driver has a single value to convert
    instead of every value (or every column's array) on its own. The values are the fields'
    prepared ones (`get_prep_value`), and the database parses each as its column's type.
    Elsewhere (SQLite) a VALUES list, in as many statements as its parameter limit needs.
    Either way through `_cursor()`.
    """
    if not instances:
        return []
    model = type(instances[0])
    if connection.vendor == "postgresql":
        rows = [_row(instance, _fields_to_prepare(model)) for instance in instances]
        statements = [(_json_rows_sql(model, skip_conflicts_by), instances, [_json(rows)])]
    else:
        size = max(1, connection.ops.bulk_batch_size(_fields(model), instances))
        statements = [
            (_values_sql(model, len(chunk), skip_conflicts_by), chunk, sum(map(_values, chunk), []))
            for chunk in (instances[start : start + size] for start in range(0, len(instances), size))
        ]
    inserted = set()
    for sql, chunk, params in statements:
        with _cursor() as cursor:
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


def select_models(model, where: str, params: list) -> list:
    """The instances of `model` whose rows match `where` (SQL, with %s parameters): what
    `model.objects.raw()` answers, without the cost of mapping its columns on every call."""
    fields, converters = _reading(model)
    with _cursor() as cursor:
        cursor.execute(f"{_select_sql(model)} WHERE {where}", params)
        rows = cursor.fetchall()
    if converters:
        rows = [_converted(row, converters) for row in rows]
    return [model.from_db(connection.alias, fields, row) for row in rows]


@contextmanager
def _cursor():
    """A cursor for the statements of this module, which run for every batch on the hot paths.

    On PostgreSQL it has the server bind the parameters rather than splice them into the SQL
    text, as Django's cursors do. The statement's text is then the same from one batch to the
    next, so the connection prepares it after a few runs (DATABASE_PREPARED_STATEMENTS) and
    the server stops parsing and planning it anew each time; and a batch's JSON document
    travels as a value of its own instead of being escaped into the SQL.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    # What connection.cursor() does before it makes its own kind of cursor.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    cursor = ServerBindingCursor(connection.connection)
    wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    with wrap(cursor) as wrapped:
        yield wrapped


def placeholders(count: int) -> str:
    """`%s, %s, ...`: the parameters of an IN list or a VALUES row of `count` values."""
    return ", ".join(["%s"] * count)


def _values(instance) -> list:
    # The connection itself, not its thread-local proxy: this runs for every column of every row.
    db = connections[DEFAULT_DB_ALIAS]
    return [field.get_db_prep_save(field.pre_save(instance, True), db) for field in _fields(type(instance))]


def _row(instance, fields) -> dict:
    row = {}
    for column, attname, pre_save, native, prepare in fields:
        value = pre_save(instance, True) if pre_save else instance.__dict__[attname]
        row[column] = value if value is None or type(value) is native else prepare(value)
    return row


# Field types whose get_prep_value gives back a value of this Python type unchanged.
NATIVE_TYPES = {
    "CharField": str,
    "TextField": str,
    "BooleanField": bool,
    **dict.fromkeys(
        [
            "AutoField",
            "BigAutoField",
            "SmallAutoField",
            "IntegerField",
            "BigIntegerField",
            "SmallIntegerField",
            "PositiveIntegerField",
            "PositiveBigIntegerField",
            "PositiveSmallIntegerField",
        ],
        int,
    ),
}


@cache
def _fields_to_prepare(model) -> list[tuple]:
    """(column, attribute, pre_save, native type, get_prep_value) of each field insert_many
    writes: pre_save is None where it only reads the attribute (all but auto_now dates, mostly),
    and get_prep_value is skipped for None and values of the native type, which it would give
    back unchanged (a call per column of every row otherwise)."""
    return [
        (
            field.column,
            field.attname,
            None if type(field).pre_save is Field.pre_save else field.pre_save,
            # A foreign key holds its target's value; any other type is always prepared.
            NATIVE_TYPES.get((field.target_field if field.is_relation else field).get_internal_type()),
            field.get_prep_value,
        )
        for field in _fields(model)
    ]


def _saved(instance, pk) -> None:
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias


@cache
def _select_sql(model) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in model._meta.concrete_fields)
    return f"SELECT {columns} FROM {quote(model._meta.db_table)}"


@cache
def _reading(model) -> tuple[list[str], list[tuple[int, list, object]]]:
    """The attribute names of `model`'s columns and, by column, the conversions the ORM applies
    to the values the database answers (a JSON column's text, say)."""
    columns = [field.get_col(model._meta.db_table) for field in model._meta.concrete_fields]
    converters = [
        (index, converters, column)
        for index, column in enumerate(columns)
        if (converters := connection.ops.get_db_converters(column) + column.get_db_converters(connection))
    ]
    return [field.attname for field in model._meta.concrete_fields], converters


def _converted(row: tuple, converters) -> list:
    row = list(row)
    for index, functions, column in converters:
        for function in functions:
            row[index] = function(row[index], column, connection)
    return row


@cache
def _fields(model) -> list:
    return [field for field in model._meta.concrete_fields if not field.primary_key]


@cache
def _values_sql(model, rows: int, returning_also: str | None):
    """An INSERT of `rows` rows from a VALUES list: the rows' values one after another."""
    row = f"({placeholders(len(_fields(model)))})"
    return _insert_from(model, f"VALUES {', '.join([row] * rows)}", returning_also)


@cache
def _json_rows_sql(model, returning_also: str | None):
    """An INSERT of any number of rows from one JSON list of {column: value} objects (PostgreSQL)."""
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in _fields(model))
    rows = f"SELECT {columns} FROM json_populate_recordset(NULL::{table}, %s::json)"
    return _insert_from(model, rows, returning_also)


def _json(rows: list[dict]) -> str:
    # orjson writes datetimes and UUIDs itself, in the ISO forms PostgreSQL reads.
    return orjson.dumps(rows, default=_json_value).decode()


def _json_value(value):
    """The JSON form of the values orjson leaves to us, as text PostgreSQL parses exactly."""
    if isinstance(value, Decimal | IPv4Address | IPv6Address):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no JSON form for insert_many")


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
