from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from config.admin_confirmation import Column, confirmation_page, confirmed
from offers.models import (
    GOAL_FIELDS,
    OPEN_TO_ANYONE,
    Advertiser,
    Affiliate,
    Goal,
    GoalCountryPayout,
    Offer,
    OfferAccess,
    new_secure_code,
    next_public_number,
)
from offers.payouts import COUNTRY_AMOUNTS, TERMS, WITH_FIXED, WITH_PERCENT, country_payouts_problems
from offers.services import (
    advertiser_create,
    advertiser_update,
    affiliate_update,
    country_payouts_misfit,
    goal_set_country_payouts,
    goals_problem,
    offer_access_decide,
    offer_save_with_goals,
)
from offers.targeting import (
    OS_FAMILIES,
    DeviceType,
    normalised_country_codes,
    normalised_os_families,
    os_family_warnings,
    split_text,
    validate_country_codes,
    validate_os_families,
)
from tracking.destination import MACROS as DESTINATION_MACROS
from tracking.destination import offer_url_warnings

OPEN_OFFER_WARNING = (
    "Offer {offer} takes advertiser postbacks from anyone: give it or its advertiser a secure code, "
    "or the advertiser an IP allowlist, or anyone who learns a click id can report conversions."
)


def overview_link(url_name: str, kwargs: dict) -> str:
    """The link to a partner's page in the manager console (manager/views/partners.py)."""
    return format_html('<a href="{}">Overview</a>', reverse(url_name, kwargs=kwargs))


OPEN_ADVERTISER_WARNING = (
    "{advertiser} has neither a secure code nor an IP allowlist: its offers without a secure code "
    "of their own ({count} now) take advertiser postbacks, and so conversions, from anyone."
)

DESTINATION_MACROS_HELP = format_html(
    "Macros in these URLs are filled in on every click: {}.",
    format_html_join(
        ", ", "<code title='{}'>{{{}}}</code>", ((what, name) for name, what in DESTINATION_MACROS.items())
    ),
)


class RowsFormSet(BaseInlineFormSet):
    """Inline rows checked as a whole before they are saved."""

    def kept_forms(self) -> list:
        """The rows that stay: the stored ones not marked for deletion, and new rows filled in."""
        deleted = self.deleted_forms if self.can_delete else []
        return [
            form
            for form in self.forms
            if form not in deleted and (form.instance.pk is not None or form.has_changed())
        ]


class GoalFormSet(RowsFormSet):
    """An offer's goals, checked as a whole by offers.services.goals_problem (the rule the API's
    goals follow too) and saved with the offer by OfferAdmin.save_related."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        if problem := goals_problem([form.cleaned_data["value"] for form in self.kept_forms()]):
            raise ValidationError(problem)
        # A changed goal's instance holds its new terms, which its payouts by country must fit.
        misfits = [country_payouts_misfit(form.instance) for form in self.kept_forms()]
        if any(misfits):
            raise ValidationError([misfit for misfit in misfits if misfit])

    def goals(self) -> list[dict]:
        """The kept rows as offers.services.offer_save_with_goals takes them: by id when saved."""
        goals = []
        for form in self.kept_forms():
            fields = {name: form.cleaned_data[name] for name in GOAL_FIELDS}
            goals.append(fields if form.instance.pk is None else {"id": form.instance.pk, **fields})
        return goals


class GoalInline(admin.TabularInline):
    model = Goal
    formset = GoalFormSet
    extra = 0
    min_num = 1  # the add page opens with one goal row
    fields = [*GOAL_FIELDS, "payouts_by_country"]
    readonly_fields = ["payouts_by_country"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("country_payouts")

    @admin.display(description="payouts by country")
    def payouts_by_country(self, goal):
        """The countries the goal pays otherwise, linked to the goal's page that edits them."""
        if goal.pk is None:
            return "Once the goal is saved."
        codes = ", ".join(row.country for row in goal.country_payouts.all())
        url = reverse("admin:offers_goal_change", args=[goal.pk])
        return format_html('<a href="{}">{}</a>', url, codes or "Add")


