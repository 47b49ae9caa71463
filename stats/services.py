"""Keeping the statistics rollup (stats.models) exact: counted as clicks and conversion events are
written, in their transactions, and rebuilt from the raw rows by `manage.py rebuild_stats`.

Every count is written twice, by visitor context to DailyAudienceStat and summed over the visitor
contexts to DailyStat, in the same transaction. Concurrent writers change the same rows in one
order (visitors, then DailyAudienceStat, then DailyStat, each in sorted keys), so they wait for
each other instead of deadlocking; the visitor table's primary key, not a look before the insert,
decides which of two concurrent clicks of one IP is the unique one.
"""

from collections import defaultdict
from datetime import UTC, date, timedelta
from decimal import Decimal

from django.conf import settings

from config import partitions
from config.db import insert_many, rollup_rebuild
from conversions.models import Conversion, ConversionEvent
from offers.choices import ConversionStatus
from offers.targeting import TargetingRefusal
from stats.models import STATUS_COLUMNS, DailyAudienceStat, DailyStat, DailyVisitor
from tracking.models import Click, RefusedClick

COUNT_COLUMNS = list(STATUS_COLUMNS.values())
PAYOUT_COLUMNS = [f"payout_{name}" for name in COUNT_COLUMNS]
REVENUE_COLUMNS = [f"revenue_{name}" for name in COUNT_COLUMNS]
CONVERSION_COLUMNS = [*COUNT_COLUMNS, *PAYOUT_COLUMNS, *REVENUE_COLUMNS]
# The rollup's click counters: the clicks, the unique ones, and the refused ones by reason.
REFUSAL_COLUMNS = [refusal.value for refusal in TargetingRefusal]
CLICK_COLUMNS = ["clicks", "unique_clicks", *REFUSAL_COLUMNS]
# The fields that tell DailyStat's rows apart (its unique constraints), in the order of the keys
# the counting below groups by; DailyAudienceStat's keys end with the visitor context's.
CLICK_KEY = ["day", "affiliate_id", "offer_id"]
CONVERSION_KEY = ["day", "affiliate_id", "offer_id", "goal_id", "currency"]
VISITOR_KEY = ["country", "os_family", "device_type"]


# --- Clicks ---------------------------------------------------------------------------------


def stats_add_clicks(rows: list[dict]) -> None:
    """Count clicks that tracking.store.click_write_rows has just inserted (its listener), each in
    the row of its UTC day, affiliate, offer and visitor country, OS family and device type.

    Three statements per batch: one claims the day's visitors (an IP's first click on an offer of
    an affiliate in a UTC day is its unique click, counted with the visitor context of that
    click: the earliest of the batch, the first written among equals, as the rebuild orders by
    time and id), two add the grouped counts (`_add_to_rollup`). Test clicks are not counted. A row with a
    `refused` key is a visit the offer's targeting refused (tracking.models.RefusedClick): it
    adds one to the counter of that reason (offers.targeting.TargetingRefusal) and is neither a
    click nor a visitor.

    A click of a day whose visitors are no longer kept (stats.models.VISITOR_RETENTION_DAYS: a
    click written days late, a replay of old rows) is counted as unique, as a click without an IP
    is: it claims no visitor, as that day may have no partition left to hold one, and a write
    must never fail for it. `rebuild_stats` counts such a day exactly again while its clicks are
    kept.
    """
    counts: dict[tuple, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CLICK_COLUMNS, 0))
    first_clicks: dict[tuple, tuple] = {}  # visitor: (created_at, bucket) of its earliest click
    # A day early: maintenance may drop the partition of the first day kept between this
    # reading of the clock and the insert.
    visitors_kept_from = partitions.first_kept_day(DailyVisitor) + timedelta(days=1)
    for row in rows:
        if row.get("is_test"):
            continue
        created_at = row["created_at"]
        key = (created_at.astimezone(UTC).date(), row["affiliate_id"], row["offer_id"])
        # A row written by a release from before the visitor context has none: "" (unknown).
        bucket = (*key, *(row.get(name) or "" for name in VISITOR_KEY))
        if row.get("refused"):
            counts[bucket][TargetingRefusal(row["refused"]).value] += 1
            continue
        counts[bucket]["clicks"] += 1
        # Without an address, or without the day's visitors, a repeat cannot be recognised.
        if not row.get("ip") or key[0] < visitors_kept_from:
            counts[bucket]["unique_clicks"] += 1
            continue
        visitor = (*key, row["ip"])
        earlier = first_clicks.get(visitor)
        if earlier is None or created_at < earlier[0]:
            first_clicks[visitor] = (created_at, bucket)
    claimed = insert_many(
        [
            {"day": day, "affiliate_id": affiliate, "offer_id": offer, "ip": ip}
            for day, affiliate, offer, ip in sorted(first_clicks)
        ],
        into=DailyVisitor,
        skip_conflicts_by=("day", "affiliate_id", "offer_id", "ip"),
    )
    for visitor in claimed:
        _, bucket = first_clicks[
            (visitor["day"], visitor["affiliate_id"], visitor["offer_id"], visitor["ip"])
        ]
        counts[bucket]["unique_clicks"] += 1
    _add_to_rollup(counts, key=CLICK_KEY, columns=CLICK_COLUMNS, unique="clicks_unique")


# --- Conversions ----------------------------------------------------------------------------


