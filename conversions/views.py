"""Portal pages about conversions: Statistics > Conversions, its totals and its CSV export."""

from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import ListView

from config.amounts import amount_text
from config.exports import csv_download, csv_text
from config.filters import with_default_period
from conversions.forms import StatisticsFilterForm
from conversions.selectors import (
    conversion_totals,
    conversions_filtered,
    conversions_for_statistics,
    offers_for_statistics,
)
from portal.access import AffiliateRequiredMixin
from tracking.models import ALL_SUB_FIELDS

CSV_HEADER = [
    "date (UTC)",
    "conversion id",
    "offer id",
    "offer",
    "goal",
    "status",
    "decline reason",
    "payout",
    "currency",
    *ALL_SUB_FIELDS,
    "integration method",
]


class ConversionFiltersMixin(AffiliateRequiredMixin):
    def filter_form(self) -> StatisticsFilterForm:
        """The filters from the query string; a first visit shows the last 30 days."""
        data = with_default_period(self.request.GET)
        return StatisticsFilterForm(data, offers=offers_for_statistics(self.affiliate))

    def filtered(self, form):
        return conversions_filtered(conversions_for_statistics(self.affiliate), form.cleaned_data)


class ConversionStatisticsView(ConversionFiltersMixin, ListView):
    template_name = "conversions/statistics.html"
    context_object_name = "conversions"
    paginate_by = 50

    def get_queryset(self):
        self.form = self.filter_form()
        if not self.form.is_valid():
            return conversions_for_statistics(self.affiliate).none()
        return self.filtered(self.form)

    def get_context_data(self, **kwargs):
        totals = conversion_totals(self.object_list) if self.form.is_valid() else None
        return super().get_context_data(form=self.form, totals=totals, **kwargs)


class ConversionCsvView(ConversionFiltersMixin, View):
    """The filtered conversions as CSV, streamed row by row so that a long period needs no memory."""

    def get(self, request):
        form = self.filter_form()
        if not form.is_valid():
            # The page shows what is wrong with the filters.
            return redirect(f"{reverse('statistics:conversions')}?{request.GET.urlencode()}")
        rows = (_csv_row(conversion) for conversion in self.filtered(form).iterator(chunk_size=2000))
        return csv_download(_with_header(rows), "conversions.csv")


def _with_header(rows):
    yield CSV_HEADER
    yield from rows


def _csv_row(conversion) -> list:
    return [
        conversion.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        conversion.conversion_id,
        conversion.offer.offer_id,
        csv_text(conversion.offer.title),
        csv_text(conversion.goal_value),
        conversion.get_status_display(),
        conversion.decline_reason,
        amount_text(conversion.payout),
        conversion.currency,
        *(csv_text(value) for value in conversion.all_sub_values().values()),
        conversion.get_integration_method_display(),
    ]
