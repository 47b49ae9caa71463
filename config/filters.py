"""Filter forms' periods, shared by the portal and the API, so that both read a period the same way
and refuse the same bad days with the same messages."""

from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Q
from django.utils import timezone

# The days a filter may name. Nothing the platform records is older or newer, and a period
# completed or counted from a day at either end stays far from the calendar's limits (year 1 and
# 9999), past which date arithmetic fails.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
DAY_RANGE_MESSAGE = f"Enter a date from {FIRST_DAY:%Y-%m-%d} to {LAST_DAY:%Y-%m-%d}."
DATE_MESSAGES = {"invalid": "Enter a date as YYYY-MM-DD."}


def date_field(**kwargs) -> forms.DateField:
    """A day as YYYY-MM-DD, from FIRST_DAY to LAST_DAY."""
    return forms.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages=DATE_MESSAGES,
        validators=[
            MinValueValidator(FIRST_DAY, DAY_RANGE_MESSAGE),
            MaxValueValidator(LAST_DAY, DAY_RANGE_MESSAGE),
        ],
        **kwargs,
    )


class DateRangeForm(forms.Form):
    """`date_from` and `date_to` as YYYY-MM-DD: whole days in UTC, both included, each from
    FIRST_DAY to LAST_DAY, the end not before the start and, when `max_days` is set, a period of
    at most that many days."""

    max_days: int | None = None

    date_from = date_field(label="From", help_text="First day (UTC)")
    date_to = date_field(label="To", help_text="Last day (UTC), included")

    def clean(self):
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", "The end date is before the start date.")
        elif date_from and date_to and self.max_days and (date_to - date_from).days + 1 > self.max_days:
            self.add_error("date_to", f"Choose a period of at most {self.max_days} days.")
        return cleaned


def use_date_pickers(form: forms.Form) -> None:
    """Show a portal form's period as the browser's date pickers."""
    for name in ("date_from", "date_to"):
        form.fields[name].widget = forms.DateInput(
            attrs={"type": "date", "min": FIRST_DAY.isoformat(), "max": LAST_DAY.isoformat()},
            format="%Y-%m-%d",
        )


def offer_choice_field(offers) -> forms.TypedChoiceField:
    """A portal form's offer filter: one of `offers`, by offer id."""
    return forms.TypedChoiceField(
        label="Offer",
        choices=[("", "All offers"), *((offer.offer_id, str(offer)) for offer in offers)],
        coerce=int,
        empty_value=None,
        required=False,
    )


def complete_period(form: forms.Form, days: int) -> None:
    """Fill in a period left open in `form.cleaned_data`: up to today (UTC), and `days` long."""
    cleaned = form.cleaned_data
    if "date_from" in form.errors or "date_to" in form.errors:
        return
    if cleaned.get("date_to") is None:
        cleaned["date_to"] = timezone.now().date()
    if cleaned.get("date_from") is None:
        cleaned["date_from"] = cleaned["date_to"] - timedelta(days=days - 1)


def with_default_period(query, days: int = 30):
    """A copy of a query string that names the last `days` days (today included) when it names no
    dates: a first visit shows a recent period, a period cleared on purpose stays open."""
    data = query.copy()
    if "date_from" not in data and "date_to" not in data:
        today = timezone.now().date()  # UTC
        data["date_from"] = (today - timedelta(days=days - 1)).isoformat()
        data["date_to"] = today.isoformat()
    return data


def period_q(field: str, date_from: date | None, date_to: date | None) -> Q:
    """`field` inside the days from `date_from` to `date_to` (UTC, both included; None: unbounded)."""
    q = Q()
    if date_from:
        q &= Q(**{f"{field}__gte": datetime.combine(date_from, time.min, tzinfo=UTC)})
    # The last representable day has no next midnight to stop before; it is unbounded anyway.
    if date_to and date_to < date.max:
        q &= Q(**{f"{field}__lt": datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC)})
    return q
