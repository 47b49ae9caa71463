"""The network dashboard (`/admin/dashboard/`): what the network earned in a period beside the
previous one (manager.selectors.dashboard), every count and amount linked to the admin's list of
the clicks or conversions behind it."""

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import reverse

from config.filters import use_date_pickers, with_default_period
from manager.selectors.dashboard import Compared, NetworkDashboard, RankedRow, trends
from manager.selectors.dashboard import network_dashboard as dashboard_figures
from manager.selectors.money import EARNED, EXPECTED, earnings
from offers.models import Affiliate
from stats.forms import DEFAULT_DAYS, ReportPeriodForm
from stats.models import STATUS_COLUMNS

# A status name of the rollup ("approved") as the conversion list filters it (its wire code).
STATUS_CODES = {name: status.value for status, name in STATUS_COLUMNS.items()}


def network_dashboard(request):
    """Staff only (admin.site.admin_view). A bad period is a form error, not a page of figures."""
    form = ReportPeriodForm(with_default_period(request.GET, days=DEFAULT_DAYS))
    use_date_pickers(form)
    context = {**admin.site.each_context(request), "title": "Network dashboard", "form": form}
    if form.is_valid():
        dashboard = dashboard_figures(
            date_from=form.cleaned_data["date_from"], date_to=form.cleaned_data["date_to"]
        )
        period_links = RowLinks(dashboard.date_from, dashboard.date_to)
        previous_links = RowLinks(dashboard.previous_from, dashboard.previous_to)
        context |= {
            "dashboard": dashboard,
            "report": dashboard.report,
            "counts": count_lines(dashboard, period_links, previous_links),
            "money": money_tables(dashboard, period_links, previous_links),
            "top_affiliates": [
                top_row(
                    ranked, period_links, affiliate_page(ranked.row.affiliate), affiliate=ranked.row.affiliate
                )
                for ranked in dashboard.top_affiliates
            ],
            "top_offers": [
                top_row(ranked, period_links, offer_page(ranked.row.offer), offer=ranked.row.offer)
                for ranked in dashboard.top_offers
            ],
            "days": [day_row(row, dashboard.report.currencies) for row in dashboard.active_days],
            "chart_data": trends(dashboard.report),
        }
    return TemplateResponse(request, "admin/manager/dashboard.html", context)


class RowLinks:
    """The admin's lists of the rows a figure of a period counts, as the statistics count them:
    created in the period's UTC days, test records left out. The lists filter by their own
    list_filter (created_at, is_test, offer, affiliate) or by a plain field (status, currency)."""

    def __init__(self, date_from: date, date_to: date):
        self.period = {
            # The admin's own date filter writes its bounds this way.
            "created_at__gte": str(datetime.combine(date_from, time.min, tzinfo=UTC)),
            "created_at__lt": str(datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC)),
        }

    def clicks(self, **scope) -> str:
        return _changelist("tracking_click", **self.period, is_test__exact="0", **_scope(scope))

    def refused_clicks(self) -> str:
        return _changelist("tracking_refusedclick", **self.period)

    def conversions(self, statuses=(), currency: str | None = None, **scope) -> str:
        """Conversions of any status, or of `statuses` (rollup names), in any currency or one."""
        filters = {**self.period, "is_test__exact": "0", **_scope(scope)}
        # One status by the list's own filter, which then shows it chosen.
        if len(statuses) == 1:
            filters["status__exact"] = STATUS_CODES[statuses[0]]
        elif statuses:
            filters["status__in"] = ",".join(str(STATUS_CODES[name]) for name in statuses)
        if currency is not None:
            filters["currency"] = currency
        return _changelist("conversions_conversion", **filters)


def _scope(scope: dict) -> dict:
    """An affiliate's or an offer's rows, by the lists' filter of each."""
    return {f"{name}__id__exact": value.pk for name, value in scope.items()}


def _changelist(model: str, **filters) -> str:
    return f"{reverse(f'admin:{model}_changelist')}?{urlencode(filters)}"


