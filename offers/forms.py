"""Forms about offers: the portal's, and the fields other apps' filters name an offer or an
affiliate with."""

from django import forms

from offers.models import MAX_PUBLIC_ID, OfferAccess


def public_id_field(label: str) -> forms.IntegerField:
    """A filter naming an offer (offer id) or an affiliate (pid) by its public id."""
    return forms.IntegerField(label=label, required=False, min_value=1, max_value=MAX_PUBLIC_ID)


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
