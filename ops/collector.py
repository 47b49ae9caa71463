"""The state half of /metrics (config.metrics has the counted half): read from PostgreSQL and
Redis when Prometheus scrapes, so nothing on a hot path keeps it up to date.

Each reading is cheap whatever the tables hold: the due deliveries are read through the partial
indexes `delivery_due` and `delivery_backfill_due` (their head for the oldest, a count that stops
at DUE_COUNT_LIMIT), the click buffer with three Redis commands in one round trip. A source that
cannot be read leaves its metrics out of that scrape (Prometheus then shows them absent, which the
alert rules treat as a problem of its own) and is logged; the other metrics are still answered.
"""

import logging

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from config import partitions
from postbacks.models import Delivery, Postback
from tracking import buffer
from tracking.tasks import FLUSH_FINISHED_KEY

logger = logging.getLogger(__name__)

# Counting due deliveries stops here: past it the number says "far behind" all the same, and the
# count stays an index scan of bounded length.
DUE_COUNT_LIMIT = 10_000


class StateCollector:
    def collect(self):
        for read in (_deliveries_due, _postbacks_disabled, _click_buffer, _click_flush, _partition_coverage):
            try:
                yield from read()
            except Exception:
                logger.exception("Metrics: %s could not be read", read.__name__.strip("_"))


def _deliveries_due():
    due = GaugeMetricFamily(
        "tracker_deliveries_due",
        f"Affiliate postback deliveries due and not being sent, by kind (counted up to {DUE_COUNT_LIMIT}).",
        labels=["kind"],
    )
    oldest = GaugeMetricFamily(
        "tracker_delivery_oldest_due_age_seconds",
        "How long the longest-waiting due delivery has been due, by kind (0: none is due).",
        labels=["kind"],
    )
    now = timezone.now()
    for kind, is_backfill in (("live", False), ("backfill", True)):
        # The conditions of the partial indexes, so that both queries read them.
        deliveries = Delivery.objects.filter(
            state__in=Delivery.UNFINISHED, is_backfill=is_backfill, next_attempt_at__lte=now
        )
        head = deliveries.order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
        due.add_metric([kind], deliveries.order_by()[:DUE_COUNT_LIMIT].count())
        oldest.add_metric([kind], (now - head).total_seconds() if head else 0.0)
    yield due
    yield oldest


def _postbacks_disabled():
    counts = Postback.objects.filter(enabled=False).aggregate(
        platform=Count("pk", filter=~Q(disabled_reason="")), owner=Count("pk", filter=Q(disabled_reason=""))
    )
    disabled = GaugeMetricFamily(
        "tracker_postbacks_disabled",
        "Disabled affiliate postbacks: by the platform after days of failures, or by their owner.",
        labels=["by"],
    )
    for by, count in counts.items():
        disabled.add_metric([by], count)
    yield disabled


def _click_buffer():
    reading = buffer.backlog()
    if reading is None:  # no Redis buffer: clicks are written as they come
        return
    length, age = reading
    yield GaugeMetricFamily(
        "tracker_click_buffer_backlog",
        "Clicks in the Redis buffer not yet written to PostgreSQL.",
        value=length,
    )
    yield GaugeMetricFamily(
        "tracker_click_buffer_oldest_age_seconds",
        "Age of the oldest click in the Redis buffer not yet written (0: the buffer is empty).",
        value=age,
    )


def _click_flush():
    finished = cache.get(FLUSH_FINISHED_KEY)
    if finished is None:
        return
    yield GaugeMetricFamily(
        "tracker_click_flush_last_success_timestamp_seconds",
        "When the click buffer's flush, which beat starts every second, last finished (Unix time).",
        value=finished,
    )


def _partition_coverage():
    if connection.vendor != "postgresql":  # no partitions: old rows leave by batched deletes
        return
    ahead = GaugeMetricFamily(
        "tracker_partition_weeks_ahead",
        "How many weeks ahead of now a partitioned table's partitions reach (a row past them is refused).",
        labels=["table"],
    )
    past = GaugeMetricFamily(
        "tracker_partitions_past_retention",
        "Partitions of a table all of whose rows are past their retention and still kept.",
        labels=["table"],
    )
    for table in partitions.coverage():
        ahead.add_metric([table.table], table.weeks_ahead)
        past.add_metric([table.table], table.past_retention)
    yield ahead
    yield past
