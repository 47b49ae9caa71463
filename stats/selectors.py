"""The statistics report, shared by the portal page, its CSV export and the API.

Grouped by day, offer, goal or the visitor's country, OS family or device type (and, for the
network's reports only, by affiliate), it is read from the
rollup, whatever the number of clicks: from DailyAudienceStat when the visitor context matters (a
grouping by it, or a country filter), else from its sums in DailyStat, with about 9 times fewer
rows (`_rollup`), totals and rows from the same table. Sub values are unbounded, so grouping by
sub1..sub8 reads the raw clicks and conversions instead, over at most MAX_SUB_DAYS days and for
the SUB_ROW_LIMIT values with the most clicks; everything else is one "other values" remainder,
so the rows still add up to the totals (which always come from the rollup).
"""

import copy
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from config.db import top_values_by_clicks
from config.filters import period_q
from conversions.models import Conversion
from offers.choices import PAYABLE_STATUSES, ConversionStatus
from offers.models import Affiliate, Goal, Offer
from offers.targeting import DeviceType, TargetingRefusal, country_name
from postbacks.models import Delivery
from stats.models import STATUS_COLUMNS, DailyAudienceStat, DailyCounters, DailyStat
from tracking.models import SUB_FIELDS, Click

# Groupings by the visitor context: DailyAudienceStat's column of each.
VISITOR_GROUPINGS = {"country": "country", "os": "os_family", "device": "device_type"}
# What an affiliate's reports may be grouped by (the forms and the API offer these).
GROUPINGS = ["day", "offer", "goal", *VISITOR_GROUPINGS, *SUB_FIELDS]
# Clicks refused by the offer's targeting, by reason: the rollup's counter of each.
REFUSALS = {
    "country": TargetingRefusal.COUNTRY.value,
    "os": TargetingRefusal.OS.value,
    "device": TargetingRefusal.DEVICE.value,
}
UNKNOWN = "Unknown"
MAX_DAYS = 366
MAX_SUB_DAYS = 92
SUB_ROW_LIMIT = 100
STATUSES = list(STATUS_COLUMNS.values())  # approved, pending, declined, hold
# Conversions that count towards the conversion rate: the payable ones.
CONVERTED = [STATUS_COLUMNS[status] for status in PAYABLE_STATUSES]
# The counters of the rollup's rows of clicks (without a goal), then of its rows of conversions.
CLICK_COUNTERS = ["clicks", "unique_clicks", *REFUSALS.values()]
COUNTERS = [
    *CLICK_COUNTERS,
    *STATUSES,
    *(f"payout_{name}" for name in STATUSES),
    *(f"revenue_{name}" for name in STATUSES),
]


@dataclass
class Money:
    """Amounts of one currency by status name."""

    currency: str
    payout: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(STATUSES, Decimal(0)))
    revenue: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(STATUSES, Decimal(0)))


def _no_refusals() -> dict[str, int]:
    return dict.fromkeys(REFUSALS, 0)


