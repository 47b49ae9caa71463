import uuid
from collections import defaultdict

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from config.admin_base import TrafficRecordAdmin
from config.admin_confirmation import Column, confirmation_page, confirmed
from postbacks import backfill, trackers
from postbacks.explanations import explain
from postbacks.filters import BackfillPeriodForm
from postbacks.forms import TrackerTemplateForm
from postbacks.models import Delivery, DeliveryAttempt, Postback
from postbacks.selectors import deliveries_replayable, troubled_postbacks
from postbacks.services import (
    REPLAY_MAX,
    deliveries_replay_failed,
    delivery_retry,
    postback_backfill,
    postback_delete,
    postback_save,
    postback_send_test,
)


class ScopeFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request, model_admin):
        return [("global", "Global"), ("local", "Local (one offer)")]

    def queryset(self, request, queryset):
        if self.value() == "global":
            return queryset.filter(offer__isnull=True)
        if self.value() == "local":
            return queryset.filter(offer__isnull=False)
        return queryset


class HealthFilter(admin.SimpleListFilter):
    """The postbacks a manager should look at (postbacks.selectors.troubled_postbacks), as the
    manager console's work queue lists them."""

    title = "health"
    parameter_name = "health"

    def lookups(self, request, model_admin):
        return [("trouble", "Failing, or disabled by the platform")]

    def queryset(self, request, queryset):
        if self.value() == "trouble":
            return queryset & troubled_postbacks()
        return queryset


# "Retry now": the most deliveries one action sends again, and the refused ones named per reason.
RETRY_AT_ONCE = 1000
NAMED_REFUSALS = 5


