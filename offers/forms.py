"""Portal forms about offers."""

from django import forms

from offers.models import OfferAccess


class OfferSearchForm(forms.Form):
    """The offer list's search: words of an offer's title, or its offer id."""

    q = forms.CharField(label="Search offers", required=False, max_length=100)


class OfferAccessFilterForm(forms.Form):
    """The managers' list of access requests, by status."""

    status = forms.ChoiceField(
        choices=[("", "Any status"), *OfferAccess.Status.choices],
        required=False,
        help_text="pending, approved or rejected",
    )