@dataclass
class Figures:
    """What a report row shows. `clicks` is None on goal rows (a click has no goal): their
    conversion rate is taken against `base_clicks`, the clicks of the goal's offer. `refused`
    holds the clicks the offers' targeting refused, by reason (REFUSALS); None where they cannot
    be counted: on goal rows, and on sub value rows (a refused click keeps no sub values)."""

    clicks: int | None = 0
    unique_clicks: int | None = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    money: dict[str, Money] = field(default_factory=dict)
    base_clicks: int | None = None
    refused: dict[str, int] | None = field(default_factory=_no_refusals)

    @property
    def conversions(self) -> int:
        return sum(self.counts.values())

    @property
    def refused_total(self) -> int | None:
        return None if self.refused is None else sum(self.refused.values())

    @property
    def cr(self) -> Decimal | None:
        """Approved, pending and hold conversions per 100 clicks."""
        clicks = self.clicks if self.clicks is not None else self.base_clicks
        if not clicks:
            return None
        converted = sum(self.counts[name] for name in CONVERTED)
        return (Decimal(100 * converted) / clicks).quantize(Decimal("0.01"))

    @property
    def amounts(self) -> list[Money]:
        return [self.money[currency] for currency in sorted(self.money)]

    def add_counters(self, values: dict, currency: str) -> None:
        """Add a row of summed rollup counters (see COUNTERS)."""
        if self.clicks is not None:
            self.clicks += values["clicks"] or 0
            self.unique_clicks += values["unique_clicks"] or 0
        if self.refused is not None:
            for reason, column in REFUSALS.items():
                self.refused[reason] += values[column] or 0
        for name in STATUSES:
            self.counts[name] += values[name] or 0
        if currency:
            money = self.money.setdefault(currency, Money(currency))
            for name in STATUSES:
                money.payout[name] += values[f"payout_{name}"] or 0
                money.revenue[name] += values[f"revenue_{name}"] or 0

    def add(self, other: "Figures", sign: int = 1) -> None:
        """Add (or with sign=-1 subtract) another row's figures, clicks included."""
        self.clicks += sign * other.clicks
        self.unique_clicks += sign * other.unique_clicks
        if self.refused is not None and other.refused is not None:
            for reason in REFUSALS:
                self.refused[reason] += sign * other.refused[reason]
        for name in STATUSES:
            self.counts[name] += sign * other.counts[name]
        for currency, theirs in other.money.items():
            money = self.money.setdefault(currency, Money(currency))
            for name in STATUSES:
                money.payout[name] += sign * theirs.payout[name]
                money.revenue[name] += sign * theirs.revenue[name]

    def is_empty(self) -> bool:
        amounts = [
            amount
            for money in self.money.values()
            for amount in [*money.payout.values(), *money.revenue.values()]
        ]
        return not (
            self.clicks
            or self.unique_clicks
            or self.refused_total
            or any(self.counts.values())
            or any(amounts)
        )


@dataclass
class Row:
    """One group: `day` (a date), `offer` (an Offer), `goal` (an Offer's Goal, with `offer`),
    `visitor` (a country code, an OS family or a device type; "" where it was not known), `sub`
    (the sub value) or `affiliate` (an Affiliate, with its user), as the grouping says."""

    figures: Figures
    day: date | None = None
    offer: Offer | None = None
    goal: Goal | None = None
    visitor: str | None = None
    sub: str | None = None
    affiliate: Affiliate | None = None
    label: str = ""  # a visitor context's name for people: "United States", "Mobile", "Unknown"


def visitor_label(group_by: str, value: str) -> str:
    """The name of a country code, OS family or device type in a report ("" is UNKNOWN)."""
    if not value:
        return UNKNOWN
    if group_by == "country":
        return country_name(value) or value
    if group_by == "device":
        return dict(DeviceType.CHOICES).get(value, value)
    return value


@dataclass
class Report:
    group_by: str
    date_from: date
    date_to: date
    rows: list[Row]
    totals: Figures
    # Grouped by a sub value: what the rows leave out (None when they leave nothing out).
    other: Figures | None = None

    # The country the report is narrowed to, when it is.
    country: str | None = None

    @property
    def sub_grouping(self) -> bool:
        return self.group_by in SUB_FIELDS

    @property
    def visitor_grouping(self) -> bool:
        return self.group_by in VISITOR_GROUPINGS

    @property
    def currencies(self) -> list[str]:
        return sorted(self.totals.money)


def stats_report(
    *,
    affiliate: Affiliate | None,
    date_from: date,
    date_to: date,
    group_by: str = "day",
    offer: Offer | None = None,
    country: str | None = None,
) -> Report:
    """The report for one affiliate (None: the whole network), UTC days `date_from` to `date_to`
    (both included), optionally for one offer and for the visitors of one country (a code such
    as "US"), grouped by one of GROUPINGS or, for the network (`affiliate` None), by "affiliate".
    Test conversions are never counted."""
    scope = Q(day__range=(date_from, date_to))
    if affiliate is not None:
        scope &= Q(affiliate=affiliate)
    if offer is not None:
        scope &= Q(offer=offer)
    if country is not None:
        scope &= Q(country=country)
    report = Report(group_by, date_from, date_to, rows=[], totals=Figures(), country=country)
    rollup = _rollup(group_by=group_by, country=country)
    if group_by in SUB_FIELDS:
        _fill_sub_rows(report, rollup.objects.filter(scope), affiliate=affiliate, offer=offer)
    else:
        _fill_rollup_rows(report, rollup.objects.filter(scope))
    return report


