"""The portal's postback forms: a postback (local or global), the affiliate's postback options and
signing secret, and the postback log's filters."""

from django import forms
from django.core.exceptions import ValidationError

from config.filters import offer_choice_field, use_date_pickers
from offers.access import offers_runnable_by
from offers.models import Affiliate, Offer
from postbacks import trackers
from postbacks.filters import DeliveryFilterForm
from postbacks.models import Postback
from postbacks.outbound import url_problem
from tracking.models import MAX_PARAMETER_LENGTH, SUB_FIELDS


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


class TrackerTemplateForm(forms.Form):
    """Fills the postback URL from a tracker's template (postbacks.trackers): which tracker, the
    sub that carries its click id, the status it is for and the affiliate's blanks. A GET form
    of its own above PostbackForm, its fields prefixed `template-`: "Use template" saves nothing
    and PostbackFormMixin shows the postback form again with the URL and status it filled in."""

    prefix = "template"

    tracker = forms.ChoiceField(
        label="Tracker",
        required=False,
        choices=[("", "None: type the URL"), *((t.key, t.name) for t in trackers.TEMPLATES)],
        error_messages={
            "invalid_choice": "There is no template for %(value)s: choose a tracker from the list."
        },
    )
    click_id_sub = forms.ChoiceField(
        label="Its click id is in",
        required=False,
        choices=[(name, name) for name in SUB_FIELDS],
        initial="sub1",
        help_text="The sub of your tracking link that carries your tracker's click id.",
        error_messages={"invalid_choice": f"Choose one of {', '.join(SUB_FIELDS)}."},
    )
    status = forms.ChoiceField(
        label="For status",
        required=False,
        choices=[("", "As the tracker suggests"), *Postback.StatusFilter.choices],
        help_text="A tracker that takes status words gets one postback per status.",
        error_messages={"invalid_choice": "Choose one of the statuses in the list."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for blank in trackers.BLANKS.values():
            self.fields[blank.name] = forms.CharField(
                label=blank.label, required=False, max_length=253, help_text=blank.help
            )

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("tracker") and "tracker" not in self.errors:
            self.add_error("tracker", "Choose the tracker whose template fills the URL.")
        return cleaned

    @classmethod
    def from_query(cls, query) -> "TrackerTemplateForm":
        """The form of a page's query: bound when "Use template" sent it (a GET, so that it works
        without JavaScript and saves nothing), else preselecting the tracker the address names
        (`?template-tracker=keitaro`)."""
        if "use_template" in query:
            return cls(query)
        tracker = query.get("template-tracker", "")
        return cls(initial={"tracker": tracker} if tracker in trackers.BY_KEY else {})

    def initial_postback(self) -> dict:
        """The postback form's initial URL and status, when "Use template" filled them."""
        if self.is_bound and (filled := self.filled()) is not None:
            return {"url": filled.url, "status": filled.status}
        return {}

    def blank_fields(self) -> list:
        return [self[name] for name in trackers.BLANKS]

    def chosen(self) -> trackers.TrackerTemplate | None:
        """The template chosen, sent or preselected."""
        key = self["tracker"].value()
        return trackers.BY_KEY.get(key) if isinstance(key, str) else None

    def filled(self) -> trackers.Filled | None:
        """The template filled in, or None with the form's errors set."""
        if not self.is_valid():
            return None
        try:
            return trackers.fill(
                trackers.BY_KEY[self.cleaned_data["tracker"]],
                click_id_sub=self.cleaned_data["click_id_sub"] or SUB_FIELDS[0],
                blanks=self.cleaned_data,
                status=self.cleaned_data["status"],
            )
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                self.add_error(name, messages)
            return None


class PostbackOptionsForm(forms.ModelForm):
    """The affiliate's postback options; offers.services.affiliate_update saves them."""

    class Meta:
        model = Affiliate
        fields = ["consider_global_postback"]
        labels = {"consider_global_postback": "Consider global postback"}


class SigningSecretForm(forms.Form):
    """Make a new signing secret (to be shown once), or go to the page that clears it."""

    action = forms.ChoiceField(choices=[("generate", "Generate"), ("clear", "Clear")])


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


class IntegrationTestForm(forms.Form):
    """The integration test wizard: an offer `affiliate` can run, and one of their postbacks (of that
    offer, or global) or a postback URL to try without saving it, with the tracking link's subs."""

    offer = forms.ModelChoiceField(queryset=Offer.objects.none(), to_field_name="offer_id")
    postback = forms.ModelChoiceField(
        queryset=Postback.objects.none(),
        required=False,
        empty_label="None: try the URL below",
        help_text="One of this offer's postbacks, or a global one.",
    )
    url = forms.CharField(
        label="Or a postback URL to try",
        max_length=2048,
        required=False,
        help_text="Not saved. Macros such as {clickid}, {sub1}, {status} and {sum} are filled in.",
    )

    def __init__(self, *args, affiliate: Affiliate, **kwargs):
        super().__init__(*args, **kwargs)
        self.affiliate = affiliate
        self.fields["offer"].queryset = offers_runnable_by(affiliate).order_by("offer_id")
        self.fields["offer"].label_from_instance = lambda offer: f"#{offer.offer_id} {offer.title}"
        self.fields["postback"].queryset = Postback.objects.filter(affiliate=affiliate).select_related(
            "offer", "goal"
        )
        self.fields["postback"].label_from_instance = self._postback_label
        for name in SUB_FIELDS:
            self.fields[name] = forms.CharField(
                label=name, max_length=MAX_PARAMETER_LENGTH, required=False, initial=f"test_{name}"
            )

    @staticmethod
    def _postback_label(postback: Postback) -> str:
        scope = "Global" if postback.offer is None else f"Offer #{postback.offer.offer_id}"
        return f"{scope}: {postback.url}"

    def clean(self):
        cleaned = super().clean()
        offer, postback, url = cleaned.get("offer"), cleaned.get("postback"), cleaned.get("url", "").strip()
        if postback is not None and url:
            self.add_error("url", "Pick a postback or type a URL, not both.")
        elif postback is None and not url and "postback" not in self.errors:
            self.add_error("postback", "Pick one of your postbacks or type a postback URL to try.")
        if postback is not None and offer is not None and postback.offer not in (None, offer):
            self.add_error(
                "postback", "This postback is for another offer: pick one of this offer or a global one."
            )
        if url and postback is None and (problem := url_problem(url)):
            self.add_error("url", problem)
        cleaned["url"] = url
        cleaned["subs"] = {name: cleaned.get(name, "") for name in SUB_FIELDS}
        return cleaned


class IntegrationTestAffiliateForm(forms.Form):
    """The managers' wizard: whose integration to test."""

    affiliate = forms.ModelChoiceField(
        queryset=Affiliate.objects.filter(status=Affiliate.Status.ACTIVE).select_related("user"),
        to_field_name="pid",
    )
