"""The conversion filters, validated once for the portal's statistics page, its CSV export and the API
(conversions.selectors.conversions_filtered applies what they clean), and a manager's status change
on a conversion's admin page."""

from django import forms

from config.filters import DateRangeForm, offer_choice_field, use_date_pickers
from conversions.lifecycle import manager_status_changes
from offers.choices import ConversionStatus
from offers.forms import public_id_field
from tracking.models import MAX_PARAMETER_LENGTH, SUB_FIELDS


class ConversionFilterForm(DateRangeForm):
    status = forms.TypedChoiceField(
        choices=[("", "Any status"), *ConversionStatus.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    offer = public_id_field("Offer")
    goal = forms.CharField(required=False, max_length=64, help_text="Goal value, e.g. install (any case)")
    sub1 = forms.CharField(required=False, max_length=MAX_PARAMETER_LENGTH)
    sub2 = forms.CharField(required=False, max_length=MAX_PARAMETER_LENGTH)
    sub3 = forms.CharField(required=False, max_length=MAX_PARAMETER_LENGTH)
    sub4 = forms.CharField(required=False, max_length=MAX_PARAMETER_LENGTH)
    sub5 = forms.CharField(required=False, max_length=MAX_PARAMETER_LENGTH)
    sub6 = forms.CharField(required=False, max_length=MAX_PARAMETER_LENGTH)
    sub7 = forms.CharField(required=False, max_length=MAX_PARAMETER_LENGTH)
    sub8 = forms.CharField(required=False, max_length=MAX_PARAMETER_LENGTH)


class ManagerConversionFilterForm(ConversionFilterForm):
    affiliate = public_id_field("pid")


class StatisticsFilterForm(ConversionFilterForm):
    """The portal's form: dates as date pickers, and the offer picked from `offers`."""

    def __init__(self, *args, offers, **kwargs):
        super().__init__(*args, **kwargs)
        use_date_pickers(self)
        self.fields["offer"] = offer_choice_field(offers)

    @property
    def sub_fields(self):
        return [self[name] for name in SUB_FIELDS]

    @property
    def has_sub_values(self) -> bool:
        return any(self.data.get(name) for name in SUB_FIELDS)


class ConversionStatusForm(forms.Form):
    """The new status of `conversion`, one of those a manager may move it to;
    conversions.lifecycle.conversion_set_status makes the change."""

    status = forms.TypedChoiceField(
        label="New status",
        coerce=int,
        help_text="The change is kept in the history and sends the affiliate's postbacks for the new status.",
    )

    def __init__(self, *args, conversion, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [
            (status.value, status.label) for status in manager_status_changes(conversion.status)
        ]
