"""The project's SQL: every statement the ORM does not write, and the cursor that runs the hot ones.

The apps hold no SQL. What is here is either beyond the ORM (inserts that skip conflicts or add
to counters, INSERT ... SELECT, window functions, table locks, planner settings) or on a hot path
where the ORM's cost per query was measured to matter. `config` imports no app: each function
takes the models (or querysets) it works on from its caller and reads tables and columns from
their `_meta`.

Django internals that this module relies on (each with the figure that justifies it where it
is used, and a test in tests/test_db.py that fails if an upgrade changes them):
- `connection.make_cursor`/`make_debug_cursor`, `queries_logged`, `close_if_health_check_failed`
  and `ensure_connection`: a cursor that has the server bind the parameters (`_cursor`).
- `Model._state`: instances inserted by `insert_many` are marked as stored (`_saved`).
- `Field.get_col`, `connection.ops.get_db_converters` and `Col.get_db_converters`: values read
  without the ORM converted as the ORM converts them (`_reading`).
- `sql.Query.build_where` and its compiler: a unique constraint's condition as SQL (`_condition_sql`).
- `connection.features.max_query_params`: how many rows one statement carries on SQLite.
"""

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cache
from ipaddress import IPv4Address, IPv6Address

import orjson
import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Field
from django.db.models.sql import Query

# --- Inserting rows -----------------------------------------------------------------------