def affiliate_page(affiliate: Affiliate) -> str:
    """The manager console's page of an affiliate."""
    return reverse("admin-affiliate-overview", kwargs={"pid": affiliate.pid})


def offer_page(offer) -> str:
    return reverse("admin:offers_offer_change", args=[offer.pk])


def count_lines(dashboard: NetworkDashboard, period_links: RowLinks, previous_links: RowLinks) -> list[dict]:
    """The counts' lines of the page: a label, the figure (Compared), and the lists behind the
    period's and the previous period's figure (None for derived figures: unique clicks, CR)."""
    counts = dashboard.counts

    def line(label, name, link=None, help_text=""):
        links = (link(period_links), link(previous_links)) if link else (None, None)
        kind = "rate" if counts[name].rate else "count"
        return _line(label, counts[name], links, help_text, kind)

    return [
        line("Clicks", "clicks", lambda links: links.clicks()),
        line("Unique clicks", "unique_clicks", help_text="first click of an IP address a day"),
        line("Refused clicks", "refused_clicks", lambda links: links.refused_clicks(), "by targeting"),
        line("Conversions", "conversions", lambda links: links.conversions()),
        *(
            line(name.capitalize(), name, lambda links, name=name: links.conversions([name]))
            for name in ["approved", "pending", "hold", "declined"]
        ),
        line("CR", "cr", help_text="approved, pending and hold per 100 clicks"),
    ]


def _line(label: str, figure: Compared, links, help_text: str, kind: str) -> dict:
    """A line of a table of compared figures (admin/manager/_compared.html): `cells` are the
    period's and the previous period's figure, each with the list behind it (or None)."""
    cells = list(zip((figure.current, figure.previous), links, strict=True))
    return {"label": label, "figure": figure, "cells": cells, "help": help_text, "kind": kind}


def money_tables(dashboard: NetworkDashboard, period_links: RowLinks, previous_links: RowLinks) -> list[dict]:
    """Per currency, the money's lines like count_lines: the earned amounts link to the approved
    conversions of the currency, the expected ones to its pending and hold conversions."""
    tables = []
    for money in dashboard.money:
        earned = [links.conversions([EARNED], money.currency) for links in (period_links, previous_links)]
        expected = [links.conversions(EXPECTED, money.currency) for links in (period_links, previous_links)]
        lines = [
            ("Revenue", money.revenue, earned, "approved"),
            ("Payout", money.payout, earned, "approved"),
            ("Profit", money.profit, earned, "revenue - payout"),
            ("Margin", money.margin, None, "profit / revenue"),
            ("EPC", money.epc, None, "revenue per click"),
            ("Expected revenue", money.expected_revenue, expected, "pending and hold"),
            ("Expected payout", money.expected_payout, expected, "pending and hold"),
        ]
        tables.append(
            {
                "currency": money.currency,
                "lines": [
                    _line(label, figure, links or (None, None), help, "rate" if figure.rate else "amount")
                    for label, figure, links, help in lines
                ],
            }
        )
    return tables


def top_row(ranked: RankedRow, links: RowLinks, page: str, **scope) -> dict:
    """A top affiliate's or offer's row of the page: its page, and the lists of its clicks, its
    conversions and its approved conversions of each currency."""
    return {
        "ranked": ranked,
        "page": page,
        "clicks": links.clicks(**scope),
        "conversions": links.conversions(**scope),
        "money": [
            (money, profit, links.conversions([EARNED], money.currency, **scope))
            for money, profit in zip(ranked.earnings, ranked.profit, strict=True)
        ],
    }


def day_row(row, currencies: list[str]) -> dict:
    """A day's line of the table of days: its figures, the lists of its clicks and conversions,
    and its earned money in each currency with the list of its approved conversions."""
    links = RowLinks(row.day, row.day)
    return {
        "row": row,
        "clicks": links.clicks(),
        "conversions": links.conversions(),
        "approved": links.conversions([EARNED]),
        "money": [
            (money, links.conversions([EARNED], money.currency))
            for money in (earnings(row.figures, currency) for currency in currencies)
            if money.revenue or money.payout
        ],
    }
