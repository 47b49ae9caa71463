from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html, format_html_join

from offers.models import (
    GOAL_FIELDS,
    OPEN_TO_ANYONE,
    Advertiser,
    Affiliate,
    Goal,
    Offer,
    OfferAccess,
    new_secure_code,
    next_public_number,
)
from offers.services import (
    advertiser_create,
    advertiser_update,
    affiliate_update,
    goals_problem,
    offer_access_decide,
    offer_save_with_goals,
)
from tracking.destination import MACROS as DESTINATION_MACROS
from tracking.destination import offer_url_warnings

OPEN_OFFER_WARNING = (
    "Offer {offer} takes advertiser postbacks from anyone: give it or its advertiser a secure code, "
    "or the advertiser an IP allowlist, or anyone who learns a click id can report conversions."
)
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


class GoalFormSet(BaseInlineFormSet):
    """An offer's goals, checked as a whole by offers.services.goals_problem (the rule the API's
    goals follow too) and saved with the offer by OfferAdmin.save_related."""

    def kept_forms(self) -> list:
        """The rows that stay the offer's goals: its goals not marked for deletion, and new rows."""
        deleted = self.deleted_forms if self.can_delete else []
        return [
            form
            for form in self.forms
            if form not in deleted and (form.instance.pk is not None or form.has_changed())
        ]

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        if problem := goals_problem([form.cleaned_data["value"] for form in self.kept_forms()]):
            raise ValidationError(problem)

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
    fields = GOAL_FIELDS


@admin.register(Advertiser)
class AdvertiserAdmin(admin.ModelAdmin):
    list_display = ["name", "offer_count", "has_secure_code", "created_at"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["name"]}),
        (
            "Advertiser postbacks",
            {"fields": ["secure_code", "ip_allowlist", "refusals_answer_200", "postback_url"]},
        ),
    ]
    readonly_fields = ["postback_url"]

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


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
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
        for warning in offer_url_warnings(offer):
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

    @admin.action(description="Pause selected offers")
    def pause(self, request, queryset):
        count = self._set_status(request, queryset, Offer.Status.PAUSED)
        self.message_user(request, f"{count} offer(s) paused.", messages.SUCCESS)

    @admin.action(description="Activate selected offers")
    def activate(self, request, queryset):
        count = self._set_status(request, queryset, Offer.Status.ACTIVE)
        self.message_user(request, f"{count} offer(s) activated.", messages.SUCCESS)


@admin.register(Affiliate)
class AffiliateAdmin(admin.ModelAdmin):
    list_display = ["pid", "user", "email", "status", "consider_global_postback", "created_at"]
    list_filter = ["status", "consider_global_postback"]
    list_select_related = ["user"]
    search_fields = ["=pid", "user__username", "user__email"]
    raw_id_fields = ["user"]
    actions = ["block", "activate"]
    exclude = ["signing_secret"]

    @admin.display(ordering="user__email")
    def email(self, obj):
        return obj.user.email

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

    @admin.action(description="Block selected affiliates")
    def block(self, request, queryset):
        count = self._set_status(queryset, Affiliate.Status.BLOCKED)
        self.message_user(request, f"{count} affiliate(s) blocked.", messages.SUCCESS)

    @admin.action(description="Activate selected affiliates")
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
        for access in queryset.select_related("affiliate", "offer"):
            offer_access_decide(access=access, status=status, decided_by=request.user)
        self.message_user(request, f"{queryset.count()} request(s) {status}.", messages.SUCCESS)

    @admin.action(description="Approve selected access requests")
    def approve(self, request, queryset):
        self._decide(request, queryset, OfferAccess.Status.APPROVED)

    @admin.action(description="Reject selected access requests")
    def reject(self, request, queryset):
        self._decide(request, queryset, OfferAccess.Status.REJECTED)