def insert_many(
    rows: list,
    *,
    into=None,
    skip_conflicts_by: str | tuple[str, ...] | None = None,
    add_on_conflict: tuple[str, ...] = (),
    unique: str | None = None,
) -> list:
    """Insert `rows`, in the order given, and return those written (all but the skipped ones),
    in that order.

    `rows` are instances of one model, which get their ids and are marked as stored, as `save()`
    leaves them. Or, with `into` (a model), plain dicts of its fields' values keyed by attribute
    name (`offer_id`, not `offer`), for callers to whom building instances would cost more than
    the statement; a field a dict leaves out gets its default.

    - `skip_conflicts_by`: rows that a unique constraint already holds an equal of (or that an
      earlier row of the same call does) are skipped, ON CONFLICT DO NOTHING, and left out of
      the answer. It names the field, or fields, whose values tell the rows apart: the
      statement returns them for each row it inserts. For instances, a field unique to each new
      row, such as a random public id.
    - `add_on_conflict` with `unique`, the name of one of the model's unique constraints: a row
      that conflicts under it with a stored row adds its values of these fields to the stored
      row's instead (ON CONFLICT DO UPDATE). No two rows of one call may conflict with each other.

    On PostgreSQL the rows travel as one JSON document, a list of {column: value} objects that
    the database reads into rows of the table's own type (json_populate_recordset): one short
    statement with one parameter however many rows, so the driver has a single value to convert
    instead of every value on its own, and the statement's text is the same from one call to the
    next (see `_cursor`). The values are the fields' prepared ones (`get_prep_value`), which the
    database parses as its columns' types. Elsewhere (SQLite) a VALUES list, in as many
    statements as its parameter limit needs.
    """
    if not rows:
        return []
    model = into or type(rows[0])
    plain = into is not None
    keys = _named_fields(model, skip_conflicts_by)
    if keys and add_on_conflict:
        raise ValueError("a row is either skipped or added to on conflict, not both")
    on_conflict = _on_conflict(model, bool(keys), tuple(add_on_conflict), unique)
    returning = ([] if plain else [model._meta.pk]) + list(keys)
    if connection.vendor == "postgresql":
        document = _json([_json_row(row, model, plain) for row in rows])
        statements = [(_json_rows_sql(model, on_conflict, tuple(returning)), rows, [document])]
    else:
        width = len(_fields(model))
        size = max(1, connection.features.max_query_params // width)
        chunks = [rows[start : start + size] for start in range(0, len(rows), size)]
        statements = [
            (
                _values_sql(model, len(chunk), on_conflict, tuple(returning)),
                chunk,
                [value for row in chunk for value in _values(row, model, plain)],
            )
            for chunk in chunks
        ]
    if not returning:
        for sql, _, params in statements:
            with _cursor() as cursor:
                cursor.execute(sql, params)
        return rows
    inserted = set()
    for sql, chunk, params in statements:
        with _cursor() as cursor:
            cursor.execute(sql, params)
            returned = cursor.fetchall()
        if not keys:
            # One row back per row in, in the same order (what Django's bulk_create relies on too).
            written = [(instance, pk) for instance, (pk,) in zip(chunk, returned, strict=True)]
        else:
            by_key = {}
            for row in chunk:
                by_key.setdefault(_key(row, keys, plain), row)
            converters = _key_converters(model, skip_conflicts_by)
            start = 0 if plain else 1
            written = [
                (by_key[_converted_key(values[start:], converters, keys)], None if plain else values[0])
                for values in returned
            ]
        for row, pk in written:
            if not plain:
                _saved(row, pk)
            inserted.add(id(row))
    return [row for row in rows if id(row) in inserted]


def _named_fields(model, names: str | tuple[str, ...] | None) -> tuple:
    if names is None:
        return ()
    return tuple(model._meta.get_field(name) for name in ([names] if isinstance(names, str) else names))


def _key(row, fields, plain: bool) -> tuple:
    """The values of `fields` that `row` sends to the database."""
    if plain:
        return tuple(field.get_prep_value(row[field.attname]) for field in fields)
    return tuple(field.get_prep_value(getattr(row, field.attname)) for field in fields)


def _converted_key(values, converters, fields) -> tuple:
    """The key of a row the database answered, in the form `_key` gives the rows sent: the
    database spells some values its own way (an IPv6 address holding an IPv4 one, `::1.2.3.4`,
    comes back so, where Python writes `::102:304`)."""
    values = _converted(list(values), converters) if converters else values
    return tuple(field.get_prep_value(value) for field, value in zip(fields, values, strict=True))


@cache
def _key_converters(model, names) -> list:
    fields = _named_fields(model, names)
    columns = [field.get_col(model._meta.db_table) for field in fields]
    return [
        (index, functions, column)
        for index, column in enumerate(columns)
        if (functions := connection.ops.get_db_converters(column) + column.get_db_converters(connection))
    ]


def _json_row(row, model, plain: bool) -> dict:
    values = {}
    for column, attname, pre_save, native, prepare, default in _fields_to_prepare(model):
        if plain:
            value = row[attname] if attname in row else default()
        else:
            value = pre_save(row, True) if pre_save else row.__dict__[attname]
        values[column] = value if value is None or type(value) is native else prepare(value)
    return values


def _values(row, model, plain: bool) -> list:
    # The connection itself, not its thread-local proxy: this runs for every column of every row.
    db = connections[DEFAULT_DB_ALIAS]
    if plain:
        return [
            field.get_db_prep_save(row[field.attname] if field.attname in row else field.get_default(), db)
            for field in _fields(model)
        ]
    return [field.get_db_prep_save(field.pre_save(row, True), db) for field in _fields(model)]


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
    """(column, attribute, pre_save, native type, get_prep_value, get_default) of each field
    insert_many writes: pre_save is None where it only reads the attribute (all but auto_now
    dates, mostly), and get_prep_value is skipped for None and values of the native type, which
    it would give back unchanged (a call per column of every row otherwise)."""
    return [
        (
            field.column,
            field.attname,
            None if type(field).pre_save is Field.pre_save else field.pre_save,
            # A foreign key holds its target's value; any other type is always prepared.
            NATIVE_TYPES.get((field.target_field if field.is_relation else field).get_internal_type()),
            field.get_prep_value,
            field.get_default,
        )
        for field in _fields(model)
    ]


def _saved(instance, pk) -> None:
    """Mark `instance` as stored under `pk`, as save() and bulk_create() do.

    `_state` is Django's own record of it. insert_many rather than bulk_create: a batch of 15
    conversions, as the postback writer inserts them, took 1.8 ms against bulk_create's 3.5 ms
    (medians of 7 rounds of 300, in a transaction each, on the 2-core development machine); and
    bulk_create cannot tell the rows it skipped on conflict from those it inserted.
    """
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias


@cache
def _fields(model) -> list:
    return [field for field in model._meta.concrete_fields if not field.primary_key]


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def _on_conflict(model, skip: bool, add: tuple[str, ...], unique: str | None) -> str:
    if skip:
        return "ON CONFLICT DO NOTHING"
    if not add:
        return ""
    [constraint] = [constraint for constraint in model._meta.constraints if constraint.name == unique]
    target = f"({', '.join(_quote(model._meta.get_field(name).column) for name in constraint.fields)})"
    if constraint.condition is not None:
        target += f" WHERE {_condition_sql(model, constraint.condition)}"
    table = _quote(model._meta.db_table)
    columns = [_quote(model._meta.get_field(name).column) for name in add]
    additions = ", ".join(f"{column} = {table}.{column} + excluded.{column}" for column in columns)
    return f"ON CONFLICT {target} DO UPDATE SET {additions}"


def _condition_sql(model, condition) -> str:
    """A unique constraint's condition as SQL: the conflict target of a partial unique index
    must repeat it. The ORM's compiler writes it, as for the index itself (Django's
    UniqueConstraint does the same); there is no public API for it."""
    query = Query(model, alias_cols=False)
    where = query.build_where(condition)
    sql, params = where.as_sql(query.get_compiler(connection=connection), connection)
    if params:
        raise ValueError(f"{condition} needs parameters, which a conflict target cannot take")
    return sql


def _returning(fields: tuple) -> str:
    return f" RETURNING {', '.join(_quote(field.column) for field in fields)}" if fields else ""


@cache
def _values_sql(model, rows: int, on_conflict: str, returning: tuple) -> str:
    """An INSERT of `rows` rows from a VALUES list: the rows' values one after another."""
    row = f"({_placeholders(len(_fields(model)))})"
    return _insert_from(model, f"VALUES {', '.join([row] * rows)}", on_conflict, returning)


@cache
def _json_rows_sql(model, on_conflict: str, returning: tuple) -> str:
    """An INSERT of any number of rows from one JSON list of {column: value} objects (PostgreSQL)."""
    table = _quote(model._meta.db_table)
    columns = ", ".join(_quote(field.column) for field in _fields(model))
    rows = f"SELECT {columns} FROM json_populate_recordset(NULL::{table}, %s::json)"
    return _insert_from(model, rows, on_conflict, returning)


def _insert_from(model, rows: str, on_conflict: str, returning: tuple) -> str:
    columns = ", ".join(_quote(field.column) for field in _fields(model))
    on_conflict = f" {on_conflict}" if on_conflict else ""
    table = _quote(model._meta.db_table)
    return f"INSERT INTO {table} ({columns}) {rows}{on_conflict}{_returning(returning)}"


def _placeholders(count: int) -> str:
    """`%s, %s, ...`: the parameters of an IN list or a VALUES row of `count` values."""
    return ", ".join(["%s"] * count)


def _json(rows: list[dict]) -> str:
    # orjson writes datetimes, dates and UUIDs itself, in the ISO forms PostgreSQL reads.
    try:
        return orjson.dumps(rows, default=_json_value).decode()
    except orjson.JSONEncodeError as exc:
        # Text no database column can hold (a lone UTF-16 surrogate): a ValueError, like the
        # database's own refusal of a value, so that callers set the row aside alone.
        raise ValueError(f"a value cannot be stored: {exc}") from None


def _json_value(value):
    """The JSON form of the values orjson leaves to us, as text PostgreSQL parses exactly."""
    if isinstance(value, Decimal | IPv4Address | IPv6Address):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no JSON form for insert_many")


# --- Reading rows -------------------------------------------------------------------------


@dataclass(frozen=True)
class Between:
    """For `select_models`: the values from `low` (included) to `high` (excluded)."""

    low: object
    high: object


def select_models(
    model, *, where: dict, order_by: tuple[str, ...] = (), planned_each_time: bool = False
) -> list:
    """The instances of `model` whose fields hold the values `where` maps their names to: one of
    the values for a list (None among them matching NULL), within a `Between`'s bounds, else the
    value itself; ordered by the fields `order_by` names, else in no particular order.

    What `model.objects.filter(...)` answers, without the ORM's cost of compiling the query and
    looking up its columns' conversions on every call: 15 clicks by click id took 0.40 ms
    against 0.74 ms, the postbacks of a batch of conversions (postbacks.firing) 0.40 ms against
    1.16 ms (medians of 7 rounds of 300, development machine). On PostgreSQL a list is one array
    parameter, so that the statement's text is the same whatever the list's length (and is
    prepared, see `_cursor`), unless it must be `planned_each_time` for its values: a lookup
    whose best plan depends on them, such as one bounded in time on a partitioned table.
    """
    shape, params = [], []
    for name, value in where.items():
        if isinstance(value, Between):
            params += [value.low, value.high]
            shape.append((name, "between", 2, False))
        elif isinstance(value, list | tuple | set):
            values = [item for item in value if item is not None]
            if connection.vendor == "postgresql":
                params.append(values)
                count = 1
            else:
                params += values
                count = len(values)
            shape.append((name, "in", count, len(values) < len(value)))
        elif value is None:
            shape.append((name, "null", 0, False))
        else:
            params.append(value)
            shape.append((name, "equal", 1, False))
    fields, converters = _reading(model)
    with _cursor(planned_each_time=planned_each_time) as cursor:
        cursor.execute(_select_where_sql(model, tuple(shape), tuple(order_by)), params)
        rows = cursor.fetchall()
    if converters:
        rows = [_converted(list(row), converters) for row in rows]
    return [model.from_db(connection.alias, fields, row) for row in rows]


@cache
def _select_where_sql(model, shape: tuple, order_by: tuple) -> str:
    conditions = []
    for name, kind, count, or_null in shape:
        column = _quote(model._meta.get_field(name).column)
        if kind == "null":
            conditions.append(f"{column} IS NULL")
            continue
        if kind == "equal":
            conditions.append(f"{column} = %s")
            continue
        if kind == "between":
            conditions.append(f"{column} >= %s AND {column} < %s")
            continue
        if connection.vendor == "postgresql":
            condition = f"{column} = ANY(%s)"
        else:
            condition = f"{column} IN ({_placeholders(count)})"
        conditions.append(f"({column} IS NULL OR {condition})" if or_null else condition)
    sql = f"{_select_sql(model)} WHERE {' AND '.join(conditions) or 'TRUE'}"
    if order_by:
        sql += " ORDER BY " + ", ".join(_quote(model._meta.get_field(name).column) for name in order_by)
    return sql


@cache
def _select_sql(model) -> str:
    columns = ", ".join(_quote(field.column) for field in model._meta.concrete_fields)
    return f"SELECT {columns} FROM {_quote(model._meta.db_table)}"


@cache
def _reading(model) -> tuple[list[str], list[tuple[int, list, object]]]:
    """The attribute names of `model`'s columns and, by column, the conversions the ORM applies
    to the values the database answers (a JSON column's text, a date SQLite answers as text).

    Through the ORM's own converters, which `Model.objects.raw()` would look up for every query
    (see select_models for what that costs)."""
    columns = [field.get_col(model._meta.db_table) for field in model._meta.concrete_fields]
    converters = [
        (index, functions, column)
        for index, column in enumerate(columns)
        if (functions := connection.ops.get_db_converters(column) + column.get_db_converters(connection))
    ]
    return [field.attname for field in model._meta.concrete_fields], converters


def _converted(row: list, converters) -> list:
    for index, functions, column in converters:
        for function in functions:
            row[index] = function(row[index], column, connection)
    return row


# --- The statistics rollup ----------------------------------------------------------------


def utc_day_sql(column: str) -> str:
    """SQL for the UTC day of a datetime column: the day a click or a conversion counts on."""
    if connection.vendor == "postgresql":
        return f"({column} AT TIME ZONE 'UTC')::date"
    return f"date({column})"  # SQLite keeps datetimes as UTC text


# The visitor context a rollup row is of (stats.models.DailyAudienceStat), and a click's columns for
# it; a conversion's device type is its click's, `click_device_type`.
VISITOR_COLUMNS = ["country", "os_family", "device_type"]
CONVERSION_VISITOR_COLUMNS = ["country", "os_family", "click_device_type"]


def rollup_rebuild(
    *,
    stat,
    audience_stat,
    visitor,
    click,
    refused_click,
    conversion,
    statuses: dict[str, int],
    refusals: dict[str, str],
    since: date,
    visitors_since: date,
) -> None:
    """Refill the daily rollup `audience_stat`, its sums `stat` and its visitors `visitor`
    (stats.models) from the rows of `click`, `refused_click` and `conversion` created on UTC days
    from `since` on, in one transaction, counting what stats.services counts as the rows are
    written. The visitors are refilled from `visitors_since` on only (the days they are kept);
    the unique clicks of every day are counted from the clicks themselves.

    Every row of `audience_stat` is of one day, affiliate, offer, visitor country, OS family and
    device type (VISITOR_COLUMNS); `stat` holds its counters summed over those three, filled from
    it with one INSERT ... SELECT (a grouping of its rows, not of the raw rows again). Clicks and
    unique clicks: an IP's first click on an offer of an affiliate in a UTC day (by time, then
    id) is unique in its own row, and so is every click without an IP. Refused clicks by reason
    (`refusals`: counter column to the `reason` a refused click holds). Conversions, payouts and
    revenues also per goal and currency, in the column of their status (`statuses`: column name
    to status value, `payout_<name>` and `revenue_<name>` for the amounts). Test rows are not
    counted.

    On PostgreSQL the three tables are locked against writers (not readers) until the
    transaction ends, so that live writes wait instead of being counted twice or missed.
    """
    visitors, stats = _quote(visitor._meta.db_table), _quote(stat._meta.db_table)
    audience = _quote(audience_stat._meta.db_table)
    clicks, conversions = _quote(click._meta.db_table), _quote(conversion._meta.db_table)
    refused = _quote(refused_click._meta.db_table)
    start, visitors_start = (
        connection.ops.adapt_datetimefield_value(datetime.combine(day, time.min, tzinfo=UTC))
        for day in (since, visitors_since)
    )
    first_day = connection.ops.adapt_datefield_value(since)
    visitors_first_day = connection.ops.adapt_datefield_value(visitors_since)
    day_of = utc_day_sql("created_at")
    dimensions = ", ".join(VISITOR_COLUMNS)
    names = list(statuses)
    amounts = [f"{amount}_{name}" for amount in ["payout", "revenue"] for name in names]
    sums = [f"SUM(CASE WHEN status = {statuses[name]} THEN 1 ELSE 0 END)" for name in names] + [
        f"SUM(CASE WHEN status = {statuses[name]} THEN {amount} ELSE 0 END)"
        for amount in ["payout", "revenue"]
        for name in names
    ]
    click_counters = ["clicks", "unique_clicks", *refusals]
    # Each click numbered within its visitor's day (1: the first), as top_values_by_clicks does.
    ranked_clicks = (
        f"SELECT {day_of} AS day, affiliate_id, offer_id, ip, {dimensions}, ROW_NUMBER() OVER "
        f"(PARTITION BY {day_of}, affiliate_id, offer_id, ip ORDER BY created_at, id) AS n "
        f"FROM {clicks} WHERE created_at >= %s AND NOT is_test"
    )
    counted_clicks = (
        f"SELECT day, affiliate_id, offer_id, {dimensions}, COUNT(*) AS clicks, "
        "SUM(CASE WHEN ip IS NULL OR n = 1 THEN 1 ELSE 0 END) AS unique_clicks, "
        f"{', '.join(f'0 AS {name}' for name in refusals)} "
        f"FROM ({ranked_clicks}) AS ranked GROUP BY 1, 2, 3, 4, 5, 6"
    )
    counted_refusals = (
        f"SELECT {day_of}, affiliate_id, offer_id, {dimensions}, 0, 0, "
        f"{', '.join('SUM(CASE WHEN reason = %s THEN 1 ELSE 0 END)' for _ in refusals)} "
        f"FROM {refused} WHERE created_at >= %s GROUP BY 1, 2, 3, 4, 5, 6"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {visitors}, {audience}, {stats} IN EXCLUSIVE MODE")
            cursor.execute("SET LOCAL work_mem = '256MB'")  # sorts and groups of millions of clicks
        cursor.execute(f"DELETE FROM {visitors} WHERE day >= %s", [visitors_first_day])
        cursor.execute(f"DELETE FROM {audience} WHERE day >= %s", [first_day])
        cursor.execute(f"DELETE FROM {stats} WHERE day >= %s", [first_day])
        cursor.execute(
            f"INSERT INTO {visitors} (day, affiliate_id, offer_id, ip) "
            f"SELECT DISTINCT {day_of}, affiliate_id, offer_id, ip FROM {clicks} "
            # Ordered to fill the key in order.
            "WHERE created_at >= %s AND ip IS NOT NULL AND NOT is_test ORDER BY 1, 2, 3, 4",
            [visitors_start],
        )
        cursor.execute(
            f"INSERT INTO {audience} (day, affiliate_id, offer_id, currency, {dimensions}, "
            f"{', '.join(click_counters)}) "
            f"SELECT day, affiliate_id, offer_id, '', {dimensions}, "
            f"{', '.join(f'SUM({name})' for name in click_counters)} "
            f"FROM ({counted_clicks} UNION ALL {counted_refusals}) AS counted "
            # In the unique index's order, which then grows at its end instead of all over.
            "GROUP BY 1, 2, 3, 5, 6, 7 ORDER BY 1, 2, 3, 5, 6, 7",
            [start, *refusals.values(), start],
        )
        cursor.execute(
            f"INSERT INTO {audience} (day, affiliate_id, offer_id, goal_id, currency, {dimensions}, "
            f"{', '.join(names + amounts)}) "
            f"SELECT {day_of}, affiliate_id, offer_id, goal_id, currency, "
            f"{', '.join(CONVERSION_VISITOR_COLUMNS)}, {', '.join(sums)} FROM {conversions} "
            "WHERE created_at >= %s AND NOT is_test "
            "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8",
            [start],
        )
        counters = [*click_counters, *names, *amounts]
        cursor.execute(
            f"INSERT INTO {stats} (day, affiliate_id, offer_id, goal_id, currency, {', '.join(counters)}) "
            f"SELECT day, affiliate_id, offer_id, goal_id, currency, "
            f"{', '.join(f'SUM({name})' for name in counters)} FROM {audience} WHERE day >= %s "
            "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
            [first_day],
        )


def top_values_by_clicks(clicks, column: str, *, limit: int) -> list[tuple[str, int, int]]:
    """(value, clicks, unique clicks) of the `limit` values of `column` with the most clicks among
    `clicks` (a queryset of tracking clicks), most first. A click is unique when it is the first
    of its IP on its offer by its affiliate in its UTC day (by time, then id), or has no IP: what
    the rollup counts, so that the values' unique clicks add up to its."""
    rows = clicks.order_by().values(column, "ip", "affiliate_id", "offer_id", "created_at", "id")
    inner, params = rows.query.sql_with_params()
    column = _quote(column)
    sql = (
        f"SELECT {column}, COUNT(*) AS clicks, "
        "SUM(CASE WHEN ip IS NULL OR first_of_day = 1 THEN 1 ELSE 0 END) AS unique_clicks "
        f"FROM (SELECT {column}, ip, ROW_NUMBER() OVER (PARTITION BY affiliate_id, offer_id, "
        f"{utc_day_sql('created_at')}, ip ORDER BY created_at, id) AS first_of_day "
        f"FROM ({inner}) AS click) AS ranked "
        f"GROUP BY {column} ORDER BY clicks DESC, {column} LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        return cursor.fetchall()


# --- Transactions and the connection ------------------------------------------------------


def set_for_transaction(**settings: str) -> None:
    """Change PostgreSQL settings until the current transaction ends (SET LOCAL); elsewhere nothing."""
    if connection.vendor != "postgresql":
        return
    with _cursor() as cursor:
        for name, value in settings.items():
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])


class _UnpreparedCursor(psycopg.Cursor):
    """Never prepares a statement, whatever the connection's prepare_threshold."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=False, binary=binary)


def ping() -> None:
    """Run the smallest statement there is: raises when the database does not answer."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


@contextmanager
def _cursor(*, planned_each_time: bool = False):
    """A cursor for the statements of this module that run for every batch on the hot paths.

    On PostgreSQL it has the server bind the parameters rather than splice them into the SQL
    text, as Django's cursors do. The statement's text is then the same from one batch to the
    next, so the connection prepares it after a few runs (DATABASE_PREPARED_STATEMENTS) and
    the server stops parsing and planning it anew each time; and a batch's JSON document
    travels as a value of its own instead of being escaped into the SQL. A batch of 15
    conversions (insert_many, in its transaction) took 1.8 ms against 2.0 ms through Django's
    own cursor; 15 clicks by click id (select_models) 0.40 ms against 0.46 ms, the postbacks of a
    batch 0.40 ms against 0.48 ms (medians of 7 rounds of 300, development machine).

    `planned_each_time`: the statements are never prepared, so that the server plans each run
    for its values (see `select_models`).

    Django makes only its own kind of cursor, so this one is built as `connection.cursor()`
    builds its own, and wrapped by the same methods: its errors become Django's (IntegrityError
    and the like) and, while queries are logged (DEBUG, the tests' query counts), it logs them.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    cursor = (_UnpreparedCursor if planned_each_time else psycopg.Cursor)(connection.connection)
    wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    with wrap(cursor) as wrapped:
        yield wrapped
