"""What the manager console shows of one partner.

An affiliate: its figures over the last 30 days against the 30 before (from the statistics
rollup), the offers it ran and asked for, its postbacks with their health, its API keys, and what
was refused of its traffic lately. An advertiser: its offers with their figures, the advertiser
postbacks refused for them, and what tells its postbacks from forged ones.

Every list is bounded and newest first; each is read with a fixed number of queries, whatever
the number of rows (no query per row). Periods are UTC days, today included.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from api.models import ApiKey
from config.amounts import amount_text
from conversions.models import ServerPostback
from manager.selectors.money import Earnings, amounts_of
from offers.models import Advertiser, Affiliate, Offer, OfferAccess
from offers.targeting import REFUSAL_LABELS, TargetingRefusal, country_label
from postbacks.explanations import Explanation, explain
from postbacks.models import Delivery, Postback
from stats.models import DailyStat
from stats.selectors import COUNTERS, Figures, Report, stats_report
from tracking.models import RefusedClick

PERIOD_DAYS = 30
# Postback health is judged on the last week: long enough to see a pattern, short enough that a
# fixed endpoint shows as fixed.
HEALTH_DAYS = 7
# The rows each list shows; the admin's own lists, linked beside, hold the rest.
RECENT_ROWS = 10
OFFER_ROWS = 25
ACCESS_ROWS = 20
POSTBACK_ROWS = 50
API_KEY_ROWS = 20
ADVERTISER_OFFER_ROWS = 100
REFUSAL_MESSAGES = 20


@dataclass(frozen=True)
class Period:
    date_from: date
    date_to: date


def recent_periods(today: date) -> tuple[Period, Period]:
    """The last PERIOD_DAYS days up to `today`, and the PERIOD_DAYS days before them."""
    current = Period(today - timedelta(days=PERIOD_DAYS - 1), today)
    previous = Period(current.date_from - timedelta(days=PERIOD_DAYS), current.date_from - timedelta(days=1))
    return current, previous


@dataclass(frozen=True)
class Line:
    """A row of the comparison of two periods: a count, a percent or an amount."""

    label: str
    current: object
    previous: object
    kind: str = "count"

    @property
    def texts(self) -> tuple[str, str]:
        """Both values as the page writes them: amounts as config.amounts does, "-" for a rate
        without clicks."""
        return self._text(self.current), self._text(self.previous)

    def _text(self, value) -> str:
        if self.kind == "money":
            return amount_text(value)
        if self.kind == "percent":
            return "-" if value is None else f"{value}%"
        return str(value)


def comparison_lines(current: Figures, previous: Figures) -> list[Line]:
    """The figures of two periods side by side; each currency has lines of its own (amounts of
    different currencies are never added)."""
    lines = [
        Line("Clicks", current.clicks, previous.clicks),
        Line("Unique clicks", current.unique_clicks, previous.unique_clicks),
        Line("Refused clicks (targeting)", current.refused_total, previous.refused_total),
        Line("Conversions", current.conversions, previous.conversions),
        *(
            Line(f"… {name}", current.counts[name], previous.counts[name])
            for name in ["approved", "pending", "hold", "declined"]
        ),
        Line("CR", current.cr, previous.cr, kind="percent"),
    ]
    now = {amounts.currency: amounts for amounts in amounts_of(current)}
    before = {amounts.currency: amounts for amounts in amounts_of(previous)}
    zero = Decimal(0)
    for currency in sorted(now.keys() | before.keys()):
        a, b = now.get(currency), before.get(currency)
        for label, name in [
            ("Payout", "payout"),
            ("Revenue", "revenue"),
            ("Profit", "profit"),
            ("Pending and hold payout", "expected_payout"),
        ]:
            lines.append(
                Line(
                    f"{label}, {currency}",
                    getattr(a, name) if a else zero,
                    getattr(b, name) if b else zero,
                    kind="money",
                )
            )
    return lines


@dataclass(frozen=True)
class OfferFigures:
    offer: Offer
    figures: Figures
    amounts: list[Earnings]


def _offer_lines(report: Report, limit: int) -> list[OfferFigures]:
    """A report's offer rows, the busiest first (by conversions, then clicks)."""
    rows = sorted(
        report.rows, key=lambda row: (-row.figures.conversions, -row.figures.clicks, row.offer.offer_id)
    )
    return [OfferFigures(row.offer, row.figures, amounts_of(row.figures)) for row in rows[:limit]]


