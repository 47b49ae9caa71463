from datetime import UTC, datetime

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from config.admin_base import TrafficRecordAdmin, named_values_html
from config.admin_confirmation import confirmed, selection_context
from conversions.click_values import kept_click
from conversions.forms import ConversionStatusForm
from conversions.lifecycle import conversion_set_status
from conversions.models import Conversion, ConversionEvent, ServerPostback
from offers.choices import ConversionStatus
from tracking.models import MORE_SUB_FIELDS, SUB_FIELDS, Click
from tracking.params import typed_id


class MomentFilter(admin.SimpleListFilter):
    """One end of a period on a time column, as an ISO 8601 timestamp with its offset
    (`?created_before=2026-11-28T09:30:00%2B00:00`): the manager console's work queue links to
    lists of exactly the rows it counted, to the microsecond. Shown in the sidebar only while it
    applies, with "All" to drop it; a value that is no such timestamp answers the list's "?e=1",
    as an unknown lookup does."""

    field: str
    lookup: str  # "lt" (before) or "gte" (from)
    words: str

    def moment(self) -> datetime:
        try:
            moment = datetime.fromisoformat(self.value())
            if moment.tzinfo is not None:
                return moment.astimezone(UTC)
        except (ValueError, OverflowError):
            pass
        raise IncorrectLookupParameters(f"{self.parameter_name}: not a timestamp with its offset")

    def lookups(self, request, model_admin):
        # A filter that offers no choice is left out of the list altogether: so the moment given
        # is always offered, and a value that is no moment is refused here.
        if self.value() is None:
            return []
        return [(self.value(), f"{self.words} {self.moment():%Y-%m-%d %H:%M:%S} UTC")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(**{f"{self.field}__{self.lookup}": self.moment()})


class CreatedBeforeFilter(MomentFilter):
    title = "created before"
    parameter_name = "created_before"
    field, lookup, words = "created_at", "lt", "Before"


class ReceivedFromFilter(MomentFilter):
    title = "received from"
    parameter_name = "received_from"
    field, lookup, words = "received_at", "gte", "From"


class ReceivedBeforeFilter(MomentFilter):
    title = "received before"
    parameter_name = "received_before"
    field, lookup, words = "received_at", "lt", "Before"


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
    """Read-only but for the status, which changes through the list's actions (each confirmed on
    a page of its own first) or the status form of a conversion's page: both go through
    conversion_set_status, which records the change and who made it, and sends the affiliate's
    postbacks."""

    # What a manager looks for first (status and money) before the long names.
    list_display = [
        "conversion_id",
        "created_at",
        "status_and_reason",
        "payout",
        "revenue",
        "offer",
        "goal",
        "affiliate",
        "integration_method",
    ]
    list_filter = [
        "status",
        "decline_reason",
        "offer",
        "affiliate",
        "created_at",
        CreatedBeforeFilter,
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
                    "click_kept",
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

    readonly_fields = ["more_sub_values", "click_kept"]

    @admin.display(description="status", ordering="status")
    def status_and_reason(self, conversion):
        """A conversion declined on arrival says why, as the affiliate sees it."""
        status = conversion.get_status_display()
        return f"{status}: {conversion.decline_reason}" if conversion.decline_reason else status

    @admin.display(description="click")
    def click_kept(self, conversion):
        """A link to the click while it is kept; then the id the conversion kept of it."""
        click_id = conversion.kept_click_id
        if click_id is None:
            return self.get_empty_value_display()
        click = kept_click(conversion)
        if click is None:
            days = settings.CLICK_RETENTION_DAYS
            return f"{click_id} (no longer kept: clicks are kept {days} days)"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:tracking_click_change", args=[click.pk]), click_id
        )

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
        matches = Q(action_id=term)
        public_id = typed_id(term)
        if public_id is not None:  # the conversion's id, or its click's
            # One condition with the others, so that PostgreSQL reads each through its index.
            queryset = queryset.with_kept_click_id()
            matches |= Q(conversion_id=public_id) | self._of_click(public_id)
        return queryset.filter(matches), False

    @staticmethod
    def _of_click(click_id: str) -> Q:
        """The conversions of a click (of a queryset `with_kept_click_id`): by the id each kept of
        it, which finds them once the click is no longer kept too; and while it is kept, by its
        row, found in the partitions of its id's time only, for a conversion that kept nothing of
        it (made by a process still running the release from before click_values)."""
        kept = Q(kept_click_id=click_id)
        clicks = list(Click.objects.named([click_id]).values_list("pk", flat=True))
        return kept | Q(click__in=clicks) if clicks else kept

    def has_set_status_permission(self, request):
        """Who may run the status actions: staff allowed to change conversions."""
        return admin.ModelAdmin.has_change_permission(self, request)

    @staticmethod
    def _set_status_of(request, conversion, status):
        """The manager's change, kept in the conversion's history under their name."""
        return conversion_set_status(
            conversion=conversion,
            status=status,
            source=ConversionEvent.Source.MANAGER,
            changed_by=request.user,
        )

    def _set_status(self, request, queryset, status, action: str):
        """Run a status action once its confirmation page has sent `post=yes`; answer that page
        before."""
        if not confirmed(request):
            return self._set_status_confirmation(request, queryset, status, action)
        changed = unchanged = 0
        # The service locks and reloads each row itself; the list's joins are not needed.
        for conversion in queryset.select_related(None).only("pk", "conversion_id"):
            try:
                event = self._set_status_of(request, conversion, status)
            except ValidationError as refused:
                self.message_user(request, f"{conversion}: {' '.join(refused.messages)}", messages.ERROR)
                continue
            changed += event is not None
            unchanged += event is None
        message = f"{changed} conversion(s) set to {status.label.lower()}."
        if unchanged:
            message += f" {unchanged} already had this status."
        self.message_user(request, message, messages.SUCCESS)

    def _set_status_confirmation(self, request, queryset, status, action: str) -> TemplateResponse:
        """The page between a status action and its run, like Django's delete_selected: what the
        selection holds, how many conversions change, and that their affiliates' postbacks are
        sent. Its button posts the same selection back with `post=yes`."""
        selected = queryset.select_related(None).select_related("offer", "affiliate__user", "goal")
        listed, context = selection_context(request, selected)
        count = len(listed) + context["not_listed"]
        unchanged = selected.filter(status=status).count()
        context |= {
            **self.admin_site.each_context(request),
            "title": f"Set {count} conversion(s) to {status.label.lower()}?",
            "opts": self.model._meta,
            "action": action,
            "status": status,
            "count": count,
            "changing": count - unchanged,
            "unchanged": unchanged,
            "conversions": listed,
        }
        return TemplateResponse(request, "admin/conversions/conversion/set_status_confirmation.html", context)

    @admin.action(description="Approve selected conversions", permissions=["set_status"])
    def approve(self, request, queryset):
        return self._set_status(request, queryset, ConversionStatus.APPROVED, "approve")

    @admin.action(description="Set selected conversions pending", permissions=["set_status"])
    def set_pending(self, request, queryset):
        return self._set_status(request, queryset, ConversionStatus.PENDING, "set_pending")

    @admin.action(description="Decline selected conversions", permissions=["set_status"])
    def decline(self, request, queryset):
        return self._set_status(request, queryset, ConversionStatus.DECLINED, "decline")

    @admin.action(description="Hold selected conversions", permissions=["set_status"])
    def hold(self, request, queryset):
        return self._set_status(request, queryset, ConversionStatus.HOLD, "hold")

    # --- The status form of a conversion's page ---------------------------------------------

    def get_urls(self):
        status = path(
            "<path:object_id>/status/",
            self.admin_site.admin_view(self.status_view),
            name="conversions_conversion_status",
        )
        return [status, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        conversion = self.get_object(request, unquote(object_id))
        if conversion is not None and self.has_set_status_permission(request):
            status_form = ConversionStatusForm(conversion=conversion)
            extra_context = {**(extra_context or {}), "status_form": status_form}
        return super().change_view(request, object_id, form_url, extra_context)

    def status_view(self, request, object_id):
        """A status change from a conversion's page (POST), through conversion_set_status. A GET,
        or a change refused by the status rules, shows the form on a page of its own, with the
        rule's message."""
        conversion = self.get_object(request, unquote(object_id))
        if conversion is None:
            raise Http404("No such conversion.")
        if not self.has_set_status_permission(request):
            raise PermissionDenied
        change_url = reverse("admin:conversions_conversion_change", args=[conversion.pk])
        data = request.POST if request.method == "POST" else None
        form = ConversionStatusForm(data, conversion=conversion)
        if request.method == "POST" and form.is_valid():
            status = ConversionStatus(form.cleaned_data["status"])
            try:
                event = self._set_status_of(request, conversion, status)
            except ValidationError as refused:
                form.add_error("status", refused)
            else:
                label = status.label.lower()
                if event is None:
                    # Set meanwhile, by another manager or the advertiser: nothing more to do.
                    self.message_user(request, f"{conversion} already had the status {label}.")
                else:
                    self.message_user(request, f"{conversion} set to {label}.", messages.SUCCESS)
                return redirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change the status of conversion {conversion}",
            "opts": self.model._meta,
            "original": conversion,
            "status_form": form,
            "change_url": change_url,
        }
        return TemplateResponse(
            request,
            "admin/conversions/conversion/status.html",
            context,
            status=400 if form.is_bound else 200,
        )


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
        "offer",
        "conversion",
    ]
    list_filter = [
        "outcome",
        "source",
        "received_at",
        ReceivedFromFilter,
        ReceivedBeforeFilter,
        ("offer__advertiser", admin.RelatedFieldListFilter),
    ]
    list_select_related = ["conversion", "offer"]
    search_fields = ["message", "query", "=conversion__conversion_id"]
    search_help_text = "Words of the message or the query string, or an exact conversion id."
