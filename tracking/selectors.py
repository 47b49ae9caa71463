"""Reads of clicks beyond a plain lookup."""

from config.filters import period_q


def clicks_filtered(clicks, filters: dict):
    """Narrow clicks by api.filters.NetworkFilterForm's cleaned data: period, offer id, pid."""
    clicks = clicks.filter(period_q("created_at", filters.get("date_from"), filters.get("date_to")))
    if filters.get("offer"):
        clicks = clicks.filter(offer__offer_id=filters["offer"])
    if filters.get("affiliate"):
        clicks = clicks.filter(affiliate__pid=filters["affiliate"])
    return clicks