class CountryPayoutForm(forms.ModelForm):
    class Meta:
        model = GoalCountryPayout
        fields = ["country", *COUNTRY_AMOUNTS]

    def clean_country(self):
        # As in the manager API: lower case is taken as upper case ("de" is "DE").
        return self.cleaned_data["country"].upper()


class CountryPayoutFormSet(RowsFormSet):
    """A goal's payouts by country, checked as a whole by offers.payouts.country_payouts_problems
    (the rule the API's follow too) and saved by GoalAdmin.save_related through
    offers.services.goal_set_country_payouts."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        terms = {name: getattr(self.instance, name) for name in TERMS}
        rows = self.country_payouts()
        for form, problems in zip(self.kept_forms(), country_payouts_problems(terms, rows), strict=True):
            for field, message in problems.items():
                form.add_error(field if field in form.fields else None, message)

    def country_payouts(self) -> list[dict]:
        """The kept rows as goal_set_country_payouts takes them; the amounts a goal's types leave
        out of the form are the row's own (0 for a new row)."""
        return [
            {name: getattr(form.instance, name) for name in ["country", *COUNTRY_AMOUNTS]}
            for form in self.kept_forms()
        ]


class CountryPayoutInline(admin.TabularInline):
    """A goal's amounts in some countries. Only the columns its types use are shown: a fixed
    payout has an amount and no percent, a percent payout a percent and no amount."""

    model = GoalCountryPayout
    form = CountryPayoutForm
    formset = CountryPayoutFormSet
    extra = 1
    verbose_name = "payout in a country"
    verbose_name_plural = "payouts by country"

    def get_fields(self, request, obj=None):
        fields = ["country"]
        for side in ["payout", "revenue"]:
            kind = getattr(obj, f"{side}_type", None)
            if kind in WITH_FIXED:
                fields.append(side)
            if kind in WITH_PERCENT:
                fields.append(f"{side}_percent")
        return fields

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        # A new row starts with the goal's own amounts: a manager changes what differs. The form
        # class is made for this request, so its fields are this goal's alone.
        if obj is not None:
            for name, field in formset.form.base_fields.items():
                if name in COUNTRY_AMOUNTS:
                    field.initial = getattr(obj, name)
        return formset


@admin.register(Goal)
class GoalAdmin(admin.ModelAdmin):
    """A goal's page: its payouts by country. The goal itself is added, changed and deleted with
    its offer (OfferAdmin), as the API writes it."""

    list_display = ["title", "value", "offer", "payout_terms", "countries"]
    list_select_related = ["offer"]
    search_fields = ["value", "title", "=offer__offer_id", "offer__title"]
    fields = ["offer_link", "value", "title", *TERMS, "currency"]
    readonly_fields = fields
    inlines = [CountryPayoutInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("country_payouts")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="offer")
    def offer_link(self, goal):
        url = reverse("admin:offers_offer_change", args=[goal.offer_id])
        return format_html(
            '<a href="{}">{}</a><div class="help">The goal\'s terms are changed on its offer\'s page.</div>',
            url,
            goal.offer,
        )

    @admin.display(description="payouts by country")
    def countries(self, goal):
        return ", ".join(row.country for row in goal.country_payouts.all()) or "-"

    def save_model(self, request, obj, form, change):
        """Nothing: the goal's own fields are read-only here; save_related writes its countries."""

    def save_related(self, request, form, formsets, change):
        # The formset's own save, without writing, lists what changed for the admin's history.
        # Without a right to payouts by country, a manager's form has none: they stay as they are.
        country_forms = next(iter(formsets), None)
        if country_forms is None:
            return
        country_forms.save(commit=False)
        goal_set_country_payouts(goal=form.instance, country_payouts=country_forms.country_payouts())


