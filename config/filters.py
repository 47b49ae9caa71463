"""Filter forms shared by the portal and the API, so that both read a period, an offer id or a pid
the same way and refuse the same bad values with the same messages."""

from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.db.models import Q
from django.utils import timezone

from offers.models import MAX_PUBLIC_ID

DATE_MESSAGES = {"invalid": "Enter a date as YYYY-MM-DD."}


def public_id_field(label: str) -> forms.IntegerField:
    return forms.IntegerField(label=label, required=False, min_value=1, max_value=MAX_PUBLIC_ID)


class DateRangeForm(forms.Form):
    """`date_from` and `date_to` as YYYY-MM-DD: whole days in UTC, both included."""

    date_from = forms.DateField(
        label="From",
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages=DATE_MESSAGES,
        help_text="First day (UTC)",
    )
    date_to = forms.DateField(
        label="To",
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages=DATE_MESSAGES,
        help_text="Last day (UTC), included",
    )

    def clean(self):
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned


def use_date_pickers(form: forms.Form) -> None:
    """Show a portal form's period as the browser's date pickers."""
    for name in ("date_from", "date_to"):
        form.fields[name].widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


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


class NetworkFilterForm(DateRangeForm):
    """A manager's filters over the whole network: period, offer (public id) and affiliate (pid)."""

    offer = public_id_field("Offer ID")
    affiliate = public_id_field("pid")


def period_q(field: str, date_from: date | None, date_to: date | None) -> Q:
    """`field` inside the days from `date_from` to `date_to` (UTC, both included; None: unbounded)."""
    q = Q()
    if date_from:
        q &= Q(**{f"{field}__gte": datetime.combine(date_from, time.min, tzinfo=UTC)})
    # The last representable day has no next midnight to stop before; it is unbounded anyway.
    if date_to and date_to < date.max:
        q &= Q(**{f"{field}__lt": datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC)})
    return q
