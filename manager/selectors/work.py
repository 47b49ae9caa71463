"""What waits for a manager, for the work queue (`/admin/work/`).

1. Access requests to private offers still pending, the longest waiting first.
2. Conversions pending for longer than a number of days (test conversions aside), counted per
   offer, the offer with the oldest first.
3. Affiliate postbacks in trouble: enabled but failing (`failing_since` set), or disabled by the
   platform (disabled with a `disabled_reason`; one an affiliate turned off without a reason is
   their choice, not a manager's work), the longest in trouble first, each with its deliveries of
   the last days, the explanation of its last failure among them, and its open alert (the
   threshold of alerts.rules crossed, and what its affiliate was told).
4. Advertiser postbacks refused within a window, counted per advertiser where the hit's offer was
   known, and per caller IP and message where it was not, the most refused first, each beside the
   hits accepted in the same window from the same advertiser or IP.
5. Advertisers whose postbacks are refused at a high rate now (alerts.rules: a broken
   integration), the longest first, as the beat's last evaluation found them.

Every list shows at most ROWS rows and says how many it has in all: the admin's own list of the
same rows (linked from the page) holds the rest. Each section takes a fixed number of queries.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from django.db.models import Count, F, Max, Min, Q, Window
from django.db.models.functions import Coalesce, RowNumber

from alerts.models import AdvertiserAlert, PostbackAlert
from alerts.selectors import advertisers_refused, open_postback_alerts
from conversions.models import Conversion, ServerPostback
from manager.selectors.partners import HEALTH_DAYS, PostbackHealth, measure_postback_health
from offers.choices import ConversionStatus
from offers.models import Advertiser, Offer, OfferAccess
from postbacks.selectors import troubled_postbacks

ROWS = 50
# The refusal messages shown for each advertiser, the most frequent first.
MESSAGES_PER_ADVERTISER = 3


T = TypeVar("T")


@dataclass(frozen=True)
class Listed(Generic[T]):
    """The first rows of a list, and how many rows it has in all."""

    rows: list[T]
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


def _listed(queryset, rows: list) -> Listed:
    """`rows`, the first ROWS of `queryset`, with the count of all (counted only when cut off)."""
    return Listed(rows, len(rows) if len(rows) < ROWS else queryset.count())


# --- 1. Access requests -----------------------------------------------------------------------


def access_requests_waiting() -> Listed[OfferAccess]:
    waiting = OfferAccess.objects.filter(status=OfferAccess.Status.PENDING)
    rows = list(
        waiting.select_related("affiliate__user", "offer__advertiser").order_by("requested_at", "pk")[:ROWS]
    )
    return _listed(waiting, rows)


def access_requests_waiting_count() -> int:
    return OfferAccess.objects.filter(status=OfferAccess.Status.PENDING).count()


# --- 2. Conversions pending too long ----------------------------------------------------------


@dataclass(frozen=True)
class PendingOffer:
    offer: Offer
    conversions: int
    oldest: datetime


@dataclass(frozen=True)
class PendingConversions:
    offers: Listed[PendingOffer]
    conversions: int  # of every offer
    created_before: datetime


def conversions_pending_before(created_before: datetime):
    """Conversions still pending that were created before `created_before`, test ones aside: the
    rows the work queue counts, which its links show in the admin's conversion list through the
    list's own filters (status, test, created before)."""
    return Conversion.objects.filter(
        status=ConversionStatus.PENDING, is_test=False, created_at__lt=created_before
    )


def conversions_pending_longer_than(*, days: int, now: datetime) -> PendingConversions:
    created_before = now - timedelta(days=days)
    pending = conversions_pending_before(created_before).order_by()
    groups = list(
        pending.values("offer")
        .annotate(conversions=Count("pk"), oldest=Min("created_at"))
        .order_by("oldest", "offer")[:ROWS]
    )
    offers = Offer.objects.select_related("advertiser").in_bulk([group["offer"] for group in groups])
    rows = [PendingOffer(offers[group["offer"]], group["conversions"], group["oldest"]) for group in groups]
    totals = pending.aggregate(conversions=Count("pk"), offers=Count("offer", distinct=True))
    return PendingConversions(Listed(rows, totals["offers"]), totals["conversions"], created_before)


# --- 3. Affiliate postbacks in trouble --------------------------------------------------------


@dataclass
class TroubledPostback(PostbackHealth):
    alert: PostbackAlert | None = None  # open when alerts.rules' threshold is crossed

    @property
    def host(self) -> str:
        """The host the postback's URL names ("" for a URL too broken to read)."""
        try:
            return urlsplit(self.postback.url).hostname or ""
        except ValueError:
            return ""


@dataclass(frozen=True)
class PostbacksInTrouble:
    postbacks: Listed[TroubledPostback]
    health_since: datetime  # the start of the success rates and of the failures explained


def postbacks_in_trouble_count() -> int:
    return troubled_postbacks().count()


def postbacks_in_trouble(*, now: datetime) -> PostbacksInTrouble:
    """The postbacks in trouble, each with its deliveries of the last HEALTH_DAYS days and the
    last of them that failed, as the affiliate's page measures them (measure_postback_health)."""
    since = now - timedelta(days=HEALTH_DAYS)
    troubled = troubled_postbacks()
    rows = list(
        troubled.select_related("affiliate__user", "offer__advertiser", "goal")
        # Disabled postbacks keep the start of the failures that disabled them.
        .annotate(since=Coalesce("failing_since", "updated_at"))
        .order_by("since", "pk")[:ROWS]
    )
    health = {postback.pk: TroubledPostback(postback) for postback in rows}
    measure_postback_health(health, since=since)
    for postback_pk, alert in open_postback_alerts(list(health)).items():
        health[postback_pk].alert = alert
    return PostbacksInTrouble(_listed(troubled, list(health.values())), since)


