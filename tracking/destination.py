"""Where a click goes: the macros of offer URLs (destination, preview, trafficback), their
values for one click, and deeplinks.

The names are Affise's, so that an offer URL written for Affise works unchanged. The visitor
context macros (`{geo}`, `{city}`, `{os_version}`, `{device_model}`, `{language}`) are known but
empty: the click records no visitor context yet.
"""

import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

from tracking.macros import substitute, unknown_macros
from tracking.models import CLICK_PARAMETERS

# name -> what it is, in the order of the admin's reference table.
MACROS = {
    "clickid": "The click id (24 hex characters); also {click_id}",
    "pid": "Affiliate id",
    "offer_id": "Offer id",
    "offer_name": "Offer title",
    "advertiser_id": "Advertiser id",
    "affiliate_name": "Affiliate's name (login)",
    **{name: f"{name} of the tracking link" for name in CLICK_PARAMETERS},
    "impression_id": "imp_id of the tracking link (external impression id)",
    "aimp_id": "The network's impression id: empty, impressions are not tracked",
    "deeplink": "The redirect= URL of the tracking link, when the offer allows it",
    "ip": "Visitor IP address",
    "ua": "Visitor user agent; also {device_ua}",
    "referrer": "Page the visitor came from",
    "rand": "A random UUID, new for every click",
    "time": "Click time, Unix seconds",
    "date": "Click date and time, Y-m-d H:i:s, UTC",
    "date_only": "Click date, Y-m-d, UTC",
    "time_petty": "Click time, H:i:s, UTC",
    "geo": "Visitor country (ISO 3166-1 alpha-2): empty, no visitor context yet",
    "city": "Visitor city: empty, no visitor context yet",
    "os_version": "Visitor OS version: empty, no visitor context yet",
    "device_model": "Visitor device model: empty, no visitor context yet",
    "language": "Visitor language: empty, no visitor context yet",
}
ALIASES = {"click_id": "clickid", "device_ua": "ua"}
KNOWN = set(MACROS) | set(ALIASES)
VISITOR_CONTEXT = ("geo", "city", "os_version", "device_model", "language")
# As long as an offer's destination may be.
MAX_DEEPLINK_LENGTH = 2048


def unknown(template: str) -> list[str]:
    """Names in braces that are not destination macros, in order of appearance."""
    return unknown_macros(template, KNOWN)


def url_for(template: str, values: dict[str, str]) -> str:
    """An offer URL with the macros filled in, each value percent-encoded as a query value."""
    return substitute(template, values)


def macro_values(params, *, click_id, offer, affiliate, ip, user_agent, referrer, deeplink, at=None):
    """Every destination macro's value for one click. `params` are the link's parameters;
    `offer` and `affiliate` the click path's snapshots (offers.access), `affiliate` None when
    the link names no affiliate that exists; `at` the click's Unix time (now by default)."""
    at = time.time() if at is None else at
    moment = datetime.fromtimestamp(at, UTC)
    values = {name: params.get(name, "") for name in CLICK_PARAMETERS}
    values.update(
        clickid=click_id,
        pid=params.get("pid", ""),
        offer_id=params.get("offer_id", ""),
        offer_name=offer.title,
        advertiser_id=str(offer.advertiser_id),
        affiliate_name=affiliate.name if affiliate is not None else "",
        impression_id=params.get("imp_id", ""),
        aimp_id="",
        deeplink=deeplink,
        ip=ip,
        ua=user_agent,
        referrer=referrer,
        rand=str(uuid.uuid4()),
        time=str(int(at)),
        date=f"{moment:%Y-%m-%d %H:%M:%S}",
        date_only=f"{moment:%Y-%m-%d}",
        time_petty=f"{moment:%H:%M:%S}",
        **dict.fromkeys(VISITOR_CONTEXT, ""),
    )
    values.update({alias: values[name] for alias, name in ALIASES.items()})
    return values


def deeplink_allowed(url: str, *, allow_deeplinks: bool, domains) -> bool:
    """Whether a link's `redirect=` URL may replace the offer's destination: the offer allows
    deeplinks, the URL is http or https with no user part, and its host is one of the offer's
    domains or under one of them. Anything else goes to the offer's URL: never an open redirect."""
    if not allow_deeplinks or not url or not url.isascii() or "\\" in url:
        return False
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a port that is no number, which browsers refuse too
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or "@" in parts.netloc or not host:
        return False
    return any(host == domain or host.endswith(f".{domain}") for domain in domains)


OFFER_URL_FIELDS = {
    "destination_url": "destination URL",
    "preview_url": "preview URL",
    "trafficback_url": "trafficback URL",
}


def offer_url_warnings(offer) -> list[str]:
    """What a manager is told on saving an offer whose URLs hold names that are no macro: they
    reach the visitor's browser verbatim, braces and all."""
    warnings = []
    for field, label in OFFER_URL_FIELDS.items():
        names = unknown(getattr(offer, field))
        if names:
            listed = ", ".join(f"{{{name}}}" for name in names)
            warnings.append(f"The {label} holds {listed}, which is no macro: it is left as it is.")
    return warnings
