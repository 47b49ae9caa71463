"""What the statistics rollup holds, and what it should hold according to the raw rows."""

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from conversions.events import conversion_event_emit
from conversions.models import Conversion, ConversionEvent
from offers.choices import ConversionStatus
from stats.models import STATUS_COLUMNS, DailyStat
from tests.factories import ConversionFactory
from tracking.models import Click, new_click_id
from tracking.store import click_write_rows

STATUSES = list(STATUS_COLUMNS.values())
CONVERSION_FIELDS = [
    *STATUSES,
    *(f"payout_{name}" for name in STATUSES),
    *(f"revenue_{name}" for name in STATUSES),
]


def stored() -> dict:
    """The rollup, keyed like `expected()`; rows counting nothing are left out."""
    rows = {}
    for stat in DailyStat.objects.all():
        if stat.goal_id is None:
            values = (stat.clicks, stat.unique_clicks)
            key = (stat.day, stat.affiliate_id, stat.offer_id)
        else:
            values = tuple(getattr(stat, name) for name in CONVERSION_FIELDS)
            key = (stat.day, stat.affiliate_id, stat.offer_id, stat.goal_id, stat.currency)
        if any(values):
            rows[key] = values
    return rows


def expected() -> dict:
    """The rollup computed here from the clicks and conversions, by the documented rules (test
    clicks and conversions are not counted)."""
    clicks = defaultdict(lambda: [0, set(), 0])
    for click in Click.objects.filter(is_test=False):
        counted = clicks[(click.created_at.astimezone(UTC).date(), click.affiliate_id, click.offer_id)]
        counted[0] += 1
        if click.ip:
            counted[1].add(click.ip)
        else:
            counted[2] += 1
    rows = {key: (total, len(ips) + without_ip) for key, (total, ips, without_ip) in clicks.items()}
    conversions = defaultdict(lambda: dict.fromkeys(CONVERSION_FIELDS, 0))
    for conversion in Conversion.objects.filter(is_test=False):
        day = conversion.created_at.astimezone(UTC).date()
        key = (day, conversion.affiliate_id, conversion.offer_id, conversion.goal_id, conversion.currency)
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
    conversion_event_emit(
        conversion=conversion,
        kind=ConversionEvent.Kind.CREATED,
        old_status=None,
        source=ConversionEvent.Source.POSTBACK,
    )
    return conversion


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00+00:00")