def stats_add_conversion_events(events: list[ConversionEvent]) -> None:
    """Count conversions' creations and status changes (conversions.events' listener): one more
    in the new status, one fewer in the old one, with their payout and revenue, on the UTC day the
    conversion was created, in the row of its click's visitor country, OS family and device type
    (`click_device_type`; the conversion's own `device_type` is the advertiser's word). Two
    statements for all the events (`_add_to_rollup`). Test conversions are not counted.

    A status change may have changed the amounts (a new order sum, and with a percent payout the
    currency) or the goal (a manager approving a conversion declined for a goal the offer lacked):
    the old status loses what was counted for it, `counted_before` (conversions.events.CountedAs,
    set by conversions.lifecycle.conversion_set_status), and the new one gains what is now."""
    deltas: dict[tuple, dict[str, Decimal | int]] = defaultdict(lambda: dict.fromkeys(CONVERSION_COLUMNS, 0))
    for event in events:
        conversion = event.conversion
        if conversion.is_test:
            continue
        before = event.counted_before if event.old_status is not None else conversion
        for status, sign, amounts in [(event.new_status, 1, conversion), (event.old_status, -1, before)]:
            if status is None:
                continue
            key = (
                conversion.created_at.astimezone(UTC).date(),
                conversion.affiliate_id,
                conversion.offer_id,
                amounts.goal_id,
                amounts.currency,
                conversion.country,
                conversion.os_family,
                conversion.click_device_type,
            )
            name = STATUS_COLUMNS[ConversionStatus(status)]
            deltas[key][name] += sign
            deltas[key][f"payout_{name}"] += sign * amounts.payout
            deltas[key][f"revenue_{name}"] += sign * amounts.revenue
    _add_to_rollup(deltas, key=CONVERSION_KEY, columns=CONVERSION_COLUMNS, unique="conversions_unique")


# --- Both tables ----------------------------------------------------------------------------


def _add_to_rollup(deltas: dict[tuple, dict], *, key: list[str], columns: list[str], unique: str) -> None:
    """Add `deltas` (by `key` then VISITOR_KEY values) to DailyAudienceStat, and the same summed
    over the visitor contexts to DailyStat: one statement each, under the unique constraints
    named `daily_audience_stat_<unique>` and `daily_stat_<unique>`.

    In key order, the visitor contexts' rows before their sums: two transactions counting the
    same rows then wait in one direction only."""
    insert_many(
        [
            dict(zip([*key, *VISITOR_KEY], bucket, strict=True)) | added
            for bucket, added in sorted(deltas.items())
        ],
        into=DailyAudienceStat,
        add_on_conflict=tuple(columns),
        unique=f"daily_audience_stat_{unique}",
    )
    insert_many(
        [
            dict(zip(key, bucket, strict=True)) | added
            for bucket, added in sorted(_summed_over_visitors(deltas).items())
        ],
        into=DailyStat,
        add_on_conflict=tuple(columns),
        unique=f"daily_stat_{unique}",
    )


def _summed_over_visitors(deltas: dict[tuple, dict]) -> dict[tuple, dict]:
    """`deltas` keyed by a DailyStat key and a visitor context, summed by the DailyStat key."""
    summed: dict[tuple, dict] = {}
    for bucket, added in deltas.items():
        total = summed.setdefault(bucket[: -len(VISITOR_KEY)], dict.fromkeys(added, 0))
        for name, value in added.items():
            total[name] += value
    return summed


# --- Rebuild --------------------------------------------------------------------------------


class RebuildTooEarly(ValueError):
    """A rebuild asked for days whose clicks are no longer all kept."""

    def __init__(self, since: date, first_day: date):
        super().__init__(
            f"The statistics cannot be recomputed from {since}: clicks are kept "
            f"{settings.CLICK_RETENTION_DAYS} days (CLICK_RETENTION_DAYS), so the clicks of the days "
            f"before {first_day} are no longer all there. The first day allowed is {first_day}."
        )


def stats_first_rebuild_day() -> date:
    """The first UTC day the rollup can be recomputed from: the first whose clicks (and refused
    clicks) are all still kept. Before it, a rebuild would replace the counts of clicks that are
    gone with those of what is left, or with nothing."""
    return partitions.first_kept_day(Click)


def stats_rebuild(*, since: date | None = None) -> date:
    """Recompute the rollup from the clicks, refused clicks and conversions, for every day from
    `since` (UTC; by default, and at the earliest, `stats_first_rebuild_day`, else RebuildTooEarly),
    counting exactly what the live path counts. Returns the first day recomputed.

    The unique clicks are counted from the clicks themselves, for every day; the visitors that
    decide the unique clicks still to come are refilled only for the days they are kept
    (stats.models.VISITOR_RETENTION_DAYS).

    Live writes wait while it runs (on PostgreSQL the rollup tables are locked against writers,
    not readers), so nothing is counted twice or missed; a recent `since` keeps that short.
    """
    first_day = stats_first_rebuild_day()
    if since is None:
        since = first_day
    elif since < first_day:
        raise RebuildTooEarly(since, first_day)
    rollup_rebuild(
        stat=DailyStat,
        audience_stat=DailyAudienceStat,
        visitor=DailyVisitor,
        click=Click,
        refused_click=RefusedClick,
        conversion=Conversion,
        statuses={name: status.value for status, name in STATUS_COLUMNS.items()},
        # A refused click's reason is its counter's name (offers.targeting.TargetingRefusal).
        refusals={name: name for name in REFUSAL_COLUMNS},
        since=since,
        visitors_since=max(since, partitions.first_kept_day(DailyVisitor)),
    )
    return since