@admin.register(Advertiser)
class AdvertiserAdmin(admin.ModelAdmin):
    list_display = ["name", "offer_count", "has_secure_code", "created_at", "overview"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "overview"]}),
        (
            "Advertiser postbacks",
            {"fields": ["secure_code", "ip_allowlist", "refusals_answer_200", "postback_url"]},
        ),
    ]
    readonly_fields = ["postback_url", "overview"]

    @admin.display(description="overview")
    def overview(self, obj):
        """Its offers' figures, refused postbacks and protection on one page."""
        if obj.pk is None:
            return "Shown once the advertiser is saved."
        return overview_link("admin-advertiser-overview", {"pk": obj.pk})

    def get_changeform_initial_data(self, request):
        # What advertiser_create would generate, shown so that a manager can keep, replace or
        # (on purpose) clear it.
        return {"secure_code": new_secure_code(), **super().get_changeform_initial_data(request)}

    def save_model(self, request, obj, form, change):
        fields = {
            "name": obj.name,
            "secure_code": obj.secure_code,
            "ip_allowlist": obj.ip_allowlist,
            "refusals_answer_200": obj.refusals_answer_200,
        }
        if change:
            advertiser_update(advertiser=obj, **fields)
        else:
            created = advertiser_create(**fields)
            obj.pk, obj.created_at = created.pk, created.created_at
        if not (obj.secure_code or obj.ip_allowlist):
            count = obj.offers.filter(secure_code="").count()
            self.message_user(
                request, OPEN_ADVERTISER_WARNING.format(advertiser=obj, count=count), messages.WARNING
            )

    @admin.display(description="postback URL")
    def postback_url(self, obj):
        if obj.pk is None:
            return "Shown once the advertiser is saved."
        return format_html(
            "<code>{}</code><div class='help'>Give it to the advertiser: it replaces the braces with "
            "its own values. An offer with a secure code of its own needs that code instead.</div>",
            obj.postback_url,
        )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(offer_count=Count("offers"))

    @admin.display(description="offers", ordering="offer_count")
    def offer_count(self, obj):
        return obj.offer_count

    @admin.display(boolean=True, description="secure code")
    def has_secure_code(self, obj):
        return bool(obj.secure_code)


