"""Forms of the portal's own pages (the others live with their app)."""

from django import forms

from config.filters import use_date_pickers
from stats.forms import ReportPeriodForm
from stats.selectors import TOP_OFFERS_BY


class ApiKeyForm(forms.Form):
    """A new API key's label."""

    name = forms.CharField(label="Label", required=False, max_length=100)


class ConfirmForm(forms.Form):
    """The answer of a confirmation page (revoking an API key, replacing or clearing the signing
    secret): its button sends `confirm=yes`. A POST without it changes nothing, so that only
    someone who has seen what the step does can take it."""

    confirm = forms.ChoiceField(choices=[("yes", "Yes")])


class DashboardPeriodForm(ReportPeriodForm):
    """The dashboard's period, read like the Statistics page's (the last 30 days unless the query
    string names dates), and which offers it ranks on top."""

    top_by = forms.ChoiceField(
        label="Top offers by",
        choices=[(name, name.capitalize()) for name in TOP_OFFERS_BY],
        required=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        use_date_pickers(self)

    def clean(self):
        cleaned = super().clean()
        cleaned["top_by"] = cleaned.get("top_by") or TOP_OFFERS_BY[0]
        return cleaned