# --- 5. Advertiser integrations refused at a high rate (alerts.rules) -----------------------


def advertiser_alerts() -> Listed[AdvertiserAlert]:
    """Advertisers whose postbacks are refused at alerts.rules' rate now, the longest first."""
    alerts = advertisers_refused()
    return _listed(alerts, list(alerts[:ROWS]))


# --- 4. Advertiser postbacks refused ----------------------------------------------------------


@dataclass(kw_only=True)
class RefusedGroup:
    refused: int
    last: datetime
    accepted: int = 0  # hits accepted in the window from the same advertiser (or caller IP)

    @property
    def rate(self) -> Decimal:
        """Refused hits per 100 of the group's hits, accepted ones included."""
        hits = self.refused + self.accepted
        return (Decimal(100 * self.refused) / hits).quantize(Decimal("0.1"))


@dataclass(kw_only=True)
class RefusedByAdvertiser(RefusedGroup):
    advertiser: Advertiser
    messages: list[tuple[str, int]] = field(default_factory=list)  # the most frequent, with counts


@dataclass(kw_only=True)
class RefusedByCaller(RefusedGroup):
    ip: str | None  # None when the hit's address was not recorded
    message: str
    first: datetime


@dataclass(frozen=True)
class Refusals:
    since: datetime
    until: datetime
    refused: int  # every refused hit of the window
    by_advertiser: Listed[RefusedByAdvertiser]
    by_caller: Listed[RefusedByCaller]


def server_postbacks_between(since: datetime, until: datetime):
    """The inbound log from `since` up to (not including) `until`: the window the work queue
    counts, which its links give the admin's list as its "received from" and "received before"
    filters."""
    return ServerPostback.objects.filter(received_at__gte=since, received_at__lt=until)


def refused_advertiser_postbacks(*, since: datetime, until: datetime) -> Refusals:
    window = server_postbacks_between(since, until).order_by()
    refused = window.filter(outcome=ServerPostback.Outcome.REJECTED)
    accepted = window.exclude(outcome=ServerPostback.Outcome.REJECTED)
    return Refusals(
        since=since,
        until=until,
        refused=refused.count(),
        by_advertiser=_refused_by_advertiser(refused.filter(offer__isnull=False), accepted),
        by_caller=_refused_by_caller(refused.filter(offer__isnull=True), accepted),
    )


def _refused_by_advertiser(refused, accepted) -> Listed[RefusedByAdvertiser]:
    groups = list(
        refused.values(advertiser_id=F("offer__advertiser"))
        .annotate(refused=Count("pk"), last=Max("received_at"))
        .order_by("-refused", "advertiser_id")[:ROWS]
    )
    advertisers = Advertiser.objects.in_bulk([group["advertiser_id"] for group in groups])
    rows = {
        group["advertiser_id"]: RefusedByAdvertiser(
            refused=group["refused"], last=group["last"], advertiser=advertisers[group["advertiser_id"]]
        )
        for group in groups
    }
    if rows:
        listed = {"offer__advertiser__in": list(rows)}
        for values in (
            accepted.filter(**listed).values(advertiser_id=F("offer__advertiser")).annotate(hits=Count("pk"))
        ):
            rows[values["advertiser_id"]].accepted = values["hits"]
        # The window is annotated after the count, over its alias: so it stays out of GROUP BY.
        frequent = (
            refused.filter(**listed)
            .values("message", advertiser_id=F("offer__advertiser"))
            .annotate(hits=Count("pk"))
            .annotate(
                rank=Window(
                    RowNumber(),
                    partition_by=F("advertiser_id"),
                    order_by=[F("hits").desc(), F("message").asc()],
                )
            )
            .filter(rank__lte=MESSAGES_PER_ADVERTISER)
        )
        for values in sorted(frequent, key=lambda values: values["rank"]):
            rows[values["advertiser_id"]].messages.append((values["message"], values["hits"]))
    if len(rows) < ROWS:
        return Listed(list(rows.values()), len(rows))
    total = refused.aggregate(advertisers=Count("offer__advertiser", distinct=True))["advertisers"]
    return Listed(list(rows.values()), total)


def _refused_by_caller(refused, accepted) -> Listed[RefusedByCaller]:
    groups = refused.values("ip", "message")
    rows = [
        RefusedByCaller(
            refused=group["refused"],
            last=group["last"],
            first=group["first"],
            ip=group["ip"],
            message=group["message"],
        )
        for group in groups.annotate(
            refused=Count("pk"), first=Min("received_at"), last=Max("received_at")
        ).order_by("-refused", "ip", "message")[:ROWS]
    ]
    ips = {row.ip for row in rows}
    if rows:
        from_callers = Q(ip__in=ips - {None})
        if None in ips:
            from_callers |= Q(ip__isnull=True)
        hits = dict(
            accepted.filter(from_callers).values("ip").annotate(hits=Count("pk")).values_list("ip", "hits")
        )
        for row in rows:
            row.accepted = hits.get(row.ip, 0)
    return Listed(rows, len(rows) if len(rows) < ROWS else groups.distinct().count())
