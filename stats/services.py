"""Keeping the statistics rollup (stats.models) exact: counted as clicks and conversion events are
written, in their transactions, and rebuilt from the raw rows by `manage.py rebuild_stats`.

Concurrent writers change the same rows in one order (sorted keys, visitors before counters), so
they wait for each other instead of deadlocking; the visitor table's primary key, not a look
before the insert, decides which of two concurrent clicks of one IP is the unique one.
"""

from collections import defaultdict
from datetime import UTC, date, datetime, time
from decimal import Decimal

from django.db import connection, transaction

from config.db import placeholders
from conversions.models import Conversion, ConversionEvent
from offers.choices import ConversionStatus
from stats.models import STATUS_COLUMNS, DailyStat, DailyVisitor
from tracking.models import Click

COUNT_COLUMNS = list(STATUS_COLUMNS.values())
PAYOUT_COLUMNS = [f"payout_{name}" for name in COUNT_COLUMNS]
REVENUE_COLUMNS = [f"revenue_{name}" for name in COUNT_COLUMNS]
CONVERSION_COLUMNS = [*COUNT_COLUMNS, *PAYOUT_COLUMNS, *REVENUE_COLUMNS]


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


STAT, VISITOR = _quote(DailyStat._meta.db_table), _quote(DailyVisitor._meta.db_table)
CLICK, CONVERSION = _quote(Click._meta.db_table), _quote(Conversion._meta.db_table)