@admin.register(Postback)
class PostbackAdmin(admin.ModelAdmin):
    """Affiliates' postbacks. The form validates through the model (unsafe URLs, goals of another
    offer) and saves through postback_save, like the portal and the API."""

    list_display = [
        "affiliate",
        "offer",
        "url",
        "status",
        "goal",
        "integration_method",
        "method",
        "enabled",
        "why_disabled",
    ]
    list_display_links = ["affiliate", "url"]
    list_filter = [ScopeFilter, HealthFilter, "enabled", "status", "integration_method", "method", "offer"]
    list_select_related = ["affiliate__user", "offer", "goal"]
    search_fields = ["url", "affiliate__user__username"]
    search_help_text = "An affiliate's pid (a number), or words of the URL or of the affiliate's username."
    raw_id_fields = ["affiliate", "offer"]
    readonly_fields = ["why_disabled", "past_conversions", "created_at", "updated_at"]
    fields = [
        "affiliate",
        "offer",
        "url",
        "method",
        "status",
        "goal",
        "integration_method",
        "enabled",
        "why_disabled",
        "past_conversions",
        "created_at",
        "updated_at",
    ]
    actions = ["send_test"]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The tracker templates of the portal's postback form (postbacks.trackers), above the
        # admin's form: postback-templates.js fills the URL as the manager types, and without
        # JavaScript "Use template" comes back to this page with the URL and status filled in.
        template_form = TrackerTemplateForm.from_query(request.GET)
        template_form.initial_postback()  # fills it in, or sets the errors the page shows
        extra_context = {
            **(extra_context or {}),
            "template_form": template_form,
            "trackers": trackers.for_script(),
        }
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if request.method != "GET":
            return form
        filled = TrackerTemplateForm.from_query(request.GET).initial_postback()
        if not filled:
            return form

        class FilledFromTemplate(form):
            # Initial values override the postback's own, so an existing postback shows the
            # template's URL and status, to be saved or left.
            def __init__(self, *args, **kwargs):
                super().__init__(*args, initial={**kwargs.pop("initial", {}), **filled}, **kwargs)

        return FilledFromTemplate

    @admin.display(description="past conversions")
    def past_conversions(self, postback):
        if postback.pk is None:
            return None
        url = reverse("admin:postbacks_postback_backfill", args=[postback.pk])
        return format_html('<a href="{}">Send for past conversions…</a>', url)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/backfill/",
                self.admin_site.admin_view(self.backfill_view),
                name="postbacks_postback_backfill",
            ),
            *super().get_urls(),
        ]

    def backfill_view(self, request, object_id):
        """Send a postback for past conversions (postbacks.backfill): a period previews the
        count (GET), the page's button queues it (POST), as in the portal."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        postback = self.get_object(request, unquote(object_id))
        if postback is None:
            raise Http404("No postback has this id.")
        asked = request.method == "POST" or "date_from" in request.GET or "date_to" in request.GET
        data = request.POST if request.method == "POST" else request.GET
        form = BackfillPeriodForm(data if asked else None, initial=vars(backfill.default_period()))
        count, status = None, 200
        if asked and form.is_valid() and request.method == "POST":
            try:
                queued = postback_backfill(postback=postback, period=form.period)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                self.message_user(request, f"Backfill queued: {queued} postbacks for past conversions.")
                return redirect("admin:postbacks_postback_change", postback.pk)
        elif asked and form.is_valid():
            count = backfill.backfill_count(postback, form.period)
            if problem := backfill.count_problem(count):
                # Refused as sending it would be: the count past the limit is no figure to show.
                form.add_error(None, problem)
                count = None
        if asked and form.errors:
            status = 400
        context = {
            **self.admin_site.each_context(request),
            "title": "Send for past conversions",
            "opts": self.model._meta,
            "original": postback,
            "form": form,
            "count": count,
            "max_days": backfill.MAX_DAYS,
            "max_deliveries": backfill.MAX_DELIVERIES,
        }
        return TemplateResponse(request, "admin/postbacks/backfill.html", context, status=status)

    @admin.display(description="disabled because")
    def why_disabled(self, postback):
        """The reason the platform disabled it, in words, with the last error one click away."""
        if not postback.disabled_reason:
            return None
        return render_to_string("postbacks/_disabled_reason.html", {"postback": postback})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "goal":
            # Goals are named with their offer: the same value exists on many offers.
            kwargs["queryset"] = db_field.related_model.objects.select_related("offer").order_by(
                "offer__offer_id", "pk"
            )
            field = super().formfield_for_foreignkey(db_field, request, **kwargs)
            field.label_from_instance = lambda goal: f"{goal.offer.offer_id} {goal.offer.title}: {goal}"
            return field
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_search_results(self, request, queryset, search_term):
        # A number is a pid: as words of URLs, digits would match most addresses and ports.
        term = search_term.strip()
        if term.isascii() and term.isdigit():
            return queryset.filter(affiliate__pid=int(term)), False
        return super().get_search_results(request, queryset, search_term)

    def save_model(self, request, obj, form, change):
        unknown = postback_save(obj)
        if unknown:
            names = ", ".join(f"{{{name}}}" for name in unknown)
            self.message_user(request, f"Not macros, sent as they are: {names}.", messages.WARNING)

    def delete_model(self, request, obj):
        postback_delete(obj)

    def delete_queryset(self, request, queryset):
        for postback in queryset:
            postback_delete(postback)

    @admin.action(description="Send test postback", permissions=["change"])
    def send_test(self, request, queryset):
        for postback in queryset.select_related("affiliate", "offer", "goal"):
            try:
                delivery = postback_send_test(postback)
            except ValidationError as exc:
                self.message_user(request, f"{postback.url}: {' '.join(exc.messages)}", messages.ERROR)
                continue
            excerpt = f" Answer: {delivery.response_excerpt[:200]}" if delivery.response_excerpt else ""
            if delivery.state == Delivery.State.SUCCEEDED:
                message = f"Test postback succeeded: {delivery.url} (HTTP {delivery.http_code}).{excerpt}"
                self.message_user(request, message, messages.SUCCESS)
                continue
            # What went wrong in words, the raw error one click away, as on the delivery's page.
            message = format_html(
                "Test postback failed: {}.{} {}", delivery.url, excerpt, what_happened(delivery)
            )
            self.message_user(request, message, messages.WARNING)


def what_happened(result) -> str:
    """What came of a delivery or an attempt, in the words the portal shows the affiliate
    (postbacks.explanations), the raw error one click away."""
    explanation = explain(http_code=result.http_code, error=result.error, url=result.url)
    if not explanation.failed:
        return explanation.title
    return render_to_string("postbacks/_explanation.html", {"explanation": explanation})


class PostbackFilter(admin.SimpleListFilter):
    """The deliveries of one postback (`?postback=<id>`), as the manager console's work queue
    links to them. Shown in the sidebar only while it applies: a list of every postback would
    be longer than the page. An id that is no row id answers the list's "?e=1"."""

    title = "postback"
    parameter_name = "postback"

    def lookups(self, request, model_admin):
        # A filter that offers no choice is left out of the list altogether: so the choice given is
        # always offered, and a value that can be no choice is refused here.
        value = self.value()
        if value is None:
            return []
        # Eighteen ASCII digits at most: any such id fits the column (config.converters.RowIdConverter).
        if not (value.isascii() and value.isdigit() and len(value) <= 18):
            raise IncorrectLookupParameters("postback: not a row id")
        postback = Postback.objects.filter(pk=int(value)).first()
        return [(value, postback.url if postback else f"{value} (deleted)")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(postback_id=int(self.value()))


class HttpCodeFilter(admin.SimpleListFilter):
    """The HTTP code of the last attempt (`?http_code=<code>`, 0: no answer); the usual codes
    are offered, any other can be typed into the address."""

    title = "HTTP code"
    parameter_name = "http_code"

    def lookups(self, request, model_admin):
        return [
            ("0", "0: no answer"),
            *((str(code), str(code)) for code in (400, 403, 404, 429, 500, 502, 503, 504)),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not (value.isascii() and value.isdigit() and len(value) <= 3):
            raise IncorrectLookupParameters("http_code: not an HTTP code")
        return queryset.filter(http_code=int(value))


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    verbose_name_plural = "attempts"
    fields = ["started_at", "http_code", "what_happened", "duration_ms", "url", "response_excerpt"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="what happened")
    def what_happened(self, attempt):
        return what_happened(attempt)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(TrafficRecordAdmin):
    """The outbound postback log, read-only; "Retry now" sends deliveries again."""

    # The delivery's fate first, then whose it is; the long URL and error last, in bounded columns.
    list_display = [
        "short_id",
        "created_at",
        "state_and_kind",
        "http_code",
        "attempts",
        "next_attempt_at",
        "offer",
        "affiliate",
        "url",
        "what_happened",
    ]
    list_filter = ["state", "created_at", "is_backfill", HttpCodeFilter, "conversion__offer", PostbackFilter]

    @admin.display(description="state", ordering="state")
    def state_and_kind(self, delivery):
        # A backfill is told in the state's column: the list has no width to spare for one more.
        state = delivery.get_state_display()
        return f"{state} (backfill)" if delivery.is_backfill else state

    list_select_related = ["affiliate__user", "conversion__offer"]
    search_fields = ["=delivery_id", "=conversion__conversion_id"]
    search_help_text = "Exact postback id (X-Postback-Id) or conversion id."
    inlines = [DeliveryAttemptInline]
    actions = ["retry_now", "replay_failed"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "delivery_id",
                    "state",
                    "affiliate",
                    "postback",
                    "conversion",
                    "event",
                    "is_backfill",
                    "created_at",
                ]
            },
        ),
        ("Request", {"fields": ["method", "url", "body"]}),
        (
            "Last attempt",
            {
                "fields": [
                    "attempts",
                    "http_code",
                    "what_happened",
                    "response_excerpt",
                    "next_attempt_at",
                    "delivered_at",
                ]
            },
        ),
    ]

    @admin.display(description="what happened")
    def what_happened(self, delivery):
        return what_happened(delivery)

    @admin.display(description="postback id", ordering="delivery_id")
    def short_id(self, delivery):
        """The id's first block, enough to tell the rows apart; the whole id is on the delivery's
        page and in the search."""
        return format_html('<span title="{}">{}…</span>', delivery.delivery_id, str(delivery.delivery_id)[:8])

    @admin.display(ordering="conversion__offer__offer_id")
    def offer(self, delivery):
        return delivery.conversion.offer

    def get_search_results(self, request, queryset, search_term):
        # Exact matches on the indexed columns, not the UPPER() comparisons "=" asks for.
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(delivery_id=uuid.UUID(term)), False
        except ValueError:
            return queryset.filter(conversion__conversion_id=term.lower()), False

    def has_retry_permission(self, request):
        """Who may retry: staff allowed to change deliveries."""
        return admin.ModelAdmin.has_change_permission(self, request)

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_now(self, request, queryset):
        """Send the selected deliveries again, at most RETRY_AT_ONCE (a selection "across every
        page" of the log could hold millions); those the service refuses are counted by reason,
        naming the first few."""
        selected = list(queryset.select_related(None)[: RETRY_AT_ONCE + 1])
        if len(selected) > RETRY_AT_ONCE:
            self.message_user(
                request,
                f"Select at most {RETRY_AT_ONCE} deliveries to retry at once: nothing was sent.",
                messages.ERROR,
            )
            return
        retried, refused = 0, defaultdict(list)
        for delivery in selected:
            try:
                delivery_retry(delivery)
                retried += 1
            except ValidationError as exc:
                refused[" ".join(exc.messages)].append(str(delivery.delivery_id))
        if retried:
            noun = "delivery" if retried == 1 else "deliveries"
            self.message_user(request, f"{retried} {noun} queued to be sent again.", messages.SUCCESS)
        for reason, ids in refused.items():
            named = ", ".join(ids[:NAMED_REFUSALS]) + (", ..." if len(ids) > NAMED_REFUSALS else "")
            self.message_user(request, f"{len(ids)} not sent again: {reason} ({named})", messages.ERROR)

    @admin.action(description="Send failed deliveries again", permissions=["retry"])
    def replay_failed(self, request, queryset):
        """Bulk replay: the failed deliveries of the selection (filter the list by offer, date,
        HTTP code first, then select across every page) sent again through the same service as
        the portal's and the API's, after a page that counts them."""
        failed = deliveries_replayable(queryset.select_related(None))
        if not confirmed(request):
            count = failed.count()
            return confirmation_page(
                self,
                request,
                failed.select_related("affiliate__user", "conversion__offer"),
                title="Send failed deliveries again?",
                effects=[
                    f"{count} failed deliveries of this selection are sent again now, each with its "
                    "X-Postback-Id; the others (succeeded, still being sent, or whose postback was "
                    "deleted) are left alone.",
                    f"At most {REPLAY_MAX} at once.",
                ],
                button=f"Yes, send {count} again",
                columns=[
                    Column("postback id", lambda delivery: delivery.delivery_id),
                    Column("affiliate", lambda delivery: delivery.affiliate),
                    Column("offer", lambda delivery: delivery.conversion.offer),
                    Column("HTTP code", lambda delivery: delivery.http_code),
                    Column("created", lambda delivery: delivery.created_at),
                ],
            )
        try:
            sent = deliveries_replay_failed(failed)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return None
        self.message_user(request, f"{sent} failed deliveries queued to be sent again.", messages.SUCCESS)
        return None
