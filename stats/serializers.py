"""The statistics report as JSON. Affiliates see payout; managers also see the advertiser's revenue."""

from rest_framework import serializers

from offers.targeting import DeviceType
from stats.selectors import REFUSALS, Figures, Report


class CountsSerializer(serializers.Serializer):
    approved = serializers.IntegerField()
    pending = serializers.IntegerField()
    declined = serializers.IntegerField()
    hold = serializers.IntegerField()
    total = serializers.IntegerField()


class AmountsSerializer(serializers.Serializer):
    approved = serializers.DecimalField(max_digits=18, decimal_places=4)
    pending = serializers.DecimalField(max_digits=18, decimal_places=4)
    declined = serializers.DecimalField(max_digits=18, decimal_places=4)
    hold = serializers.DecimalField(max_digits=18, decimal_places=4)


class RefusedSerializer(serializers.Serializer):
    country = serializers.IntegerField(help_text="The visitor's country is not one the offer targets")
    os = serializers.IntegerField(help_text="The visitor's OS family is not one the offer targets")
    device = serializers.IntegerField(help_text="The visitor's device type is not one the offer targets")
    total = serializers.IntegerField()


class FiguresSerializer(serializers.Serializer):
    clicks = serializers.IntegerField(allow_null=True, help_text="null on goal rows: a click has no goal")
    unique_clicks = serializers.IntegerField(
        allow_null=True,
        help_text="Clicks that are the first of their IP address on their offer in their UTC day",
    )
    refused = RefusedSerializer(
        allow_null=True,
        help_text="Clicks the offer's targeting refused (not counted in `clicks`), by reason; null on goal "
        "and sub value rows: a refused click has neither",
    )
    conversions = CountsSerializer(
        help_text="Conversions by current status, on the UTC day they were created"
    )
    cr = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        allow_null=True,
        help_text="Approved, pending and hold conversions per 100 clicks (per 100 clicks of the offer on "
        "goal rows)",
    )
    payout = serializers.DictField(
        child=AmountsSerializer(),
        help_text="Per currency, by status: `approved` is what is paid; pending and hold may become payable",
    )


class ManagerFiguresSerializer(FiguresSerializer):
    revenue = serializers.DictField(child=AmountsSerializer(), help_text="Per currency, by status")


class GroupSerializer(serializers.Serializer):
    """The fields naming a row's group: those of the report's `group_by`."""

    day = serializers.DateField(required=False)
    offer = serializers.IntegerField(required=False, help_text="Offer id")
    offer_title = serializers.CharField(required=False)
    goal = serializers.CharField(required=False, help_text="Goal value")
    goal_title = serializers.CharField(required=False)
    country = serializers.CharField(
        required=False, allow_blank=True, help_text="Country code (ISO 3166-1 alpha-2); empty when unknown"
    )
    os = serializers.CharField(required=False, allow_blank=True, help_text="OS family; empty when unknown")
    device = serializers.ChoiceField(
        choices=["", *DeviceType.VALUES], required=False, help_text="Device type; empty when unknown"
    )
    label = serializers.CharField(
        required=False,
        help_text="Grouped by country, os or device: the group's name (a country's English name, "
        '"Unknown" for an empty value)',
    )
    sub1 = serializers.CharField(required=False)
    sub2 = serializers.CharField(required=False)
    sub3 = serializers.CharField(required=False)
    sub4 = serializers.CharField(required=False)
    sub5 = serializers.CharField(required=False)
    sub6 = serializers.CharField(required=False)
    sub7 = serializers.CharField(required=False)
    sub8 = serializers.CharField(required=False)


class RowSerializer(GroupSerializer, FiguresSerializer):
    pass


class ManagerRowSerializer(GroupSerializer, ManagerFiguresSerializer):
    pass


class ReportSerializer(serializers.Serializer):
    group_by = serializers.CharField()
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    rows = RowSerializer(many=True)
    other = FiguresSerializer(
        allow_null=True,
        help_text="Grouped by a sub value: everything the rows leave out (null when nothing is left out)",
    )
    totals = FiguresSerializer()


class ManagerReportSerializer(ReportSerializer):
    rows = ManagerRowSerializer(many=True)
    other = ManagerFiguresSerializer(allow_null=True)
    totals = ManagerFiguresSerializer()


def report_data(report: Report) -> dict:
    """The report as the serializers read it (revenue included: the affiliate's serializer omits it)."""
    return {
        "group_by": report.group_by,
        "date_from": report.date_from,
        "date_to": report.date_to,
        "rows": [{**_group(report, row), **_figures(row.figures)} for row in report.rows],
        "other": None if report.other is None else _figures(report.other),
        "totals": _figures(report.totals),
    }


def _group(report: Report, row) -> dict:
    if report.group_by == "day":
        return {"day": row.day}
    if report.group_by in ("offer", "goal"):
        group = {"offer": row.offer.offer_id, "offer_title": row.offer.title}
        if row.goal is not None:
            group |= {"goal": row.goal.value, "goal_title": row.goal.title}
        return group
    if report.visitor_grouping:
        return {report.group_by: row.visitor, "label": row.label}
    return {report.group_by: row.sub}


def _figures(figures: Figures) -> dict:
    return {
        "clicks": figures.clicks,
        "unique_clicks": figures.unique_clicks,
        "refused": None
        if figures.refused is None
        else {**{reason: figures.refused[reason] for reason in REFUSALS}, "total": figures.refused_total},
        "conversions": {**figures.counts, "total": figures.conversions},
        "cr": figures.cr,
        "payout": {money.currency: money.payout for money in figures.amounts},
        "revenue": {money.currency: money.revenue for money in figures.amounts},
    }
