"""Forms of the portal's own pages (the others live with their app)."""

from django import forms

from api.models import ApiKey


class ApiKeyForm(forms.Form):
    """A new API key's label."""

    name = forms.CharField(label="Label", required=False, max_length=100)


class ApiKeyRevokeForm(forms.Form):
    """The key to revoke: one of `user`'s, by its row id."""

    revoke = forms.ModelChoiceField(queryset=ApiKey.objects.none())

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["revoke"].queryset = ApiKey.objects.filter(user=user)
