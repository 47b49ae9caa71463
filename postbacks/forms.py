"""The portal's postback forms: a postback (local or global), the affiliate's postback options and
signing secret, and the postback log's filters."""

import secrets

from django import forms

from config.filters import offer_choice_field, use_date_pickers
from offers.models import Affiliate, Offer
from postbacks.filters import DeliveryFilterForm
from postbacks.models import Postback


class PostbackForm(forms.ModelForm):
    """A postback of `affiliate`: local to `offer`, whose goals are the only ones offered, or
    global (`offer=None`), which has no goal. postbacks.services.postback_save saves it."""

    class Meta:
        model = Postback
        fields = ["url", "status", "goal", "integration_method", "method", "enabled"]
        labels = {"status": "Status", "integration_method": "Integration method", "method": "Method"}
        help_texts = {
            "url": "http:// or https://, with macros such as {clickid}, {sub1} or {sum}.",
            "status": "Which conversion events call this URL.",
            "method": "POST sends every macro's value as a form body as well.",
            "enabled": "A disabled postback is not called for new conversion events.",
        }
        widgets = {
            "url": forms.TextInput(
                attrs={
                    "inputmode": "url",
                    "autocomplete": "off",
                    "spellcheck": "false",
                    "placeholder": "https://tracker.example/postback?clickid={sub1}&payout={sum}",
                }
            ),
        }

    def __init__(self, *args, affiliate: Affiliate, offer: Offer | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.affiliate = affiliate
        self.instance.offer = offer
        if offer is None:
            del self.fields["goal"]
        else:
            self.fields["goal"] = forms.ModelChoiceField(
                queryset=offer.goals.order_by("pk"),
                required=False,
                empty_label="Any",
                label="Goal",
                error_messages={"invalid_choice": "Choose one of this offer's goals."},
            )


class PostbackOptionsForm(forms.ModelForm):
    class Meta:
        model = Affiliate
        fields = ["consider_global_postback"]
        labels = {"consider_global_postback": "Consider global postback"}

    def save(self):
        self.instance.save(update_fields=["consider_global_postback"])
        return self.instance


class SigningSecretForm(forms.Form):
    """Generate a new signing secret (returned, to be shown once) or clear it."""

    action = forms.ChoiceField(choices=[("generate", "Generate"), ("clear", "Clear")])

    def save(self, affiliate: Affiliate) -> str:
        affiliate.signing_secret = secrets.token_hex(32) if self.cleaned_data["action"] == "generate" else ""
        affiliate.save(update_fields=["signing_secret"])
        return affiliate.signing_secret


class DeliveryLogFilterForm(DeliveryFilterForm):
    """The postback log's filters in the portal: dates as date pickers, the offer picked from
    `offers`."""

    def __init__(self, *args, offers, **kwargs):
        super().__init__(*args, **kwargs)
        use_date_pickers(self)
        self.fields["offer"] = offer_choice_field(offers)
        self.fields["conversion"].label = "Conversion ID"
        self.fields["conversion"].help_text = ""
        self.fields["http_code"].help_text = "0: no answer"
