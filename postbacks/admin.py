import uuid

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from config.admin_base import TrafficRecordAdmin
from postbacks.models import Delivery, DeliveryAttempt, Postback
from postbacks.services import delivery_retry, postback_delete, postback_save, postback_send_test


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
        "disabled_reason",
    ]
    list_display_links = ["affiliate", "url"]
    list_filter = [ScopeFilter, "enabled", "status", "integration_method", "method", "offer"]
    list_select_related = ["affiliate__user", "offer", "goal"]
    search_fields = ["url", "affiliate__user__username"]
    search_help_text = "An affiliate's pid (a number), or words of the URL or of the affiliate's username."
    raw_id_fields = ["affiliate", "offer"]
    readonly_fields = ["disabled_reason", "created_at", "updated_at"]
    fields = [
        "affiliate",
        "offer",
        "url",
        "method",
        "status",
        "goal",
        "integration_method",
        "enabled",
        "disabled_reason",
        "created_at",
        "updated_at",
    ]
    actions = ["send_test"]

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
            outcome = f"HTTP {delivery.http_code}" + (f", {delivery.error}" if delivery.error else "")
            excerpt = f" Answer: {delivery.response_excerpt[:200]}" if delivery.response_excerpt else ""
            self.message_user(
                request,
                f"Test postback {delivery.state}: {delivery.url} ({outcome}).{excerpt}",
                messages.SUCCESS if delivery.state == Delivery.State.SUCCEEDED else messages.WARNING,
            )


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    verbose_name_plural = "attempts"
    fields = ["started_at", "http_code", "error", "duration_ms", "url", "response_excerpt"]
    readonly_fields = fields
    extra = 0
    can_delete = False

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
        "state",
        "http_code",
        "attempts",
        "next_attempt_at",
        "offer",
        "affiliate",
        "url",
        "error",
    ]
    list_filter = ["state", "created_at"]
    list_select_related = ["affiliate__user", "conversion__offer"]
    search_fields = ["=delivery_id", "=conversion__conversion_id"]
    search_help_text = "Exact postback id (X-Postback-Id) or conversion id."
    inlines = [DeliveryAttemptInline]
    actions = ["retry_now"]
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
                    "error",
                    "response_excerpt",
                    "next_attempt_at",
                    "delivered_at",
                ]
            },
        ),
    ]

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
        retried, refused = 0, []
        for delivery in queryset.select_related(None):
            try:
                delivery_retry(delivery)
                retried += 1
            except ValidationError as exc:
                refused.append(f"{delivery.delivery_id}: {' '.join(exc.messages)}")
        if retried:
            noun = "delivery" if retried == 1 else "deliveries"
            self.message_user(request, f"{retried} {noun} queued to be sent again.", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.ERROR)
