"""Where a click goes: the macros of offer URLs (filled in the destination and trafficback URLs;
the preview URL is only checked for names that are no macro), their values for one click, and
deeplinks.

The names are Affise's, so that an offer URL written for Affise works unchanged. The visitor
context macros (`{geo}`, `{region}`, `{city}`, `{os}`, `{os_version}`, `{device_type}`,
`{device_model}`, `{browser}`, `{language}`) give the click's visitor context (tracking.visitor),
computed once per click before its URL is filled; a value it does not know is empty.
"""

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import urlsplit

from offers.models import HOST_NAME
from tracking.macros import MACRO, substitute, unknown_macros
from tracking.models import CLICK_PARAMETERS
from tracking.visitor import MACRO_FIELDS, NOBODY, Visitor

# name -> what it is, in the order of the admin's reference table.
MACROS = {
    "clickid": "The click id (24 hex characters); also {click_id}",
    "pid": "Affiliate id",
    "offer_id": "Offer id",
    "offer_name": "Offer title",
    "advertiser_id": "Advertiser id",
    "affiliate_name": "Affiliate's name (first and last name of their login; empty when not set)",
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
    "geo": "Visitor country, ISO 3166-1 alpha-2 code (US); empty when not known",
    "region": "Visitor region, state or province, in English (California)",
    "city": "Visitor city, in English (Mountain View)",
    "os": "Visitor operating system (iOS, Android, Windows, Mac OS X)",
    "os_version": "Visitor OS version, major.minor (17.2)",
    "device_type": "Visitor device type: desktop, mobile, tablet or bot",
    "device_model": "Visitor device model (iPhone, Pixel 8, SM-S918B)",
    "browser": "Visitor browser (Mobile Safari, Chrome, Firefox)",
    "language": "Visitor language, the first of Accept-Language (en-US)",
}
ALIASES = {"click_id": "clickid", "device_ua": "ua"}
KNOWN = set(MACROS) | set(ALIASES)
VISITOR_CONTEXT = MACRO_FIELDS
# As long as an offer's destination may be.
MAX_DEEPLINK_LENGTH = 2048


def unknown(template: str) -> list[str]:
    """Names in braces that are not destination macros, in order of appearance."""
    return unknown_macros(template, KNOWN)


@dataclass(frozen=True)
class Visit:
    """What a destination's macros are filled from: the link's parameters, the click id (empty
    for a refused visit or a HEAD), the click path's snapshots of the offer and of the affiliate
    (None when the link names none that exists), the visitor's address, user agent and referrer,
    the allowed deeplink (or empty), the click's Unix time, and the visitor context (empty for a
    visit whose caller gives none)."""

    params: Mapping[str, str]
    click_id: str
    offer: object
    affiliate: object | None
    ip: str | None
    user_agent: str
    referrer: str
    deeplink: str
    at: float
    visitor: Visitor = NOBODY


def _moment(visit: Visit) -> datetime:
    return datetime.fromtimestamp(visit.at, UTC)


# Each macro's value for a visit, computed only when a URL holds the macro (the click path pays
# for what its offer's URL uses). The link's own parameters and the visitor context (computed
# once per click, as the click row stores it) are read by name.
_VALUES: dict[str, Callable[[Visit], str | None]] = {
    "clickid": lambda visit: visit.click_id,
    "offer_name": lambda visit: visit.offer.title,
    "advertiser_id": lambda visit: str(visit.offer.advertiser_id),
    "affiliate_name": lambda visit: visit.affiliate.name if visit.affiliate is not None else "",
    "impression_id": lambda visit: visit.params.get("imp_id", ""),
    "aimp_id": lambda visit: "",
    "deeplink": lambda visit: visit.deeplink,
    "ip": lambda visit: visit.ip,
    "ua": lambda visit: visit.user_agent,
    "referrer": lambda visit: visit.referrer,
    "rand": lambda visit: str(uuid.uuid4()),
    "time": lambda visit: str(int(visit.at)),
    "date": lambda visit: f"{_moment(visit):%Y-%m-%d %H:%M:%S}",
    "date_only": lambda visit: f"{_moment(visit):%Y-%m-%d}",
    "time_petty": lambda visit: f"{_moment(visit):%H:%M:%S}",
}
_FROM_LINK = {"pid", "offer_id", *CLICK_PARAMETERS}


def url_for(template: str, visit: Visit) -> str:
    """An offer URL with the macros filled in for `visit`, each value percent-encoded as a query
    value; other names in braces stay as they are."""
    return substitute(template, {name: _value(name, visit) for name in _names(template) if name in KNOWN})


@lru_cache(maxsize=4096)
def _names(template: str) -> frozenset[str]:
    return frozenset(match.group(1) for match in MACRO.finditer(template))


def _value(name: str, visit: Visit) -> str | None:
    name = ALIASES.get(name, name)
    if name in _FROM_LINK:
        return visit.params.get(name, "")
    if name in VISITOR_CONTEXT:
        return getattr(visit.visitor, VISITOR_CONTEXT[name])
    return _VALUES[name](visit)


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
    # A host name proper: `%2f`, `%5c` and the like are no part of one, whatever browsers make of them.
    if parts.scheme not in ("http", "https") or "@" in parts.netloc or not HOST_NAME.match(host):
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
