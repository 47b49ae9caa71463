from functools import cached_property

from django.contrib import admin
from django.core.paginator import Paginator

from tracking.models import Click


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows: an exact COUNT(*) over millions of clicks would take seconds on
    every page view. Past the cap the list still pages, up to the cap; filters narrow it down."""

    CAP = 10_000

    @cached_property
    def count(self):
        return self.object_list[: self.CAP].count()


@admin.register(Click)
class ClickAdmin(admin.ModelAdmin):
    list_display = ["click_id", "created_at", "offer", "affiliate", "sub1", "ip"]
    list_filter = ["created_at", "offer", "affiliate"]
    list_select_related = ["offer", "affiliate__user"]
    search_fields = ["=click_id"]
    search_help_text = "Exact click id (24 hex characters)."
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50

    def get_search_results(self, request, queryset, search_term):
        # Click ids are stored in lowercase; visitors paste them as they come.
        return super().get_search_results(request, queryset, search_term.strip().lower())

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