def _rollup(*, group_by: str, country: str | None) -> type[DailyCounters]:
    """The rollup table a report reads: DailyAudienceStat when it is grouped by the visitor
    context or filtered by country, else DailyStat, its sums over the visitor contexts: 473
    thousand rows against 4.16 million for 10 million clicks (bench/stats.py)."""
    if group_by in VISITOR_GROUPINGS or country is not None:
        return DailyAudienceStat
    return DailyStat


def _sums(rows, *group: str):
    # Each counter summed over the rows that hold it, the others being 0 there: most rows are
    # of clicks, and skipping their 12 conversion counters took a 90-day network report from
    # 1.05 s to 0.9 s (10 million clicks, 4.2 million DailyAudienceStat rows, bench/stats.py). A
    # group without such rows sums to None.
    sums = {name: Sum(name, filter=Q(goal__isnull=name in CLICK_COUNTERS)) for name in COUNTERS}
    return rows.order_by().values(*group, "currency").annotate(**sums)


def _fill_rollup_rows(report: Report, rollup_rows) -> None:
    group = {
        "day": ["day"],
        "offer": ["offer_id"],
        "goal": ["offer_id", "goal_id"],
        "affiliate": ["affiliate_id"],
        **{name: [column] for name, column in VISITOR_GROUPINGS.items()},
    }[report.group_by]
    figures: dict = {}
    offer_clicks: dict[int, int] = {}
    for values in _sums(rollup_rows, *group):
        report.totals.add_counters(values, values["currency"])
        if report.group_by == "goal" and values["goal_id"] is None:
            offer_clicks[values["offer_id"]] = offer_clicks.get(values["offer_id"], 0) + values["clicks"]
            continue
        key = tuple(values[name] for name in group)
        if key not in figures:
            figures[key] = Figures(None, None, refused=None) if report.group_by == "goal" else Figures()
        figures[key].add_counters(values, values["currency"])

    if report.group_by == "day":
        days = (report.date_to - report.date_from).days + 1
        every_day = [report.date_from + timedelta(days=n) for n in range(days)]
        report.rows = [Row(figures.get((day,), Figures()), day=day) for day in every_day]
    elif report.group_by in VISITOR_GROUPINGS:
        rows = [
            Row(figures[(value,)], visitor=value, label=visitor_label(report.group_by, value))
            for (value,) in figures
        ]
        # The most clicked first; rows counting nothing but refused clicks or conversions after.
        report.rows = sorted(
            rows, key=lambda row: (-row.figures.clicks, -row.figures.conversions, row.label, row.visitor)
        )
    elif report.group_by == "offer":
        offers = Offer.objects.in_bulk([offer_id for (offer_id,) in figures])
        report.rows = sorted(
            (Row(figures[(offer_id,)], offer=offers[offer_id]) for (offer_id,) in figures),
            key=lambda row: row.offer.offer_id,
        )
    elif report.group_by == "affiliate":
        affiliates = Affiliate.objects.select_related("user").in_bulk([pk for (pk,) in figures])
        report.rows = sorted(
            (Row(figures[(pk,)], affiliate=affiliates[pk]) for (pk,) in figures),
            key=lambda row: row.affiliate.pid,
        )
    else:
        goals = Goal.objects.select_related("offer").in_bulk([goal_id for _, goal_id in figures])
        for (offer_id, goal_id), goal_figures in figures.items():
            goal_figures.base_clicks = offer_clicks.get(offer_id, 0)
            goal = goals[goal_id]
            report.rows.append(Row(goal_figures, offer=goal.offer, goal=goal))
        report.rows.sort(key=lambda row: (row.offer.offer_id, row.goal.pk))