def _execute_values(sql: str, rows: list[tuple], *, returning: bool = False) -> list[tuple]:
    """Run `sql` (an INSERT whose VALUES list is `{values}`) for `rows`, in as few statements as
    the database's parameter limit allows; answers the rows it returns."""
    if not rows:
        return []
    width = len(rows[0])
    one_row = f"({placeholders(width)})"
    limit = connection.features.max_query_params or 65535
    size = max(1, limit // width)
    returned = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            values = ", ".join([one_row] * len(chunk))
            cursor.execute(sql.format(values=values), [value for row in chunk for value in row])
            if returning:
                returned += cursor.fetchall()
    return returned


def _day(value) -> date:
    """A date column as returned by the database (SQLite answers text)."""
    return value if isinstance(value, date) else date.fromisoformat(value)


def _day_param(day: date):
    return connection.ops.adapt_datefield_value(day)


# --- Clicks ---------------------------------------------------------------------------------

CLAIM_VISITORS = (
    f"INSERT INTO {VISITOR} (day, affiliate_id, offer_id, ip) VALUES {{values}} "
    "ON CONFLICT DO NOTHING RETURNING day, affiliate_id, offer_id"
)
ADD_CLICKS = (
    f"INSERT INTO {STAT} (day, affiliate_id, offer_id, currency, clicks, unique_clicks) VALUES {{values}} "
    "ON CONFLICT (day, affiliate_id, offer_id) WHERE goal_id IS NULL DO UPDATE SET "
    f"clicks = {STAT}.clicks + excluded.clicks, unique_clicks = {STAT}.unique_clicks + excluded.unique_clicks"
)


def stats_add_clicks(rows: list[dict]) -> None:
    """Count clicks that tracking.services.click_write_rows has just inserted (its listener).

    Two statements per batch: one claims the day's visitors (an IP's first click on an offer of
    an affiliate in a UTC day is its unique click), one adds the grouped counts. Test clicks are
    not counted.
    """
    rows = [row for row in rows if not row.get("is_test")]
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    visitors = set()
    for row in rows:
        key = (datetime.fromtimestamp(row["created_at"], tz=UTC).date(), row["affiliate_id"], row["offer_id"])
        counts[key][0] += 1
        if row.get("ip"):
            visitors.add((*key, row["ip"]))
        else:
            counts[key][1] += 1  # without an address a repeat cannot be recognised
    ip_field = DailyVisitor._meta.get_field("ip")
    claimed = _execute_values(
        CLAIM_VISITORS,
        [
            (_day_param(day), affiliate, offer, ip_field.get_db_prep_save(ip, connection))
            for day, affiliate, offer, ip in sorted(visitors)
        ],
        returning=True,
    )
    for day, affiliate, offer in claimed:
        counts[(_day(day), affiliate, offer)][1] += 1
    _execute_values(
        ADD_CLICKS,
        [(_day_param(day), *key, "", *counted) for (day, *key), counted in sorted(counts.items())],
    )


# --- Conversions ----------------------------------------------------------------------------

ADD_CONVERSION = (
    f"INSERT INTO {STAT} (day, affiliate_id, offer_id, goal_id, currency, {', '.join(CONVERSION_COLUMNS)}) "
    "VALUES {values} ON CONFLICT (day, affiliate_id, offer_id, goal_id, currency) WHERE goal_id IS NOT NULL "
    "DO UPDATE SET " + ", ".join(f"{name} = {STAT}.{name} + excluded.{name}" for name in CONVERSION_COLUMNS)
)


def stats_add_conversion_events(events: list[ConversionEvent]) -> None:
    """Count conversions' creations and status changes (conversions.services' listener): one more
    in the new status, one fewer in the old one, with their payout and revenue, on the UTC day the
    conversion was created. One statement for all the events. Test conversions are not counted."""
    deltas: dict[tuple, dict[str, Decimal | int]] = defaultdict(lambda: dict.fromkeys(CONVERSION_COLUMNS, 0))
    for event in events:
        conversion = event.conversion
        if conversion.is_test:
            continue
        key = (
            conversion.created_at.astimezone(UTC).date(),
            conversion.affiliate_id,
            conversion.offer_id,
            conversion.goal_id,
            conversion.currency,
        )
        for status, sign in [(event.new_status, 1), (event.old_status, -1)]:
            if status is None:
                continue
            name = STATUS_COLUMNS[ConversionStatus(status)]
            deltas[key][name] += sign
            deltas[key][f"payout_{name}"] += sign * conversion.payout
            deltas[key][f"revenue_{name}"] += sign * conversion.revenue
    # In key order: two transactions counting the same rows then wait in one direction only.
    _execute_values(
        ADD_CONVERSION,
        [
            (_day_param(day), *key, *(counted[name] for name in CONVERSION_COLUMNS))
            for (day, *key), counted in sorted(deltas.items())
        ],
    )


# --- Rebuild --------------------------------------------------------------------------------


def _day_sql(column: str) -> str:
    """The UTC day of a datetime column."""
    if connection.vendor == "postgresql":
        return f"({column} AT TIME ZONE 'UTC')::date"
    return f"date({column})"  # SQLite keeps datetimes as UTC text


def stats_rebuild(*, since: date | None = None) -> None:
    """Recompute the rollup from the clicks and conversions, for every day from `since` (UTC; all
    days when None), counting exactly what the live path counts.

    Live writes wait while it runs (on PostgreSQL the rollup tables are locked against writers,
    not readers), so nothing is counted twice or missed; a recent `since` keeps that short.
    """
    start = datetime.combine(since or date.min, time.min, tzinfo=UTC)
    start_param = connection.ops.adapt_datetimefield_value(start)
    day_param = connection.ops.adapt_datefield_value(since or date.min)
    day_of = _day_sql("created_at")
    conversion_columns = ", ".join(CONVERSION_COLUMNS)
    status_sums = [
        f"SUM(CASE WHEN status = {status.value} THEN 1 ELSE 0 END)" for status in STATUS_COLUMNS
    ] + [
        f"SUM(CASE WHEN status = {status.value} THEN {amount} ELSE 0 END)"
        for amount in ["payout", "revenue"]
        for status in STATUS_COLUMNS
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {VISITOR}, {STAT} IN EXCLUSIVE MODE")
            cursor.execute("SET LOCAL work_mem = '256MB'")  # sorts and groups of millions of clicks
        cursor.execute(f"DELETE FROM {VISITOR} WHERE day >= %s", [day_param])
        cursor.execute(f"DELETE FROM {STAT} WHERE day >= %s", [day_param])
        cursor.execute(
            f"INSERT INTO {VISITOR} (day, affiliate_id, offer_id, ip) "
            f"SELECT DISTINCT {day_of}, affiliate_id, offer_id, ip FROM {CLICK} "
            # Ordered to fill the key in order.
            "WHERE created_at >= %s AND ip IS NOT NULL AND NOT is_test ORDER BY 1, 2, 3, 4",
            [start_param],
        )
        cursor.execute(
            f"INSERT INTO {STAT} (day, affiliate_id, offer_id, currency, clicks, unique_clicks) "
            "SELECT c.day, c.affiliate_id, c.offer_id, '', c.clicks, c.without_ip + COALESCE(v.visitors, 0) "
            f"FROM (SELECT {day_of} AS day, affiliate_id, offer_id, COUNT(*) AS clicks, "
            f"SUM(CASE WHEN ip IS NULL THEN 1 ELSE 0 END) AS without_ip FROM {CLICK} "
            "WHERE created_at >= %s AND NOT is_test GROUP BY 1, 2, 3) c "
            f"LEFT JOIN (SELECT day, affiliate_id, offer_id, COUNT(*) AS visitors FROM {VISITOR} "
            "WHERE day >= %s GROUP BY 1, 2, 3) v "
            "ON v.day = c.day AND v.affiliate_id = c.affiliate_id AND v.offer_id = c.offer_id",
            [start_param, day_param],
        )
        cursor.execute(
            f"INSERT INTO {STAT} (day, affiliate_id, offer_id, goal_id, currency, {conversion_columns}) "
            f"SELECT {day_of}, affiliate_id, offer_id, goal_id, currency, {', '.join(status_sums)} "
            f"FROM {CONVERSION} WHERE created_at >= %s AND NOT is_test GROUP BY 1, 2, 3, 4, 5",
            [start_param],
        )
