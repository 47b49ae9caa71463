"""Filters of postback lists, read from the query string. The postback log's filters live here once,
for the API and any page that lists deliveries; postbacks.selectors applies what they clean."""

from django import forms
from django.core.validators import RegexValidator

from config.filters import DateRangeForm
from offers.forms import public_id_field
from postbacks.backfill import Period, period_problem
from postbacks.models import Delivery


class PostbackFilterForm(forms.Form):
    offer = public_id_field("Offer ID")


class DeliveryFilterForm(DateRangeForm):
    state = forms.ChoiceField(
        label="State", choices=[("", "Any state"), *Delivery.State.choices], required=False
    )
    offer = public_id_field("Offer ID")
    conversion = forms.CharField(
        required=False,
        max_length=24,
        validators=[
            RegexValidator(r"^[0-9a-fA-F]{24}$", "Enter a conversion id: 24 hexadecimal characters.")
        ],
        help_text="Conversion id (24 hex characters)",
    )
    http_code = forms.IntegerField(
        label="HTTP code", required=False, min_value=0, max_value=999, help_text="HTTP code; 0: no answer"
    )
    kind = forms.ChoiceField(
        label="Kind",
        choices=[("", "Live and backfill"), ("live", "Live"), ("backfill", "Backfill")],
        required=False,
        help_text="backfill: sent for a past conversion",
    )

    def clean_conversion(self):
        return self.cleaned_data["conversion"].lower()


class ManagerDeliveryFilterForm(DeliveryFilterForm):
    affiliate = public_id_field("pid")


class FailedDeliveryFilterForm(DateRangeForm):
    """Which failed deliveries a bulk replay sends again: by offer, period (the deliveries'
    creation, whole UTC days) and the HTTP code of their last attempt (0: no answer)."""

    offer = public_id_field("Offer ID")
    http_code = forms.IntegerField(
        label="HTTP code", required=False, min_value=0, max_value=999, help_text="HTTP code; 0: no answer"
    )


class ManagerFailedDeliveryFilterForm(FailedDeliveryFilterForm):
    affiliate = public_id_field("pid")


class BackfillPeriodForm(DateRangeForm):
    """The period of a backfill: both days required, at most postbacks.backfill.MAX_DAYS long."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("date_from", "date_to"):
            self.fields[name].required = True
            self.fields[name].error_messages["required"] = "Enter a day as YYYY-MM-DD."

    def clean(self):
        cleaned = super().clean()
        if not self.errors and (problem := period_problem(self.period)):
            self.add_error("date_to", problem)
        return cleaned

    @property
    def period(self) -> Period:
        return Period(self.cleaned_data["date_from"], self.cleaned_data["date_to"])
