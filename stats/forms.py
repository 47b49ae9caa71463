"""The statistics filters, validated once for the portal page, its CSV export and the API."""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.utils import timezone

from config.filters import DateRangeForm, complete_period, use_date_pickers
from offers.forms import public_id_field
from offers.models import Affiliate
from offers.targeting import country_code
from stats.selectors import GROUPINGS, MAX_DAYS, MAX_SUB_DAYS
from tracking.models import SUB_FIELDS

DEFAULT_DAYS = 30
GROUPING_LABELS = {
    "day": "Day",
    "offer": "Offer",
    "goal": "Goal",
    "country": "Country",
    "os": "OS",
    "device": "Device type",
}


class ReportPeriodForm(DateRangeForm):
    """A report's period, `date_from` to `date_to`: UTC days, both included, at most MAX_DAYS; by
    default the last 30 days, or 30 days up to `date_to`, or from `date_from` to today."""

    max_days = MAX_DAYS

    def clean(self):
        complete_period(self, DEFAULT_DAYS)
        return super().clean()


class StatsFilterForm(ReportPeriodForm):
    """The report's period (ReportPeriodForm), `offer` (offer id), `country` (the visitors' country
    code, in any case) and `group_by`.

    `offers` are the offers the filter may name; any other id is refused, so an affiliate learns
    nothing about offers that are not theirs.
    """

    offer = public_id_field("Offer")
    group_by = forms.ChoiceField(
        label="Group by",
        choices=[(name, GROUPING_LABELS.get(name, name)) for name in GROUPINGS],
        required=False,
        error_messages={
            "invalid_choice": "Unknown grouping %(value)s: choose day, offer, goal, country, os, device "
            "or sub1..sub8."
        },
    )
    country = forms.CharField(
        label="Country", required=False, strip=True, help_text="The visitors' country code, such as US"
    )
    unknown_offer_message = "Unknown offer: choose one of your offers."

    def __init__(self, *args, offers, **kwargs):
        super().__init__(*args, **kwargs)
        self.offers = offers

    def clean_offer(self):
        offer_id = self.cleaned_data.get("offer")
        if offer_id is None:
            return None
        offer = self.offers.filter(offer_id=offer_id).first()
        if offer is None:
            raise forms.ValidationError(self.unknown_offer_message)
        return offer

    def clean_country(self):
        typed = self.cleaned_data.get("country", "")
        if not typed:
            return None
        code = country_code(typed)
        if not code:
            raise forms.ValidationError(f"Unknown country {typed[:8]}: give a country code such as US or DE.")
        return code

    def clean_group_by(self):
        return self.cleaned_data.get("group_by") or "day"

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        days = (cleaned["date_to"] - cleaned["date_from"]).days + 1
        group_by = cleaned.get("group_by", "day")
        # Sub values are counted from the clicks themselves, which leave after their retention
        # (config.partitions); every other grouping reads the rollup, kept for good.
        first_kept = timezone.now().date() - timedelta(days=settings.CLICK_RETENTION_DAYS - 1)
        if group_by in SUB_FIELDS and days > MAX_SUB_DAYS:
            self.add_error(
                "group_by",
                f"Grouping by {group_by} covers at most {MAX_SUB_DAYS} days: choose a shorter period.",
            )
        elif group_by in SUB_FIELDS and cleaned["date_from"] < first_kept:
            self.add_error(
                "group_by",
                f"Grouping by {group_by} reads the clicks themselves, which are kept "
                f"{settings.CLICK_RETENTION_DAYS} days: choose a period from {first_kept:%Y-%m-%d}.",
            )
        return cleaned


class ManagerStatsFilterForm(StatsFilterForm):
    """The network's statistics: any offer, and one affiliate (pid) or all of them."""

    affiliate = public_id_field("pid")
    unknown_offer_message = "Unknown offer: no offer has this id."

    def clean_affiliate(self):
        pid = self.cleaned_data.get("affiliate")
        if pid is None:
            return None
        affiliate = Affiliate.objects.filter(pid=pid).first()
        if affiliate is None:
            raise forms.ValidationError("Unknown affiliate: no affiliate has this pid.")
        return affiliate

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("group_by") in SUB_FIELDS and "affiliate" in cleaned and cleaned["affiliate"] is None:
            self.add_error(
                "group_by",
                "Grouping by sub values needs an affiliate (pid): sub values are each affiliate's own.",
            )
        return cleaned


class PortalStatsFilterForm(StatsFilterForm):
    """The portal's form: dates as date pickers, the offer picked from a list."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        use_date_pickers(self)
        self.fields["country"].widget.attrs.update({"placeholder": "US", "size": 4, "maxlength": 2})
        self.fields["offer"].widget = forms.Select(
            choices=[
                ("", "All offers"),
                *((offer.offer_id, f"#{offer.offer_id} {offer.title}") for offer in self.offers),
            ]
        )
