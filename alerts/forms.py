from django import forms


class AlertEmailsForm(forms.Form):
    alert_emails = forms.BooleanField(
        required=False,
        label="Email me when a postback starts failing, is disabled or recovers",
    )
