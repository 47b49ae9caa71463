"""Tracking links in the Affise shape: {TRACKING_BASE_URL}/click?pid=..&offer_id=..&sub1=..&sub30=..."""

from urllib.parse import quote, urlencode

from django.conf import settings

from tracking.models import MORE_SUB_FIELDS, SUB_FIELDS

# The parameters an affiliate fills in the link builder, in the order they appear in the link:
# sub9..sub30, which few links use, come last, as the builder shows them last.
LINK_PARAMETERS = [*SUB_FIELDS, "ref_id", *MORE_SUB_FIELDS]


def tracking_link(*, offer_id: int, pid: int, params: dict[str, str] | None = None) -> str:
    """The affiliate's link to an offer. Values are percent-encoded except `{` and `}`, so
    that macros of the affiliate's own tracker, such as `sub1={clickid}`, stay readable to it.
    static/js/link-builder.js builds the same link in the browser as the affiliate types."""
    query = {"pid": pid, "offer_id": offer_id}
    for name in LINK_PARAMETERS:
        value = (params or {}).get(name)
        if value:
            query[name] = value
    return f"{settings.TRACKING_BASE_URL}/click?{urlencode(query, safe='{}', quote_via=quote)}"
