"""The network dashboard's figures (`/admin/dashboard/`): a period beside the previous period of
the same length, read from the statistics rollup (stats.selectors.stats_report) in a few queries
whatever the traffic.

The money (revenue, payout, profit, margin, EPC) is manager.selectors.money's. Rankings by money
go by the first currency, then the next (as stats.selectors.top_offers).

A change is relative for counts and amounts ("+12.5%", "new" where the previous period had
none) and in percentage points for the rates (CR, margin), since a rate's relative change reads
as a rate.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from manager.selectors.money import Earnings, earnings, epc
from stats.selectors import STATUSES, Figures, Report, Row, chart_series, stats_report

TOP_ROWS = 10


def previous_period(date_from: date, date_to: date) -> tuple[date, date]:
    """The days just before `date_from`, as many as from `date_from` to `date_to`."""
    days = (date_to - date_from).days + 1
    return date_from - timedelta(days=days), date_from - timedelta(days=1)


def change_text(current, previous) -> str:
    """How much `current` differs from `previous`, relative to the size of `previous` (a negative
    profit that shrinks is a rise): "+12.5%", "-100%", "new" (nothing before), "±0%"; "-" when
    either is unknown or both are 0."""
    if current is None or previous is None or (current == 0 and previous == 0):
        return "-"
    if previous == 0:
        return "new"
    if current == previous:
        return "±0%"
    percent = (Decimal(current - previous) * 100 / abs(Decimal(previous))).quantize(Decimal("0.1"))
    return f"{percent:+}%"


def points_change_text(current: Decimal | None, previous: Decimal | None) -> str:
    """How many percentage points a rate moved: "+2.5 pp", "-0.4 pp", "±0 pp"; "-" when either
    rate is unknown."""
    if current is None or previous is None:
        return "-"
    if current == previous:
        return "±0 pp"
    return f"{current - previous:+} pp"


@dataclass(frozen=True)
class Compared:
    """One figure of the period beside the previous period's. `rate`: a percentage, whose change
    is told in percentage points."""

    current: Decimal | int | None
    previous: Decimal | int | None
    rate: bool = False

    @property
    def change(self) -> str:
        if self.rate:
            return points_change_text(self.current, self.previous)
        return change_text(self.current, self.previous)


@dataclass(frozen=True)
class CurrencyComparison:
    """The money of one currency, the period beside the previous one."""

    currency: str
    revenue: Compared
    payout: Compared
    profit: Compared
    margin: Compared
    epc: Compared
    expected_revenue: Compared
    expected_payout: Compared


def compare_money(current: Figures, previous: Figures) -> list[CurrencyComparison]:
    """Per currency either period has (in alphabetical order), its money beside the previous
    period's."""
    compared = []
    for currency in sorted({*current.money, *previous.money}):
        now, before = earnings(current, currency), earnings(previous, currency)
        compared.append(
            CurrencyComparison(
                currency,
                revenue=Compared(now.revenue, before.revenue),
                payout=Compared(now.payout, before.payout),
                profit=Compared(now.profit, before.profit),
                margin=Compared(now.margin, before.margin, rate=True),
                epc=Compared(epc(now.revenue, current.clicks), epc(before.revenue, previous.clicks)),
                expected_revenue=Compared(now.expected_revenue, before.expected_revenue),
                expected_payout=Compared(now.expected_payout, before.expected_payout),
            )
        )
    return compared


def compare_counts(current: Figures, previous: Figures) -> dict[str, Compared]:
    """Clicks, unique and refused clicks, conversions, each status's and the conversion rate,
    the period beside the previous one."""
    counts = {
        "clicks": Compared(current.clicks, previous.clicks),
        "unique_clicks": Compared(current.unique_clicks, previous.unique_clicks),
        "refused_clicks": Compared(current.refused_total, previous.refused_total),
        "conversions": Compared(current.conversions, previous.conversions),
    }
    for name in STATUSES:
        counts[name] = Compared(current.counts[name], previous.counts[name])
    counts["cr"] = Compared(current.cr, previous.cr, rate=True)
    return counts


def top_by_profit(report: Report, *, limit: int = TOP_ROWS) -> list[Row]:
    """The `limit` rows of a report with the highest profit: by the profit in the report's first
    currency, then the next; the most clicked first among equals."""

    def profits(row: Row) -> tuple:
        return (
            *(earnings(row.figures, currency).profit for currency in report.currencies),
            row.figures.clicks or 0,
        )

    return sorted(report.rows, key=profits, reverse=True)[:limit]


@dataclass(frozen=True)
class RankedRow:
    """An affiliate's or an offer's row among the top ones: its figures and money in each of the
    report's currencies, and its profit beside the previous period's."""

    row: Row
    earnings: list[Earnings]
    profit: list[Compared]


def ranked(report: Report, previous: Report, key) -> list[RankedRow]:
    """The top rows of `report` by profit, each with its profit in `previous` (the row of the
    same `key(row)`, an affiliate's or an offer's id)."""
    before = {key(row): row.figures for row in previous.rows}
    rows = []
    for row in top_by_profit(report):
        now = [earnings(row.figures, currency) for currency in report.currencies]
        old = before.get(key(row), Figures())
        rows.append(
            RankedRow(
                row,
                earnings=now,
                profit=[Compared(money.profit, earnings(old, money.currency).profit) for money in now],
            )
        )
    return rows


@dataclass(frozen=True)
class NetworkDashboard:
    date_from: date
    date_to: date
    previous_from: date
    previous_to: date
    report: Report  # the period by day: the totals and the trends
    counts: dict[str, Compared]
    money: list[CurrencyComparison]
    top_affiliates: list[RankedRow]
    top_offers: list[RankedRow]

    @property
    def active_days(self) -> list[Row]:
        """The days with anything counted, for the table of days (the charts keep every day)."""
        return [row for row in self.report.rows if not row.figures.is_empty()]


def network_dashboard(*, date_from: date, date_to: date) -> NetworkDashboard:
    """The whole network's figures for the UTC days `date_from` to `date_to` and the previous
    period of the same length: five reports of the rollup (the period by day, by affiliate and by
    offer; the previous one by affiliate and by offer, whose totals are the previous period's)."""
    previous_from, previous_to = previous_period(date_from, date_to)
    period = {"affiliate": None, "date_from": date_from, "date_to": date_to}
    before = {"affiliate": None, "date_from": previous_from, "date_to": previous_to}
    by_day = stats_report(**period)
    by_affiliate = stats_report(group_by="affiliate", **period)
    by_offer = stats_report(group_by="offer", **period)
    before_by_affiliate = stats_report(group_by="affiliate", **before)
    before_by_offer = stats_report(group_by="offer", **before)
    return NetworkDashboard(
        date_from,
        date_to,
        previous_from,
        previous_to,
        report=by_day,
        counts=compare_counts(by_day.totals, before_by_offer.totals),
        money=compare_money(by_day.totals, before_by_offer.totals),
        top_affiliates=ranked(by_affiliate, before_by_affiliate, key=lambda row: row.affiliate.pk),
        top_offers=ranked(by_offer, before_by_offer, key=lambda row: row.offer.pk),
    )


def trends(report: Report) -> dict:
    """A report by day as the dashboard's charts draw it (static/js/dashboard.js): clicks, unique
    clicks, conversions by status, and the approved payout and profit per currency, every day."""
    return {
        **chart_series(report),
        "profit": {
            currency: [f"{earnings(row.figures, currency).profit:.4f}" for row in report.rows]
            for currency in report.currencies
        },
    }
