"""What the admin's pages share: the site itself, lists that never answer a 500 for their filters,
and the base of the pages of traffic records (clicks, conversions, the postback log)."""

from collections.abc import Mapping
from functools import cached_property

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import DataError, transaction
from django.http import HttpResponseRedirect, JsonResponse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe


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

    def changelist_view(self, request, extra_context=None):
        # These lists are wide (status, money, URLs, errors): the sidebar of every app's models
        # gives its room to their columns; Home in the breadcrumbs still leads to the models.
        return super().changelist_view(request, {"is_nav_sidebar_enabled": False, **(extra_context or {})})

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def named_values_html(values: Mapping[str, str]) -> str:
    """The values that are not empty, a `name: value` line each, for a read-only field of a page
    that would otherwise show many empty rows (sub9..sub30); the admin's "-" when all are empty."""
    given = [(name, value) for name, value in values.items() if value]
    return format_html_join(mark_safe("<br>"), "{}: {}", given) if given else "-"


class CheckedChangeList(ChangeList):
    """A changelist whose query-string filters the database cannot compare are answered as Django
    answers a lookup it does not know: a redirect to the unfiltered list with `?e=1`, not a 500.

    Django checks a filter's field and the type of its value, but some values pass those checks
    and fail only when the query is built or run: a NUL in text (`?sub1=%00`), year 0 or 10000
    (`?created_at__year=0`), a drill-down past the last day of year 9999."""

    def get_queryset(self, request, exclude_parameters=None):
        try:
            return super().get_queryset(request, exclude_parameters)
        except (ValueError, OverflowError) as exc:
            raise IncorrectLookupParameters(exc) from exc

    def get_results(self, request):
        # Counting the rows is the first query that runs the filters. A savepoint keeps the
        # request's transaction usable after the database refuses a value.
        try:
            with transaction.atomic():
                super().get_results(request)
        except (DataError, ValueError, OverflowError) as exc:
            raise IncorrectLookupParameters(exc) from exc


class CheckedAutocompleteJsonView(AutocompleteJsonView):
    """The search behind autocomplete fields, which reads its term from the query string itself:
    a term with a NUL character (which no stored text holds, and PostgreSQL refuses) is a 400."""

    def get(self, request, *args, **kwargs):
        if "\x00" in request.GET.get("term", ""):
            return JsonResponse({"error": "A search term cannot contain NUL characters."}, status=400)
        return super().get(request, *args, **kwargs)


class CheckedLookupsMixin:
    def get_changelist(self, request, **kwargs):
        return CheckedChangeList

    def response_action(self, request, queryset):
        """Run a list's action on rows named by their ids; a selection with a value that can be no
        row id (`abc`, a NUL, a number past the column) changes nothing and says so, where the
        database would refuse the query with a 500."""
        pk = self.model._meta.pk
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                pk.clean(value, None)
        except ValidationError:
            refused = "The selection holds a value that is no row id. Nothing was changed."
            self.message_user(request, refused, messages.WARNING)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


class NetworkAdminSite(admin.AdminSite):
    """The admin site (see config.apps.NetworkAdminConfig). Every ModelAdmin registered on it, ours
    and those of Django's and django-axes' apps alike, lists its rows with CheckedChangeList."""

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, CheckedLookupsMixin):
            bases = (CheckedLookupsMixin, admin_class)
            admin_class = type(admin_class.__name__, bases, {"__module__": admin_class.__module__})
        super().register(model_or_iterable, admin_class, **options)

    def autocomplete_view(self, request):
        return CheckedAutocompleteJsonView.as_view(admin_site=self)(request)