# --- An affiliate -----------------------------------------------------------------------------


@dataclass
class PostbackHealth:
    postback: Postback
    attempted: int = 0  # deliveries tried at least once in the last HEALTH_DAYS days
    succeeded: int = 0
    last_failure: Delivery | None = None  # of a failing or disabled postback

    @property
    def rate(self) -> Decimal | None:
        if not self.attempted:
            return None
        return (Decimal(100 * self.succeeded) / self.attempted).quantize(Decimal("0.1"))

    @property
    def scope(self) -> str:
        postback = self.postback
        if postback.offer is None:
            return "Global"
        return "Offer and goal" if postback.goal_id else "Offer"

    @property
    def explanation(self) -> Explanation | None:
        """What the last failed delivery of a failing or disabled postback got, in words."""
        failure = self.last_failure
        return explain(http_code=failure.http_code, error=failure.error, url=failure.url) if failure else None

    @property
    def state(self) -> str:
        """Enabled or disabled, and why, in words."""
        postback = self.postback
        if postback.enabled:
            return "Enabled, failing" if postback.failing_since else "Enabled"
        if postback.disabled_reason:
            return "Disabled automatically"
        return "Disabled by the affiliate or a manager"


@dataclass
class AffiliateOverview:
    affiliate: Affiliate
    current: Period
    previous: Period
    totals: list[Line]
    offers: list[OfferFigures]
    offer_count: int
    access_requests: list[OfferAccess]
    access_count: int
    postbacks: list[PostbackHealth]
    postback_count: int
    api_keys: list[ApiKey]
    api_key_count: int
    refused_clicks: list[RefusedClick]
    failed_deliveries: list[Delivery]
    health_since: datetime  # the start of the postbacks' success rates
    recent_since: datetime  # the start of the lists of refusals


def affiliate_by_pid(pid: int) -> Affiliate | None:
    return Affiliate.objects.select_related("user").filter(pid=pid).first()


def affiliate_overview(affiliate: Affiliate) -> AffiliateOverview:
    now = timezone.now()
    current, previous = recent_periods(now.date())
    report = stats_report(
        affiliate=affiliate, group_by="offer", date_from=current.date_from, date_to=current.date_to
    )
    before = stats_report(
        affiliate=affiliate, group_by="offer", date_from=previous.date_from, date_to=previous.date_to
    )
    accesses = OfferAccess.objects.filter(affiliate=affiliate)
    health_since = now - timedelta(days=HEALTH_DAYS)
    postbacks, postback_count = _postback_health(affiliate, since=health_since)
    keys = ApiKey.objects.filter(user_id=affiliate.user_id)
    recent_since = now - timedelta(days=PERIOD_DAYS)
    return AffiliateOverview(
        affiliate=affiliate,
        current=current,
        previous=previous,
        totals=comparison_lines(report.totals, before.totals),
        offers=_offer_lines(report, OFFER_ROWS),
        offer_count=len(report.rows),
        access_requests=list(
            accesses.select_related("offer", "decided_by").order_by("-requested_at")[:ACCESS_ROWS]
        ),
        access_count=accesses.count(),
        postbacks=postbacks,
        postback_count=postback_count,
        # The active keys first, newest first; then the revoked ones, the latest revoked first.
        api_keys=list(keys.order_by(F("revoked_at").desc(nulls_first=True), "-created_at")[:API_KEY_ROWS]),
        api_key_count=keys.count(),
        refused_clicks=_refused_clicks(affiliate, since=recent_since),
        failed_deliveries=_failed_deliveries(affiliate, since=recent_since),
        health_since=health_since,
        recent_since=recent_since,
    )


