"""`GET /api/v1/stats/` (the affiliate's own statistics) and `GET /api/v1/manage/stats/` (the
network's, with revenue). Not paginated: the rows are bounded by the period (at most MAX_DAYS), the
offers and goals, the countries, OS families and device types, or SUB_ROW_LIMIT sub values
(stats.selectors)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import cleaned_data
from api.permissions import IsAffiliate, IsManager
from conversions.selectors import offers_for_statistics
from offers.models import Offer
from offers.selectors import affiliate_of
from stats.forms import ManagerStatsFilterForm, StatsFilterForm
from stats.selectors import GROUPINGS, stats_report
from stats.serializers import ManagerReportSerializer, ReportSerializer, report_data

PARAMETERS = [
    OpenApiParameter(
        "date_from", str, description="First UTC day, YYYY-MM-DD (default: 30 days up to date_to)"
    ),
    OpenApiParameter("date_to", str, description="Last UTC day, included, YYYY-MM-DD (default: today)"),
    OpenApiParameter("offer", int, description="Offer id"),
    OpenApiParameter("country", str, description="Only visitors from this country: a code such as US"),
    OpenApiParameter(
        "group_by",
        str,
        enum=GROUPINGS,
        description="day (default), offer, goal, the visitor's country, os (OS family) or device (device "
        "type), or a sub value: at most 92 days, the 100 values with the most clicks",
    ),
]


class PartnerStatsView(APIView):
    """The affiliate's clicks, unique clicks, clicks refused by the offers' targeting, conversions
    by status, conversion rate and payout, grouped by day, offer, goal, visitor country, OS family,
    device type or sub value, with totals. Test conversions are left out."""

    permission_classes = [IsAffiliate]

    @extend_schema(parameters=PARAMETERS, responses=ReportSerializer)
    def get(self, request):
        affiliate = affiliate_of(request.user)
        filters = cleaned_data(StatsFilterForm(request.query_params, offers=offers_for_statistics(affiliate)))
        report = stats_report(affiliate=affiliate, **filters)
        return Response(ReportSerializer(report_data(report)).data)


class ManagerStatsView(APIView):
    """The network's statistics, with the advertiser's revenue: every affiliate, or one (`affiliate`,
    a pid; needed to group by a sub value)."""

    permission_classes = [IsManager]

    @extend_schema(
        parameters=[*PARAMETERS, OpenApiParameter("affiliate", int, description="pid")],
        responses=ManagerReportSerializer,
    )
    def get(self, request):
        filters = cleaned_data(ManagerStatsFilterForm(request.query_params, offers=Offer.objects.all()))
        report = stats_report(**filters)
        return Response(ManagerReportSerializer(report_data(report)).data)