class PostbackProtectionFilter(admin.SimpleListFilter):
    title = "advertiser postbacks"
    parameter_name = "postbacks"

    def lookups(self, request, model_admin):
        return [("open", "Open to anyone"), ("protected", "Protected")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(OPEN_TO_ANYONE)
        if self.value() == "protected":
            return queryset.exclude(OPEN_TO_ANYONE)
        return queryset


class TypedListField(forms.Field):
    """A list typed as text in one field ("US, DE"), shown the same way; the items are split
    and normalised by offers.targeting, then checked by the model field's validator."""

    widget = forms.TextInput(attrs={"size": 60})
    # Longer than any list the validators accept, written with separators.
    MAX_TEXT = 2000

    def __init__(self, *, normalise, by_spaces: bool, **kwargs):
        self.normalise, self.by_spaces = normalise, by_spaces
        super().__init__(required=False, **kwargs)

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        text = value or ""
        if len(text) > self.MAX_TEXT:
            raise ValidationError(f"Type at most {self.MAX_TEXT} characters.")
        if "\x00" in text:
            raise ValidationError("Null characters are not allowed.")
        return self.normalise(split_text(text, by_spaces=self.by_spaces))


class OfferAdminForm(forms.ModelForm):
    target_countries = TypedListField(
        label="Countries",
        normalise=normalised_country_codes,
        by_spaces=True,
        validators=[validate_country_codes],
        help_text="Country codes (ISO 3166-1 alpha-2) separated by commas, such as US, DE. "
        "Empty: visitors from every country.",
    )
    target_os_families = TypedListField(
        label="OS families",
        normalise=normalised_os_families,
        by_spaces=False,
        validators=[validate_os_families],
        help_text=f"Operating systems separated by commas, such as {', '.join(OS_FAMILIES[:6])}; "
        "compared without regard to case. Empty: every operating system.",
    )
    target_device_types = forms.MultipleChoiceField(
        label="Device types",
        choices=DeviceType.CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every device type.",
    )

    class Meta:
        model = Offer
        # OfferAdmin's fieldsets give the form's fields; these are the ones it declares.
        fields = ["target_countries", "target_os_families", "target_device_types"]


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    form = OfferAdminForm
    list_display = [
        "offer_id",
        "title",
        "advertiser",
        "status",
        "visibility",
        "click_lifetime_days",
        "postbacks_protected",
        "created_at",
    ]
    list_display_links = ["offer_id", "title"]
    list_filter = ["status", "visibility", PostbackProtectionFilter, "advertiser"]
    list_select_related = ["advertiser"]
    search_fields = ["=offer_id", "title", "advertiser__name"]
    autocomplete_fields = ["advertiser"]
    inlines = [GoalInline]
    actions = ["pause", "activate"]

    class Media:
        css = {"all": ["css/admin-goals.css"]}

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # A goal is a row of a dozen inputs: the sidebar of every app's models gives them its room.
        extra_context = {"is_nav_sidebar_enabled": False, **(extra_context or {})}
        return super().changeform_view(request, object_id, form_url, extra_context)

    fieldsets = [
        (None, {"fields": ["offer_id", "advertiser", "title", "description", "status", "visibility"]}),
        (
            "Links",
            {
                "fields": [
                    "destination_url",
                    "preview_url",
                    "trafficback_url",
                    "allow_deeplinks",
                    "deeplink_domains",
                ],
                "description": DESTINATION_MACROS_HELP,
            },
        ),
        (
            "Targeting",
            {
                "fields": ["target_countries", "target_os_families", "target_device_types"],
                "description": "Visitors outside the targeting go to the trafficback URL, or get an "
                "error page, and are counted as refused clicks.",
            },
        ),
        ("Conversions", {"fields": ["click_lifetime_days", "hold_period_days", "secure_code"]}),
    ]

    def get_changeform_initial_data(self, request):
        return {
            "offer_id": next_public_number(Offer, "offer_id"),
            **super().get_changeform_initial_data(request),
        }

    def save_model(self, request, obj, form, change):
        """Nothing yet: the offer is saved with its goals in save_related."""

    def save_related(self, request, form, formsets, change):
        # The offer and its goals are saved by offer_save_with_goals, like the API's. The
        # formset's own save, without writing, lists what changed for the admin's history.
        # Without a right to goals, a manager's form has no goal rows: the goals stay as they are.
        goal_forms = next(iter(formsets), None)
        if goal_forms is not None:
            goal_forms.save(commit=False)
        goals = goal_forms.goals() if goal_forms is not None else None
        offer = offer_save_with_goals(offer=form.instance, goals=goals)
        if offer.takes_postbacks_from_anyone:
            self.message_user(request, OPEN_OFFER_WARNING.format(offer=offer), messages.WARNING)
        for warning in offer_url_warnings(offer) + os_family_warnings(offer):
            self.message_user(request, warning, messages.WARNING)

    @admin.display(boolean=True, description="postbacks protected")
    def postbacks_protected(self, obj):
        """False (a red mark) for an offer that takes advertiser postbacks from anyone."""
        return not obj.takes_postbacks_from_anyone

    def _set_status(self, request, queryset, status) -> int:
        """Saves each offer with its new status as the API would; answers how many were saved."""
        saved = 0
        for offer in queryset.select_related("advertiser"):
            offer.status = status
            try:
                offer_save_with_goals(offer=offer, goals=None)
            except ValidationError as refused:
                self.message_user(request, f"{offer}: {' '.join(refused.messages)}", messages.ERROR)
            else:
                saved += 1
        return saved

    @admin.action(description="Pause selected offers", permissions=["change"])
    def pause(self, request, queryset):
        """Pause the offers once the confirmation page has sent `post=yes`: a paused offer stops
        taking traffic and conversions within seconds."""
        if not confirmed(request):
            count = queryset.count()
            paused = queryset.filter(status=Offer.Status.PAUSED).count()
            effects = [
                f"{count - paused} of the {count} selected offer(s) will be paused: within seconds, "
                "clicks on them are refused (or sent to their trafficback URL), advertiser postbacks "
                "for them are refused (“Offer disabled”), also for clicks made before, and affiliates "
                "no longer see them.",
            ]
            if paused:
                effects.append(f"{paused} of them already paused: nothing changes for them.")
            return confirmation_page(
                self,
                request,
                queryset.select_related("advertiser"),
                title=f"Pause {count - paused} offer(s)?",
                effects=effects,
                button=f"Yes, pause {count - paused} offer(s)",
                columns=[
                    Column("Offer", lambda offer: offer),
                    Column("Advertiser", lambda offer: offer.advertiser),
                    Column("Status now", lambda offer: offer.get_status_display()),
                ],
            )
        count = self._set_status(request, queryset, Offer.Status.PAUSED)
        self.message_user(request, f"{count} offer(s) paused.", messages.SUCCESS)

    @admin.action(description="Activate selected offers", permissions=["change"])
    def activate(self, request, queryset):
        count = self._set_status(request, queryset, Offer.Status.ACTIVE)
        self.message_user(request, f"{count} offer(s) activated.", messages.SUCCESS)


@admin.register(Affiliate)
class AffiliateAdmin(admin.ModelAdmin):
    list_display = ["pid", "user", "email", "status", "consider_global_postback", "created_at", "overview"]
    list_filter = ["status", "consider_global_postback"]
    list_select_related = ["user"]
    search_fields = ["=pid", "user__username", "user__email"]
    raw_id_fields = ["user"]
    actions = ["block", "activate"]
    exclude = ["signing_secret"]
    readonly_fields = ["overview"]

    @admin.display(ordering="user__email")
    def email(self, obj):
        return obj.user.email

    @admin.display(description="overview")
    def overview(self, obj):
        """Its figures, offers, postbacks and their health, API keys and refusals on one page."""
        if obj.pk is None:
            return "Shown once the affiliate is saved."
        return overview_link("admin-affiliate-overview", {"pid": obj.pid})

    def get_changeform_initial_data(self, request):
        return {"pid": next_public_number(Affiliate, "pid"), **super().get_changeform_initial_data(request)}

    def save_model(self, request, obj, form, change):
        if not change:
            # The add form gives a login that exists already an affiliate account (affiliate_create
            # would make a new login).
            super().save_model(request, obj, form, change)
            return
        affiliate_update(
            affiliate=obj,
            pid=obj.pid,
            user=obj.user,
            status=obj.status,
            consider_global_postback=obj.consider_global_postback,
        )

    def _set_status(self, queryset, status) -> int:
        # affiliate_update checks only the status it changes, which the action gives: never refused.
        affiliates = list(queryset.select_related("user"))
        for affiliate in affiliates:
            affiliate_update(affiliate=affiliate, status=status)
        return len(affiliates)

    @admin.action(description="Block selected affiliates", permissions=["change"])
    def block(self, request, queryset):
        """Block the affiliates once the confirmation page has sent `post=yes`: a blocked
        affiliate's traffic, portal and API stop within seconds."""
        if not confirmed(request):
            count = queryset.count()
            blocked = queryset.filter(status=Affiliate.Status.BLOCKED).count()
            effects = [
                f"{count - blocked} of the {count} selected affiliate(s) will be blocked: within seconds, "
                "clicks on their links are refused, and the portal and the API refuse them (403). "
                "Conversions of clicks made before still count, and their history stays.",
            ]
            if blocked:
                effects.append(f"{blocked} of them already blocked: nothing changes for them.")
            return confirmation_page(
                self,
                request,
                queryset.select_related("user"),
                title=f"Block {count - blocked} affiliate(s)?",
                effects=effects,
                button=f"Yes, block {count - blocked} affiliate(s)",
                columns=[
                    Column("Affiliate", lambda affiliate: affiliate),
                    Column("Email", lambda affiliate: affiliate.user.email),
                    Column("Status now", lambda affiliate: affiliate.get_status_display()),
                ],
            )
        count = self._set_status(queryset, Affiliate.Status.BLOCKED)
        self.message_user(request, f"{count} affiliate(s) blocked.", messages.SUCCESS)

    @admin.action(description="Activate selected affiliates", permissions=["change"])
    def activate(self, request, queryset):
        count = self._set_status(queryset, Affiliate.Status.ACTIVE)
        self.message_user(request, f"{count} affiliate(s) activated.", messages.SUCCESS)


@admin.register(OfferAccess)
class OfferAccessAdmin(admin.ModelAdmin):
    list_display = ["affiliate", "offer", "status", "requested_at", "decided_at", "decided_by"]
    list_filter = ["status", "offer"]
    list_select_related = ["affiliate__user", "offer", "decided_by"]
    search_fields = ["=affiliate__pid", "affiliate__user__username", "=offer__offer_id", "offer__title"]
    raw_id_fields = ["affiliate", "offer"]
    readonly_fields = ["requested_at", "decided_at", "decided_by"]
    actions = ["approve", "reject"]

    def save_model(self, request, obj, form, change):
        if "status" in form.changed_data and obj.status != OfferAccess.Status.PENDING:
            offer_access_decide(access=obj, status=obj.status, decided_by=request.user)
        else:
            super().save_model(request, obj, form, change)

    def _decide(self, request, queryset, status):
        """Decide the requests once the confirmation page has sent `post=yes`: a decision changes
        which offers the affiliate's links work for, within seconds."""
        accesses = queryset.select_related("affiliate__user", "offer")
        if not confirmed(request):
            return self._decide_confirmation(request, accesses, status)
        # Counted from what the service answers: the queryset counted again afterwards is the
        # list's filter run anew (`?status__exact=pending` finds none of the rows just decided).
        decided = sum(
            offer_access_decide(access=access, status=status, decided_by=request.user).status == status
            for access in accesses
        )
        self.message_user(request, f"{decided} request(s) {status}.", messages.SUCCESS)

    def _decide_confirmation(self, request, accesses, status):
        count = accesses.count()
        unchanged = accesses.filter(status=status).count()
        if status == OfferAccess.Status.APPROVED:
            what = (
                "Each affiliate may then send traffic to the offer: clicks on their links to it are "
                "accepted within seconds."
            )
        else:
            what = (
                "Each affiliate may then send no traffic to the offer: clicks on their links to it are "
                "refused (“Access denied”) within seconds; conversions of clicks made before still count."
            )
        effects = [
            f"{count - unchanged} of the {count} selected request(s) will be {status.label.lower()}. {what} "
            "Access matters only for private offers: every active affiliate may run a public one.",
            "The decision is recorded with your name and the time.",
        ]
        if unchanged:
            effects.append(f"{unchanged} of them already {status.label.lower()}: decided again, now, by you.")
        verb = "approve" if status == OfferAccess.Status.APPROVED else "reject"
        return confirmation_page(
            self,
            request,
            accesses,
            title=f"{verb.capitalize()} {count} access request(s)?",
            effects=effects,
            button=f"Yes, {verb} {count} request(s)",
            columns=[
                Column("Affiliate", lambda access: access.affiliate),
                Column("Offer", lambda access: access.offer),
                Column("Private offer", lambda access: "yes" if access.offer.is_private else "no (public)"),
                Column("Status now", lambda access: access.get_status_display()),
                Column("Requested", lambda access: f"{access.requested_at:%Y-%m-%d %H:%M} UTC"),
            ],
        )

    @admin.action(description="Approve selected access requests", permissions=["change"])
    def approve(self, request, queryset):
        return self._decide(request, queryset, OfferAccess.Status.APPROVED)

    @admin.action(description="Reject selected access requests", permissions=["change"])
    def reject(self, request, queryset):
        return self._decide(request, queryset, OfferAccess.Status.REJECTED)
