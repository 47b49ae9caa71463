"""What the statistics rollup holds (both of its tables), and what it should hold according to the
raw rows."""

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from config import partitions
from conversions.events import conversion_created_emit
from conversions.models import Conversion, ConversionEvent
from offers.choices import ConversionStatus
from stats.models import STATUS_COLUMNS, DailyAudienceStat, DailyStat, DailyVisitor
from tests.factories import ConversionFactory
from tracking.models import Click, RefusedClick, new_click_id
from tracking.store import click_write_rows

STATUSES = list(STATUS_COLUMNS.values())
CONVERSION_FIELDS = [
    *STATUSES,
    *(f"payout_{name}" for name in STATUSES),
    *(f"revenue_{name}" for name in STATUSES),
]


CLICK_FIELDS = ["clicks", "unique_clicks", "refused_country", "refused_os", "refused_device"]


def stored() -> dict:
    """The rollup by visitor context (DailyAudienceStat), keyed like `expected()`; rows counting
    nothing are left out. On the way it checks that DailyStat holds the same counters summed over
    the visitor contexts, so that every comparison of the rollup compares both tables."""
    rows = _counted(DailyAudienceStat, lambda stat: (stat.country, stat.os_family, stat.device_type))
    daily = stored_daily()
    if daily != summed(rows):
        raise AssertionError(f"DailyStat {daily} is not DailyAudienceStat summed {summed(rows)}")
    return rows


def stored_daily() -> dict:
    """DailyStat, keyed like `summed(expected())`; rows counting nothing are left out."""
    return _counted(DailyStat, lambda stat: ())


def summed(rows: dict) -> dict:
    """Rows keyed like `expected()`, summed over the visitor contexts: what DailyStat holds."""
    sums = {}
    for key, values in rows.items():
        total = sums.get(key[:-3], (0,) * len(values))
        sums[key[:-3]] = tuple(a + b for a, b in zip(total, values, strict=True))
    return {key: values for key, values in sums.items() if any(values)}


def _counted(model, visitor) -> dict:
    rows = {}
    for stat in model.objects.all():
        if stat.goal_id is None:
            values = tuple(getattr(stat, name) for name in CLICK_FIELDS)
            key = (stat.day, stat.affiliate_id, stat.offer_id, *visitor(stat))
        else:
            values = tuple(getattr(stat, name) for name in CONVERSION_FIELDS)
            key = (stat.day, stat.affiliate_id, stat.offer_id, stat.goal_id, stat.currency, *visitor(stat))
        if any(values):
            rows[key] = values
    return rows


def expected() -> dict:
    """The rollup computed here from the clicks, refused clicks and conversions, by the documented
    rules: per visitor country, OS family and device type too, the unique click counted with the
    visitor context of the IP's first click of the day (by time, then id); test clicks and
    conversions are not counted."""
    clicks = defaultdict(lambda: dict.fromkeys(CLICK_FIELDS, 0))
    seen = set()
    for click in Click.objects.filter(is_test=False).order_by("created_at", "id"):
        day = click.created_at.astimezone(UTC).date()
        counted = clicks[
            (day, click.affiliate_id, click.offer_id, click.country, click.os_family, click.device_type)
        ]
        counted["clicks"] += 1
        visitor = (day, click.affiliate_id, click.offer_id, click.ip)
        if not click.ip or visitor not in seen:
            counted["unique_clicks"] += 1
            seen.add(visitor)
    for refused in RefusedClick.objects.all():
        day = refused.created_at.astimezone(UTC).date()
        clicks[
            (
                day,
                refused.affiliate_id,
                refused.offer_id,
                refused.country,
                refused.os_family,
                refused.device_type,
            )
        ][refused.reason] += 1
    rows = {key: tuple(counted[name] for name in CLICK_FIELDS) for key, counted in clicks.items()}
    conversions = defaultdict(lambda: dict.fromkeys(CONVERSION_FIELDS, 0))
    for conversion in Conversion.objects.filter(is_test=False):
        day = conversion.created_at.astimezone(UTC).date()
        key = (
            day,
            conversion.affiliate_id,
            conversion.offer_id,
            conversion.goal_id,
            conversion.currency,
            conversion.country,
            conversion.os_family,
            conversion.click_device_type,
        )
        name = STATUS_COLUMNS[ConversionStatus(conversion.status)]
        conversions[key][name] += 1
        conversions[key][f"payout_{name}"] += conversion.payout
        conversions[key][f"revenue_{name}"] += conversion.revenue
    for key, values in conversions.items():
        rows[key] = tuple(
            Decimal(values[name]).quantize(Decimal("0.0001"))
            if name.startswith(("payout", "revenue"))
            else values[name]
            for name in CONVERSION_FIELDS
        )
    return rows


def click_row(*, offer, affiliate, ip="203.0.113.7", at: datetime | None = None, **values) -> dict:
    """A click row as the tracking endpoint hands it to the writer."""
    return {
        "click_id": new_click_id(),
        "offer_id": offer.pk,
        "affiliate_id": affiliate.pk,
        "ip": ip,
        "created_at": (at or datetime.now(UTC)).timestamp(),
        **values,
    }


def write_clicks(*rows: dict) -> None:
    click_write_rows(list(rows))


def convert(*, offer, affiliate, status=ConversionStatus.PENDING, created_at=None, **fields) -> Conversion:
    """A conversion written as conversions.recording writes one: the row, then its creation event."""
    conversion = ConversionFactory(
        offer=offer, affiliate=affiliate, status=status, created_at=created_at, **fields
    )
    conversion_created_emit(conversion, source=ConversionEvent.Source.POSTBACK)
    return conversion


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00+00:00")


def keep_visitors(monkeypatch, days: int) -> None:
    """Keep the unique visitors `days` days for the test, so that a repeat click of the fixed days
    of its traffic is recognised: their retention is the product's own
    (stats.models.VISITOR_RETENTION_DAYS), not a setting."""
    table = DailyVisitor._meta.db_table
    kept = replace(partitions._registry[table], retention_days=days)
    monkeypatch.setitem(partitions._registry, table, kept)
