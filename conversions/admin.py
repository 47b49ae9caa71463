from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q

from config.admin_base import TrafficRecordAdmin, named_values_html
from conversions.lifecycle import conversion_set_status
from conversions.models import Conversion, ConversionEvent, ServerPostback
from offers.choices import ConversionStatus
from tracking.models import MORE_SUB_FIELDS, SUB_FIELDS


class ConversionEventInline(admin.TabularInline):
    model = ConversionEvent
    verbose_name_plural = "history"
    fields = ["kind", "old_status", "new_status", "source", "changed_by", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Conversion)
class ConversionAdmin(TrafficRecordAdmin):
    """Read-only: a status changes only through the actions, which record the change and who
    made it, and send the affiliate's postbacks."""

    list_display = [
        "conversion_id",
        "created_at",
        "offer",
        "affiliate",
        "goal",
        "status_and_reason",
        "payout",
        "revenue",
        "integration_method",
    ]
    list_filter = [
        "status",
        "decline_reason",
        "offer",
        "affiliate",
        "created_at",
        "integration_method",
        "is_test",
    ]
    list_select_related = ["offer", "affiliate__user", "goal"]
    search_fields = ["=conversion_id", "=action_id", "=click__click_id"]
    search_help_text = "Exact conversion id, advertiser's action id or click id."
    inlines = [ConversionEventInline]
    actions = ["approve", "set_pending", "decline", "hold"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "conversion_id",
                    "status",
                    "decline_reason",
                    "hold_until",
                    "offer",
                    "affiliate",
                    "goal",
                    "click",
                    "integration_method",
                    "action_id",
                    "is_test",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
        ("Money", {"fields": ["payout", "revenue", "currency", "order_sum", "order_currency"]}),
        ("Sub values", {"fields": [*SUB_FIELDS, "more_sub_values"]}),
        (
            "Sent by the advertiser",
            {
                "fields": [
                    "ip",
                    "referrer",
                    "comment",
                    "fbclid",
                    "device_type",
                    "user_id",
                    "promo_code",
                    "extra",
                ]
            },
        ),
    ]

    readonly_fields = ["more_sub_values"]

    @admin.display(description="status", ordering="status")
    def status_and_reason(self, conversion):
        """A conversion declined on arrival says why, as the affiliate sees it."""
        status = conversion.get_status_display()
        return f"{status}: {conversion.decline_reason}" if conversion.decline_reason else status

    @admin.display(description="sub9..sub30")
    def more_sub_values(self, conversion):
        subs = conversion.all_sub_values()
        return named_values_html({name: subs[name] for name in MORE_SUB_FIELDS})

    def get_search_results(self, request, queryset, search_term):
        # Exact matches, not the case-insensitive ones "=" asks for: those wrap the column in
        # UPPER() and cannot use its index. Conversion and click ids are stored in lowercase.
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = Q(conversion_id=term.lower()) | Q(action_id=term) | Q(click__click_id=term.lower())
        return queryset.filter(matches), False

    def has_set_status_permission(self, request):
        """Who may run the status actions: staff allowed to change conversions."""
        return admin.ModelAdmin.has_change_permission(self, request)

    def _set_status(self, request, queryset, status):
        changed = unchanged = 0
        # The service locks and reloads each row itself; the list's joins are not needed.
        for conversion in queryset.select_related(None).only("pk", "conversion_id"):
            try:
                event = conversion_set_status(
                    conversion=conversion,
                    status=status,
                    source=ConversionEvent.Source.MANAGER,
                    changed_by=request.user,
                )
            except ValidationError as refused:
                self.message_user(request, f"{conversion}: {' '.join(refused.messages)}", messages.ERROR)
                continue
            changed += event is not None
            unchanged += event is None
        message = f"{changed} conversion(s) set to {status.label.lower()}."
        if unchanged:
            message += f" {unchanged} already had this status."
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(description="Approve selected conversions", permissions=["set_status"])
    def approve(self, request, queryset):
        self._set_status(request, queryset, ConversionStatus.APPROVED)

    @admin.action(description="Set selected conversions pending", permissions=["set_status"])
    def set_pending(self, request, queryset):
        self._set_status(request, queryset, ConversionStatus.PENDING)

    @admin.action(description="Decline selected conversions", permissions=["set_status"])
    def decline(self, request, queryset):
        self._set_status(request, queryset, ConversionStatus.DECLINED)

    @admin.action(description="Hold selected conversions", permissions=["set_status"])
    def hold(self, request, queryset):
        self._set_status(request, queryset, ConversionStatus.HOLD)


@admin.register(ServerPostback)
class ServerPostbackAdmin(TrafficRecordAdmin):
    """The inbound postback log, read-only: what each advertiser call carried and what it caused."""

    list_display = [
        "received_at",
        "source",
        "method",
        "outcome",
        "http_status",
        "message",
        "ip",
        "conversion",
    ]
    list_filter = ["outcome", "source", "received_at"]
    list_select_related = ["conversion"]
    search_fields = ["message", "query", "=conversion__conversion_id"]
    search_help_text = "Words of the message or the query string, or an exact conversion id."