def measure_postback_health(health: dict[int, PostbackHealth], *, since: datetime) -> None:
    """Fill in each postback's deliveries since `since` that were tried at least once, and, for
    one failing or disabled, the last of them that failed (a postback disabled before `since` has
    none: its page shows the reason it was disabled with, as recorded). One query, three when
    some are in trouble, whatever the number of postbacks and deliveries.

    Deliveries of test conversions are left out, as the dashboard's delivery rate leaves them
    out: a manager's test of a dead endpoint does not make a healthy postback look sick."""
    if not health:
        return
    recent = Delivery.objects.filter(postback__in=list(health), created_at__gte=since, attempts__gt=0)
    counted = (
        recent.filter(conversion__is_test=False)
        .order_by()
        .values("postback_id")
        .annotate(attempted=Count("pk"), succeeded=Count("pk", filter=Q(state=Delivery.State.SUCCEEDED)))
    )
    for values in counted:
        health[values["postback_id"]].attempted = values["attempted"]
        health[values["postback_id"]].succeeded = values["succeeded"]
    troubled = [pk for pk, one in health.items() if one.postback.failing_since or not one.postback.enabled]
    if not troubled:
        return
    last_failure = (
        recent.filter(postback=OuterRef("pk"))
        .exclude(state=Delivery.State.SUCCEEDED)
        .order_by("-created_at", "-pk")
        .values("pk")[:1]
    )
    failures = dict(
        Postback.objects.filter(pk__in=troubled)
        .annotate(last_failure=Subquery(last_failure))
        .values_list("pk", "last_failure")
    )
    deliveries = Delivery.objects.in_bulk([pk for pk in failures.values() if pk is not None])
    for postback_pk, delivery_pk in failures.items():
        health[postback_pk].last_failure = deliveries.get(delivery_pk)


def _postback_health(affiliate: Affiliate, *, since: datetime) -> tuple[list[PostbackHealth], int]:
    """The affiliate's postbacks (global ones first), each with its deliveries of the last days
    (measure_postback_health): a few queries in all."""
    postbacks = Postback.objects.filter(affiliate=affiliate)
    rows = list(
        postbacks.select_related("offer", "goal").order_by(F("offer__offer_id").asc(nulls_first=True), "pk")[
            :POSTBACK_ROWS
        ]
    )
    count = len(rows) if len(rows) < POSTBACK_ROWS else postbacks.count()
    health = {postback.pk: PostbackHealth(postback) for postback in rows}
    measure_postback_health(health, since=since)
    return list(health.values()), count


def _refused_clicks(affiliate: Affiliate, *, since: datetime) -> list[RefusedClick]:
    """The newest refused clicks, each with `why`: the reason in words (refusal_reason)."""
    # Bounded by time as well as by count: no index leads with the affiliate, so the newest
    # rows are found along the index of dates, within the period only.
    refused_clicks = list(
        RefusedClick.objects.filter(affiliate=affiliate, created_at__gte=since)
        .select_related("offer")
        .order_by("-created_at")[:RECENT_ROWS]
    )
    for refused in refused_clicks:
        refused.why = refusal_reason(refused)
    return refused_clicks


def _failed_deliveries(affiliate: Affiliate, *, since: datetime) -> list[Delivery]:
    """Deliveries whose last attempt failed: given up on, or waiting for their next try."""
    return list(
        Delivery.objects.filter(
            affiliate=affiliate,
            created_at__gte=since,
            state__in=[Delivery.State.FAILED, Delivery.State.RETRYING],
            attempts__gt=0,
        )
        .select_related("conversion__offer", "postback")
        .order_by("-created_at", "-pk")[:RECENT_ROWS]
    )


def refusal_reason(refused: RefusedClick) -> str:
    """Why the offer's targeting turned the visit away, with what the visitor was."""
    reason = REFUSAL_LABELS.get(refused.reason, refused.reason)
    shown = {
        TargetingRefusal.COUNTRY.value: country_label(refused.country) if refused.country else "unknown",
        TargetingRefusal.OS.value: refused.os_family or "unknown",
        TargetingRefusal.DEVICE.value: refused.get_device_type_display() or "unknown",
    }.get(refused.reason, "")
    return f"{reason}: {shown}" if shown else reason


# --- An advertiser ----------------------------------------------------------------------------


