from django.contrib import admin

from config.admin_base import TrafficRecordAdmin, named_values_html
from offers.targeting import REFUSAL_LABELS, country_label
from tracking.models import MORE_SUB_FIELDS, Click, RefusedClick
from tracking.params import typed_id


class ClickIdSearch:
    """A list searched by click id alone, in whatever case it is pasted: exactly, in the
    partitions of the id's time only (tracking.params.typed_id). A term of another shape
    names no click, so finds none without reading any."""

    # What shows the search box; the search itself is get_search_results'.
    search_fields = ["=click_id"]
    search_help_text = "Exact click id (24 hex characters)."

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        click_id = typed_id(search_term)
        if click_id is None:
            return queryset.none(), False
        return queryset.named([click_id]), False


@admin.register(Click)
class ClickAdmin(ClickIdSearch, TrafficRecordAdmin):
    list_display = ["click_id", "created_at", "offer", "affiliate", "sub1", "ip"]
    list_filter = ["created_at", "is_test", "offer", "affiliate"]
    list_select_related = ["offer", "affiliate__user"]
    exclude = ["more_subs"]
    readonly_fields = ["more_sub_values"]

    def get_fields(self, request, obj=None):
        # sub9..sub30 right after sub8, where a reader looks for them.
        fields = [name for name in super().get_fields(request, obj) if name != "more_sub_values"]
        after = fields.index("sub8") + 1
        return [*fields[:after], "more_sub_values", *fields[after:]]

    @admin.display(description="sub9..sub30")
    def more_sub_values(self, click):
        subs = click.all_sub_values()
        return named_values_html({name: subs[name] for name in MORE_SUB_FIELDS})


class ReasonFilter(admin.SimpleListFilter):
    """The reasons there are, rather than a DISTINCT over a large table (what a plain field
    filter would ask)."""

    title = "reason"
    parameter_name = "reason"

    def lookups(self, request, model_admin):
        return list(REFUSAL_LABELS.items())

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(reason=self.value())
        return queryset


@admin.register(RefusedClick)
class RefusedClickAdmin(ClickIdSearch, TrafficRecordAdmin):
    """Visits the offers' targeting turned away, newest first (the model's ordering)."""

    list_display = [
        "click_id",
        "created_at",
        "offer",
        "affiliate",
        "reason_text",
        "country_text",
        "os_family",
        "device_type",
        "ip",
    ]
    list_filter = [ReasonFilter, "offer", "created_at"]
    list_select_related = ["offer", "affiliate__user"]

    @admin.display(description="reason", ordering="reason")
    def reason_text(self, refused):
        return REFUSAL_LABELS.get(refused.reason, refused.reason)

    @admin.display(description="country", ordering="country")
    def country_text(self, refused):
        return country_label(refused.country) if refused.country else "unknown"
