"""The portal's Statistics page (`/statistics/`) and its CSV export."""

from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from config.amounts import amount_text
from config.exports import csv_download, csv_text
from config.filters import with_default_period
from conversions.selectors import offers_for_statistics
from portal.access import AffiliateRequiredMixin
from stats.forms import DEFAULT_DAYS, GROUPING_LABELS, PortalStatsFilterForm
from stats.selectors import MAX_SUB_DAYS, REFUSALS, SUB_ROW_LIMIT, Report, stats_report


class StatsFiltersMixin(AffiliateRequiredMixin):
    def filter_form(self) -> PortalStatsFilterForm:
        """The filters from the query string; a first visit shows the last 30 days by day."""
        data = with_default_period(self.request.GET, days=DEFAULT_DAYS)
        return PortalStatsFilterForm(data, offers=offers_for_statistics(self.affiliate))

    def report(self, form) -> Report:
        return stats_report(affiliate=self.affiliate, **form.cleaned_data)


class StatisticsView(StatsFiltersMixin, TemplateView):
    template_name = "stats/report.html"

    def get_context_data(self, **kwargs):
        form = self.filter_form()
        report = self.report(form) if form.is_valid() else None
        return super().get_context_data(
            form=form,
            report=report,
            grouping_label=report and GROUPING_LABELS.get(report.group_by, report.group_by),
            max_sub_days=MAX_SUB_DAYS,
            sub_row_limit=SUB_ROW_LIMIT,
            nav_section="statistics",
            **kwargs,
        )


class StatisticsCsvView(StatsFiltersMixin, View):
    """The report as `statistics.csv`: the rows, the other sub values, then the totals."""

    def get(self, request):
        form = self.filter_form()
        if not form.is_valid():
            # The page shows what is wrong with the filters.
            return redirect(f"{reverse('stats:report')}?{request.GET.urlencode()}")
        return csv_download(report_csv_rows(self.report(form)), "statistics.csv")


GROUP_HEADERS = {
    "day": ["date (UTC)"],
    "offer": ["offer id", "offer"],
    "goal": ["offer id", "offer", "goal", "goal title"],
    "country": ["country code", "country"],
    "os": ["OS"],
    "device": ["device type"],
}


def _group_cells(report: Report, row) -> list:
    if report.group_by == "day":
        return [row.day.isoformat()]
    if report.group_by == "offer":
        return [row.offer.offer_id, csv_text(row.offer.title)]
    if report.group_by == "goal":
        return [
            row.offer.offer_id,
            csv_text(row.offer.title),
            csv_text(row.goal.value),
            csv_text(row.goal.title),
        ]
    if report.group_by == "country":
        return [row.visitor, row.label]
    if report.visitor_grouping:
        # An OS family is the user agent's word, which a visitor controls.
        return [csv_text(row.label)]
    return [csv_text(row.sub)]


def report_csv_rows(report: Report):
    """Header, rows, then "other values" (grouped by a sub value) and "total" lines. Refused clicks
    in all and by reason. Payout is the approved payout; pending and hold payouts have columns of
    their own, per currency."""
    group_headers = GROUP_HEADERS.get(report.group_by, [report.group_by])
    yield [
        *group_headers,
        "clicks",
        "unique clicks",
        "refused",
        "refused by country",
        "refused by OS",
        "refused by device",
        "conversions",
        "approved",
        "pending",
        "declined",
        "hold",
        "CR %",
        *(
            header
            for currency in report.currencies
            for header in [f"payout {currency}", f"pending payout {currency}", f"hold payout {currency}"]
        ),
    ]
    for row in report.rows:
        yield [*_group_cells(report, row), *_figure_cells(report, row.figures)]
    padding = [""] * (len(group_headers) - 1)
    if report.other is not None:
        yield ["other values", *padding, *_figure_cells(report, report.other)]
    yield ["total", *padding, *_figure_cells(report, report.totals)]


def _figure_cells(report: Report, figures) -> list:
    if figures.refused is None:
        refused = [""] * (1 + len(REFUSALS))
    else:
        refused = [figures.refused_total, *(figures.refused[reason] for reason in REFUSALS)]
    cells = [
        "" if figures.clicks is None else figures.clicks,
        "" if figures.unique_clicks is None else figures.unique_clicks,
        *refused,
        figures.conversions,
        *figures.counts.values(),
        "" if figures.cr is None else figures.cr,
    ]
    for currency in report.currencies:
        money = figures.money.get(currency)
        cells += [amount_text(money.payout[name] if money else 0) for name in ["approved", "pending", "hold"]]
    return cells
