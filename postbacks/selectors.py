"""Reads of postbacks and their deliveries, shared by the API and the admin."""

from django.db.models import Exists, OuterRef, Q

from config.filters import period_q
from postbacks.models import Delivery, Postback


def troubled_postbacks():
    """The postbacks a manager should look at: failing while enabled, or disabled by the platform
    (with a reason; one an affiliate turned off has none, and is their choice)."""
    return Postback.objects.filter(
        Q(enabled=True, failing_since__isnull=False) | (Q(enabled=False) & ~Q(disabled_reason=""))
    )


def postbacks_with_relations():
    return Postback.objects.select_related("offer", "goal")


def postbacks_filtered(postbacks, filters: dict):
    """Narrow postbacks by postbacks.filters.PostbackFilterForm's cleaned data."""
    if filters.get("offer"):
        postbacks = postbacks.filter(offer__offer_id=filters["offer"])
    return postbacks


def deliveries_with_relations():
    """Deliveries with what the postback log shows of their conversion and event."""
    return Delivery.objects.select_related(
        "affiliate", "conversion__offer", "conversion__goal", "event", "postback"
    )


def deliveries_filtered(deliveries, filters: dict):
    """Narrow deliveries by the cleaned data of postbacks.filters.DeliveryFilterForm (or its
    manager variant, which adds `affiliate`). Empty values do not filter; `http_code` 0 finds
    the deliveries whose last attempt got no answer."""
    deliveries = deliveries.filter(period_q("created_at", filters.get("date_from"), filters.get("date_to")))
    if filters.get("state"):
        deliveries = deliveries.filter(state=filters["state"])
    if filters.get("offer"):
        deliveries = deliveries.filter(conversion__offer__offer_id=filters["offer"])
    if filters.get("affiliate"):
        deliveries = deliveries.filter(affiliate__pid=filters["affiliate"])
    if filters.get("conversion"):
        deliveries = deliveries.filter(conversion__conversion_id=filters["conversion"])
    if filters.get("http_code") is not None:
        deliveries = deliveries.filter(http_code=filters["http_code"])
    if filters.get("kind"):
        deliveries = deliveries.filter(is_backfill=filters["kind"] == "backfill")
    return deliveries


def deliveries_replayable(deliveries):
    """Those of `deliveries` a bulk replay sends again: failed, their postback still there, and
    no later delivery of the same postback and conversion succeeded (sent again, an old status
    would arrive after the newer one the affiliate already has)."""
    newer_succeeded = Delivery.objects.filter(
        postback=OuterRef("postback"),
        conversion=OuterRef("conversion"),
        pk__gt=OuterRef("pk"),
        state=Delivery.State.SUCCEEDED,
    )
    failed = deliveries.filter(state=Delivery.State.FAILED, postback__isnull=False)
    return failed.exclude(Exists(newer_succeeded))
