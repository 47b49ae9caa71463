"""The portal dashboard's figures: one affiliate's (the portal's home page). The network's
dashboard in the manager console has its own (manager.selectors.dashboard)."""

from config.filters import with_default_period
from offers.models import Affiliate
from portal.forms import DashboardPeriodForm
from stats.forms import DEFAULT_DAYS
from stats.selectors import (
    DeliveryDay,
    chart_series,
    delivery_success_by_day,
    stats_report,
    top_offers,
)


def dashboard_context(request, affiliate: Affiliate) -> dict:
    """The period form and, when it is valid, the figures of one affiliate:
    totals and rows by day from the statistics rollup, postback deliveries by day, top offers, and
    the same as `chart_data` for the page's charts. `days` leaves out the days without activity
    (nothing counted, no postback sent); the charts keep every day."""
    form = DashboardPeriodForm(with_default_period(request.GET, days=DEFAULT_DAYS))
    if not form.is_valid():
        return {"form": form, "report": None}
    period = {"date_from": form.cleaned_data["date_from"], "date_to": form.cleaned_data["date_to"]}
    report = stats_report(affiliate=affiliate, **period)
    deliveries = delivery_success_by_day(affiliate=affiliate, **period)
    by_offer = stats_report(affiliate=affiliate, group_by="offer", **period)
    chart_data = {
        **chart_series(report),
        "delivery_rate": [None if day.rate is None else str(day.rate) for day in deliveries],
    }
    # A long period is mostly empty days: the table shows the others (the totals count them all).
    days = [
        (row, delivery)
        for row, delivery in zip(report.rows, deliveries, strict=True)
        if delivery.attempted or not row.figures.is_empty()
    ]
    return {
        "form": form,
        "report": report,
        "days": days,
        "empty_days": len(report.rows) - len(days),
        "deliveries": DeliveryDay(
            report.date_to,
            attempted=sum(day.attempted for day in deliveries),
            succeeded=sum(day.succeeded for day in deliveries),
        ),
        "top_offers": top_offers(by_offer, by=form.cleaned_data["top_by"]),
        "top_by": form.cleaned_data["top_by"],
        "chart_data": chart_data,
    }
