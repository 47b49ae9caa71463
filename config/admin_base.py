"""What the admin pages of traffic records (clicks, conversions, the postback log) share."""

from functools import cached_property

from django.contrib import admin
from django.core.paginator import Paginator


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows: an exact COUNT(*) over millions of rows would take seconds on
    every page view. Past the cap the list still pages, up to the cap; filters narrow it down."""

    CAP = 10_000

    @cached_property
    def count(self):
        return self.object_list[: self.CAP].count()


class TrafficRecordAdmin(admin.ModelAdmin):
    """A list of records the traffic itself writes: browsed and filtered, never edited by hand."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