def _fill_sub_rows(report: Report, rollup_rows, *, affiliate, offer) -> None:
    """Top sub values by clicks, from the raw rows; totals from the rollup."""
    for values in _sums(rollup_rows):
        report.totals.add_counters(values, values["currency"])
    name = report.group_by
    period = period_q("created_at", report.date_from, report.date_to)
    clicks = Click.objects.filter(period, is_test=False)
    conversions = Conversion.objects.filter(period, is_test=False)
    if affiliate is not None:
        clicks, conversions = clicks.filter(affiliate=affiliate), conversions.filter(affiliate=affiliate)
    if offer is not None:
        clicks, conversions = clicks.filter(offer=offer), conversions.filter(offer=offer)
    if report.country is not None:
        clicks, conversions = (
            clicks.filter(country=report.country),
            conversions.filter(country=report.country),
        )

    figures: dict[str, Figures] = {}
    for value, count, unique in top_values_by_clicks(clicks, name, limit=SUB_ROW_LIMIT):
        figures[value] = Figures(count, unique, refused=None)
    counted = (
        conversions.filter(**{f"{name}__in": list(figures)})
        .order_by()
        .values(name, "status", "currency")
        .annotate(count=Count("pk"), payout=Sum("payout"), revenue=Sum("revenue"))
    )
    for values in counted:
        status = STATUS_COLUMNS[ConversionStatus(values["status"])]
        row = figures[values[name]]
        row.counts[status] += values["count"]
        money = row.money.setdefault(values["currency"], Money(values["currency"]))
        money.payout[status] += values["payout"]
        money.revenue[status] += values["revenue"]
    report.rows = [Row(row, sub=value) for value, row in figures.items()]
    other = copy.deepcopy(report.totals)
    for row in report.rows:
        other.add(row.figures, sign=-1)
    report.other = None if other.is_empty() else other


# --- Dashboard ------------------------------------------------------------------------------


@dataclass
class DeliveryDay:
    """Postback deliveries created on one UTC day: those tried at least once, and of them those
    that succeeded."""

    day: date
    attempted: int = 0
    succeeded: int = 0

    @property
    def rate(self) -> Decimal | None:
        """Succeeded deliveries per 100 tried ones (None when none was tried)."""
        if not self.attempted:
            return None
        return (Decimal(100 * self.succeeded) / self.attempted).quantize(Decimal("0.1"))


def delivery_success_by_day(
    *, affiliate: Affiliate | None, date_from: date, date_to: date
) -> list[DeliveryDay]:
    """Every UTC day from `date_from` to `date_to`, with the postback deliveries of one affiliate
    (None: the whole network) created that day. A delivery not yet tried counts nowhere; test
    conversions' deliveries are left out, as the statistics leave test conversions out."""
    deliveries = Delivery.objects.filter(
        period_q("created_at", date_from, date_to), attempts__gt=0, conversion__is_test=False
    )
    if affiliate is not None:
        deliveries = deliveries.filter(affiliate=affiliate)
    counted = (
        deliveries.annotate(day=TruncDate("created_at", tzinfo=UTC))
        .order_by()
        .values("day")
        .annotate(attempted=Count("pk"), succeeded=Count("pk", filter=Q(state=Delivery.State.SUCCEEDED)))
    )
    by_day = {values["day"]: values for values in counted}
    days = []
    for n in range((date_to - date_from).days + 1):
        day = date_from + timedelta(days=n)
        values = by_day.get(day, {"attempted": 0, "succeeded": 0})
        days.append(DeliveryDay(day, values["attempted"], values["succeeded"]))
    return days


def chart_series(report: Report) -> dict:
    """A report by day as the dashboards' charts draw it (static/js/dashboard.js): the days,
    clicks, unique clicks, conversions by status and each currency's approved payout, every day.
    Amounts have four decimals whatever the database answers (SQLite drops trailing zeros)."""

    def approved_payout(row: Row, currency: str) -> Decimal:
        money = row.figures.money.get(currency)
        return money.payout["approved"] if money else Decimal(0)

    return {
        "days": [row.day.isoformat() for row in report.rows],
        "clicks": [row.figures.clicks for row in report.rows],
        "unique_clicks": [row.figures.unique_clicks for row in report.rows],
        "conversions": {name: [row.figures.counts[name] for row in report.rows] for name in STATUSES},
        "payout": {
            currency: [f"{approved_payout(row, currency):.4f}" for row in report.rows]
            for currency in report.currencies
        },
    }


TOP_OFFERS_BY = ["conversions", "payout"]


def top_offers(report: Report, *, by: str = "conversions", limit: int = 10) -> list[Row]:
    """The `limit` offer rows of a report grouped by offer with the most conversions, or the
    highest approved payout. Amounts in different currencies are never added: by payout, offers
    are ranked by their payout in the first currency, then the next."""

    def payout(row: Row) -> tuple:
        return tuple(
            row.figures.money[currency].payout["approved"] if currency in row.figures.money else 0
            for currency in report.currencies
        )

    def conversions(row: Row) -> tuple:
        return (row.figures.conversions, *payout(row))

    key = payout if by == "payout" else conversions
    return sorted(report.rows, key=key, reverse=True)[:limit]