@dataclass
class AdvertiserOffer:
    offer: Offer
    figures: Figures
    amounts: list[Earnings]
    refused_day: int = 0  # advertiser postbacks refused for the offer in the last 24 hours
    refused_week: int = 0  # ... and in the last 7 days

    @property
    def protection(self) -> str:
        """What tells this offer's advertiser postbacks from forged ones, in words."""
        offer, advertiser = self.offer, self.offer.advertiser
        if offer.secure_code:
            return "Its own secure code"
        if advertiser.secure_code or advertiser.ip_allowlist:
            return "The advertiser's"
        return "Nothing: open to anyone"


@dataclass(frozen=True)
class RefusalMessage:
    message: str
    last_day: int
    last_week: int


@dataclass
class AdvertiserOverview:
    advertiser: Advertiser
    current: Period
    offers: list[AdvertiserOffer]
    offer_count: int
    refusal_messages: list[RefusalMessage]
    latest_refusals: list[ServerPostback]
    secure_code_end: str  # the last characters of the advertiser's secure code; "" when none
    open_offers: list[Offer]  # offers that take advertiser postbacks from anyone

    @property
    def protected(self) -> bool:
        return bool(self.advertiser.secure_code or self.advertiser.ip_allowlist)


# Enough of the code to tell two codes apart, never enough to guess it.
SECURE_CODE_SHOWN = 2


def advertiser_overview(advertiser: Advertiser) -> AdvertiserOverview:
    now = timezone.now()
    current, _ = recent_periods(now.date())
    offers = advertiser.offers.all()
    rows = list(offers.order_by("offer_id")[:ADVERTISER_OFFER_ROWS])
    count = len(rows) if len(rows) < ADVERTISER_OFFER_ROWS else offers.count()
    figures = _offer_figures([offer.pk for offer in rows], current)
    lines = {
        offer.pk: AdvertiserOffer(
            offer, figures.get(offer.pk, Figures()), amounts_of(figures.get(offer.pk, Figures()))
        )
        for offer in rows
    }
    day_ago, week_ago = now - timedelta(days=1), now - timedelta(days=7)
    # Refusals are counted and listed for the offers of the page, within the week: the
    # (offer, received_at) index serves both.
    refused = ServerPostback.objects.filter(
        offer__in=list(lines), outcome=ServerPostback.Outcome.REJECTED, received_at__gte=week_ago
    )
    counted = (
        refused.order_by()
        .values("offer_id")
        .annotate(day=Count("pk", filter=Q(received_at__gte=day_ago)), week=Count("pk"))
    )
    for values in counted:
        lines[values["offer_id"]].refused_day = values["day"]
        lines[values["offer_id"]].refused_week = values["week"]
    messages = (
        refused.order_by()
        .values("message")
        .annotate(day=Count("pk", filter=Q(received_at__gte=day_ago)), week=Count("pk"))
        .order_by("-week", "message")[:REFUSAL_MESSAGES]
    )
    code = advertiser.secure_code
    return AdvertiserOverview(
        advertiser=advertiser,
        current=current,
        offers=list(lines.values()),
        offer_count=count,
        refusal_messages=[RefusalMessage(row["message"], row["day"], row["week"]) for row in messages],
        latest_refusals=list(refused.select_related("offer").order_by("-received_at", "-pk")[:RECENT_ROWS]),
        secure_code_end=code[-SECURE_CODE_SHOWN:] if len(code) > 2 * SECURE_CODE_SHOWN else "",
        open_offers=[line.offer for line in lines.values() if line.offer.takes_postbacks_from_anyone],
    )


def _offer_figures(offer_pks: list[int], period: Period) -> dict[int, Figures]:
    """Each offer's figures over `period`, every affiliate's together, from the rollup's sums
    (stats.models.DailyStat): one query for all the offers."""
    figures: dict[int, Figures] = {}
    sums = (
        DailyStat.objects.filter(offer__in=offer_pks, day__range=(period.date_from, period.date_to))
        .order_by()
        .values("offer_id", "currency")
        .annotate(**{name: Sum(name) for name in COUNTERS})
    )
    for values in sums:
        figures.setdefault(values["offer_id"], Figures()).add_counters(values, values["currency"])
    return figures
