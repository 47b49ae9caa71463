"""A report's period is read one way (stats.forms.ReportPeriodForm) by the Statistics page, its API
and the dashboards: at most MAX_DAYS UTC days, 30 by default."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from portal.forms import DashboardPeriodForm
from stats.forms import ManagerStatsFilterForm, ReportPeriodForm, StatsFilterForm
from stats.selectors import MAX_DAYS


def _forms(data):
    return [
        ReportPeriodForm(data),
        StatsFilterForm(data, offers=None),
        ManagerStatsFilterForm(data, offers=None),
        DashboardPeriodForm(data),
    ]


@pytest.mark.parametrize(
    ("data", "period"),
    [
        ({}, "the last 30 days"),
        ({"date_to": "2025-05-30"}, (date(2025, 5, 1), date(2025, 5, 30))),
        ({"date_from": "2025-01-01", "date_to": "2025-12-31"}, (date(2025, 1, 1), date(2025, 12, 31))),
        ({"date_from": "2024-01-01", "date_to": "2024-12-31"}, (date(2024, 1, 1), date(2024, 12, 31))),
        ({"date_from": "2024-01-01", "date_to": "2025-01-01"}, None),
    ],
)
def test_a_period_is_completed_to_30_days_and_refused_beyond_max_days(data, period):
    assert MAX_DAYS == 366
    if period == "the last 30 days":
        today = timezone.now().date()
        period = (today - timedelta(days=29), today)
    for form in _forms(data):
        if period is None:
            assert form.errors == {"date_to": [f"Choose a period of at most {MAX_DAYS} days."]}, form
        else:
            assert form.is_valid(), (form, form.errors)
            assert (form.cleaned_data["date_from"], form.cleaned_data["date_to"]) == period
