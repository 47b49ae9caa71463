"""Invalid input answers one shape, whether a form of query parameters or a service refused it: the
messages per field, those about the input as a whole under `non_field_errors`."""

import pytest
from django import forms
from django.core.exceptions import ValidationError
from rest_framework import exceptions

from api.errors import api_exception_handler, cleaned_data


class PeriodForm(forms.Form):
    days = forms.IntegerField(min_value=1)

    def clean(self):
        raise ValidationError("Pick a period.")


def test_a_forms_errors_and_a_services_refusal_answer_the_same_shape():
    with pytest.raises(exceptions.ValidationError) as refused:
        cleaned_data(PeriodForm({"days": "0"}))
    answer = api_exception_handler(
        ValidationError(
            {"days": ["Ensure this value is greater than or equal to 1."], "__all__": ["Pick a period."]}
        ),
        {},
    )

    expected = {
        "days": ["Ensure this value is greater than or equal to 1."],
        "non_field_errors": ["Pick a period."],
    }
    assert refused.value.detail == expected
    assert answer.status_code == 400 and answer.data == expected
    assert api_exception_handler(ValidationError("Pick a period."), {}).data == {
        "non_field_errors": ["Pick a period."]
    }


def test_valid_parameters_are_answered_cleaned():
    class DaysForm(forms.Form):
        days = forms.IntegerField()

    assert cleaned_data(DaysForm({"days": "7"})) == {"days": 7}
