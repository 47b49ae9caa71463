"""Filters of postback lists, read from the query string. The postback log's filters live here once,
for the API and any page that lists deliveries; postbacks.selectors applies what they clean."""

from django import forms
from django.core.validators import RegexValidator

from config.filters import DateRangeForm
from offers.forms import public_id_field
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

    def clean_conversion(self):
        return self.cleaned_data["conversion"].lower()


class ManagerDeliveryFilterForm(DeliveryFilterForm):
    affiliate = public_id_field("pid")
