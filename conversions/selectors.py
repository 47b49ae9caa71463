"""Reads of conversions and inbound postbacks: the one reading of the list filters, shared by the
portal's statistics page, its CSV export, the partner API and the manager API."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, Sum

from config.filters import period_q
from conversions.models import Conversion
from offers.access import offers_runnable_by
from offers.choices import PAYABLE_STATUSES, ConversionStatus
from offers.models import Affiliate, Offer
from tracking.models import SUB_FIELDS, Click


def conversions_with_relations():
    return Conversion.objects.select_related("offer", "affiliate", "goal", "click")


def conversions_for_statistics(affiliate: Affiliate):
    """An affiliate's conversions as their statistics count them: test conversions left out."""
    return Conversion.objects.select_related("offer", "goal").filter(affiliate=affiliate, is_test=False)


def conversions_filtered(conversions, filters: dict):
    """Narrow `conversions` by the cleaned data of conversions.forms.ConversionFilterForm (or its
    manager variant, which adds `affiliate`). Empty values do not filter."""
    conversions = conversions.filter(period_q("created_at", filters.get("date_from"), filters.get("date_to")))
    if filters.get("status") is not None:
        conversions = conversions.filter(status=filters["status"])
    if filters.get("offer"):
        conversions = conversions.filter(offer__offer_id=filters["offer"])
    if filters.get("affiliate"):
        conversions = conversions.filter(affiliate__pid=filters["affiliate"])
    if filters.get("goal"):
        # A conversion declined for a goal the offer lacks is found by the goal it named.
        goal = filters["goal"]
        named = Q(goal__value__iexact=goal, unknown_goal="") | Q(unknown_goal=goal.lower())
        conversions = conversions.filter(named)
    subs = {name: filters[name] for name in SUB_FIELDS if filters.get(name)}
    return conversions.filter(**subs)


def offers_for_statistics(affiliate: Affiliate):
    """The offers an affiliate may name in the filters of their figures (the Statistics and
    Conversions pages, the postback log, the statistics API): those they may run now, and any they
    have clicks or conversions on, so that a paused offer's or a revoked access's history stays
    reachable. No other offer, not even its title, is shown to them."""
    clicked = Click.objects.filter(affiliate=affiliate, offer=OuterRef("pk"))
    converted = Conversion.objects.filter(affiliate=affiliate, offer=OuterRef("pk"))
    runnable = Q(pk__in=offers_runnable_by(affiliate).values("pk"))
    return Offer.objects.filter(runnable | Exists(clicked) | Exists(converted)).order_by("offer_id")


@dataclass
class CurrencyTotals:
    currency: str
    payout_by_status: list[Decimal]  # in the order of ConversionStatus
    payable: Decimal  # approved, pending and hold: a declined conversion is never paid


@dataclass
class ConversionTotals:
    count_by_status: list[tuple[ConversionStatus, int]]
    count: int
    currencies: list[CurrencyTotals]


def conversion_totals(conversions) -> ConversionTotals:
    """How many conversions of each status, and the payout per currency: per status, and the
    payable total (PAYABLE_STATUSES), which leaves the declined payout out."""
    # The model's default ordering would split the groups.
    rows = (
        conversions.order_by().values("status", "currency").annotate(count=Count("pk"), payout=Sum("payout"))
    )
    counts = dict.fromkeys(ConversionStatus, 0)
    payouts: dict[str, dict] = {}
    for row in rows:
        status = ConversionStatus(row["status"])
        counts[status] += row["count"]
        by_status = payouts.setdefault(row["currency"], dict.fromkeys(ConversionStatus, Decimal(0)))
        by_status[status] += row["payout"]
    return ConversionTotals(
        count_by_status=list(counts.items()),
        count=sum(counts.values()),
        currencies=[
            CurrencyTotals(
                currency,
                list(by_status.values()),
                sum((by_status[status] for status in PAYABLE_STATUSES), Decimal(0)),
            )
            for currency, by_status in sorted(payouts.items())
        ],
    )


def server_postbacks_filtered(server_postbacks, filters: dict):
    """Narrow inbound postbacks by api.filters.NetworkFilterForm's cleaned data. The offer is the
    one the postback was for, refused or not, when it was known (rows logged before the log kept
    it are matched by their conversion's); the affiliate is that of the conversion it reached, so
    rejected postbacks match none."""
    server_postbacks = server_postbacks.filter(
        period_q("received_at", filters.get("date_from"), filters.get("date_to"))
    )
    if filters.get("offer"):
        server_postbacks = server_postbacks.filter(
            Q(offer__offer_id=filters["offer"]) | Q(conversion__offer__offer_id=filters["offer"])
        )
    if filters.get("affiliate"):
        server_postbacks = server_postbacks.filter(conversion__affiliate__pid=filters["affiliate"])
    return server_postbacks
