"""Reads for alerts: what the rules measure (alerts.rules), the affiliate's portal notices and the
manager's open alerts."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Q, Window
from django.db.models.functions import RowNumber

from alerts.models import AdvertiserAlert, PostbackAlert
from alerts.rules import FAILURES_IN_A_ROW, LOOKBACK, WINDOW, PostbackMeasure
from conversions.models import ServerPostback
from offers.models import Affiliate
from postbacks.models import DeliveryAttempt, Postback
from postbacks.selectors import troubled_postbacks

# How long a recovery's notice stays in the portal when its affiliate does not dismiss it.
NOTICE_RECOVERED_FOR = timedelta(days=1)
SUCCESS = Q(http_code__gte=200, http_code__lt=300)


def postbacks_to_evaluate():
    """Postbacks whose alert may change: those in trouble by postbacks.queue's record (a failing
    streak, or disabled with a reason), and those whose alert is open. Every other postback's
    alert is ok and stays so: a postback whose last delivery succeeded has no failing streak."""
    return troubled_postbacks() | Postback.objects.filter(
        alert__state__in=[PostbackAlert.State.FAILING, PostbackAlert.State.DISABLED]
    )


def _attempts_of(postback_ids: list[int], *, since: datetime):
    # A delivery attempted since `since` was created at most a retry schedule (jittered) before:
    # the bound lets the query walk the deliveries' index of dates rather than every delivery.
    created_after = since - timedelta(seconds=sum(settings.POSTBACK_RETRY_SCHEDULE) * 1.2 + 60)
    return DeliveryAttempt.objects.filter(
        delivery__postback__in=postback_ids,
        delivery__conversion__is_test=False,
        # As postbacks.queue counts a postback's health: live deliveries only.
        delivery__is_backfill=False,
        delivery__created_at__gte=created_after,
        started_at__gte=since,
    )


def postback_measures(postbacks: list[Postback], *, now: datetime) -> dict[int, PostbackMeasure]:
    """What alerts.rules.postback_condition reads of each postback: two queries in all. Attempts
    are measured only for postbacks with a failing streak: the others' state needs none."""
    streaking = [postback.pk for postback in postbacks if postback.enabled and postback.failing_since]
    last: dict[int, list[bool]] = {pk: [] for pk in streaking}
    window: dict[int, tuple[int, int]] = {}
    if streaking:
        ranked = (
            _attempts_of(streaking, since=now - LOOKBACK)
            .annotate(
                postback_id=F("delivery__postback_id"),
                rank=Window(
                    RowNumber(),
                    partition_by=F("delivery__postback_id"),
                    order_by=[F("started_at").desc(), F("pk").desc()],
                ),
            )
            .filter(rank__lte=FAILURES_IN_A_ROW)
            .values_list("postback_id", "rank", "http_code")
        )
        for postback_id, _, http_code in sorted(ranked, key=lambda row: row[1]):
            last[postback_id].append(200 <= http_code < 300)
        counted = (
            _attempts_of(streaking, since=now - WINDOW)
            .order_by()
            .values(postback_id=F("delivery__postback_id"))
            .annotate(attempts=Count("pk"), successes=Count("pk", filter=SUCCESS))
        )
        window = {row["postback_id"]: (row["attempts"], row["successes"]) for row in counted}
    return {
        postback.pk: PostbackMeasure(
            enabled=postback.enabled,
            disabled_reason=postback.disabled_reason,
            failing_since=postback.failing_since,
            last_attempts=tuple(last.get(postback.pk, ())),
            window_attempts=window.get(postback.pk, (0, 0))[0],
            window_successes=window.get(postback.pk, (0, 0))[1],
        )
        for postback in postbacks
    }


def advertiser_hits(*, now: datetime) -> dict[int, tuple[int, int]]:
    """Per advertiser, the advertiser postbacks of the last WINDOW whose offer the log names, and
    how many of them were refused. A hit refused before its offer was known (no or an unknown
    click id) names no advertiser: the work queue groups those by caller IP."""
    rows = (
        ServerPostback.objects.filter(received_at__gte=now - WINDOW, offer__isnull=False)
        .order_by()
        .values(advertiser_id=F("offer__advertiser"))
        .annotate(
            hits=Count("pk"),
            refused=Count("pk", filter=Q(outcome=ServerPostback.Outcome.REJECTED)),
        )
    )
    return {row["advertiser_id"]: (row["hits"], row["refused"]) for row in rows}


def notices_for(affiliate: Affiliate, *, now: datetime) -> list[PostbackAlert]:
    """The notices the portal shows an affiliate: its postbacks' latest alert changes not
    dismissed, a recovery's for NOTICE_RECOVERED_FOR only; trouble first, the newest first."""
    return list(
        PostbackAlert.objects.filter(postback__affiliate=affiliate, notice_shown=True)
        .exclude(state=PostbackAlert.State.OK, since__lt=now - NOTICE_RECOVERED_FOR)
        .select_related("postback__offer")
        .order_by("state", "-since", "-pk")[:20]  # disabled, failing, then ok
    )


def open_postback_alerts(postback_ids: list[int]) -> dict[int, PostbackAlert]:
    """The open alerts of these postbacks, by postback."""
    return {
        alert.postback_id: alert
        for alert in PostbackAlert.objects.filter(postback__in=postback_ids).exclude(
            state=PostbackAlert.State.OK
        )
    }


def advertisers_refused():
    """Advertisers whose postbacks are being refused at a high rate now, the longest first."""
    return (
        AdvertiserAlert.objects.filter(state=AdvertiserAlert.State.REFUSED)
        .select_related("advertiser")
        .order_by("since", "pk")
    )
