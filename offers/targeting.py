"""Offer targeting: the countries, OS families and device types an offer accepts visitors from,
and the words for them. A click's visitor context is tracking.visitor's; the rule that refuses a
click outside an offer's targeting is `targeting_refusal`, here, for the click path and the pages.

The rule, checked in this order, the first that fails deciding:
1. an offer with countries accepts a visitor whose country is one of them. A visitor whose
   country is unknown (a private or unlisted address) is refused: nothing shows they are in a
   targeted country, and an advertiser who pays for a country does not pay for guesses;
2. an offer with OS families accepts a visitor whose OS family is one of them, compared without
   regard to case ("ios" is "iOS"); an unknown OS is refused, as an unknown country is;
3. an offer with device types accepts a visitor whose device type is one of them; an unknown
   device (no user agent) is refused.
An offer without countries, OS families or device types accepts everyone.

Managers type the lists in the admin (comma-separated text) and the manager API (lists of
strings); both pass what was typed through the `normalised_*` functions, then the validators,
so that "us, de" is ["US", "DE"] wherever it is typed.
"""

import enum
import re

import pycountry
from django.core.exceptions import ValidationError

from config.text import has_control_characters

# GeoIP databases name Kosovo "XK", a code ISO 3166 leaves for user assignment (pycountry lacks it).
EXTRA_COUNTRIES = {"XK": "Kosovo"}
# No list is longer: there are fewer countries, and no offer targets that many OS families.
MAX_TARGETS = 300
MAX_OS_FAMILY_LENGTH = 32


class DeviceType:
    DESKTOP = "desktop"
    MOBILE = "mobile"
    TABLET = "tablet"
    BOT = "bot"
    CHOICES = [(DESKTOP, "Desktop"), (MOBILE, "Mobile"), (TABLET, "Tablet"), (BOT, "Bot")]
    VALUES = [value for value, _ in CHOICES]


# OS families as ua-parser names them (tracking.visitor reads them from the user agent): one of
# these typed in another case is stored in this spelling; other names are kept as typed.
OS_FAMILIES = [
    "Android",
    "iOS",
    "Windows",
    "Mac OS X",
    "Linux",
    "Chrome OS",
    "Ubuntu",
    "Windows Phone",
    "KaiOS",
    "HarmonyOS",
    "Tizen",
    "BlackBerry OS",
]
_OS_SPELLING = {name.casefold(): name for name in OS_FAMILIES}
# A device type in a refusal: "This offer does not accept visitors on tablets."
_DEVICE_PLURALS = {
    DeviceType.DESKTOP: "desktop computers",
    DeviceType.MOBILE: "mobile phones",
    DeviceType.TABLET: "tablets",
}


class TargetingRefusal(enum.Enum):
    """Why a click was refused by the offer's targeting; the value is the rollup's counter
    (stats.models.DailyStat)."""

    COUNTRY = "refused_country"
    OS = "refused_os"
    DEVICE = "refused_device"


# A refused click's reason (a TargetingRefusal's value) in words, as the admin lists show it.
REFUSAL_LABELS = {
    TargetingRefusal.COUNTRY.value: "Country not targeted",
    TargetingRefusal.OS.value: "OS not targeted",
    TargetingRefusal.DEVICE.value: "Device type not targeted",
}


def targeting_refusal(offer, visitor) -> TargetingRefusal | None:
    """Why `offer` refuses `visitor` (the rule in the module docstring), or None when it accepts
    them. `offer` is an Offer or the click path's snapshot of one (offers.access.OfferSnapshot);
    `visitor` anything with `country`, `os_family` and `device_type` (tracking.visitor.Visitor)."""
    countries = offer.target_countries
    if countries and visitor.country not in countries:
        return TargetingRefusal.COUNTRY
    os_families = offer.target_os_families
    if os_families and visitor.os_family.casefold() not in {name.casefold() for name in os_families}:
        return TargetingRefusal.OS
    device_types = offer.target_device_types
    if device_types and visitor.device_type not in device_types:
        return TargetingRefusal.DEVICE
    return None


def refusal_message(refusal: TargetingRefusal, visitor) -> str:
    """The refusal in the visitor's terms, for the click's error page."""
    if refusal is TargetingRefusal.COUNTRY:
        if not visitor.country:
            return "This offer does not accept visitors whose country is unknown."
        return f"This offer does not accept visitors from {country_label(visitor.country)}."
    if refusal is TargetingRefusal.OS:
        if not visitor.os_family:
            return "This offer does not accept visitors whose operating system is unknown."
        return f"This offer does not accept visitors on {visitor.os_family}."
    if visitor.device_type == DeviceType.BOT:
        return "This offer does not accept bots."
    if visitor.device_type not in _DEVICE_PLURALS:
        return "This offer does not accept visitors whose device is unknown."
    return f"This offer does not accept visitors on {_DEVICE_PLURALS[visitor.device_type]}."


# --- Words for pages ------------------------------------------------------------------------


def country_name(code: str) -> str:
    """The English name of an ISO 3166-1 alpha-2 code ("US": "United States"), "" when unknown."""
    if code in EXTRA_COUNTRIES:
        return EXTRA_COUNTRIES[code]
    country = pycountry.countries.get(alpha_2=code) if len(code) == 2 else None
    return country.name if country is not None else ""


def country_label(code: str) -> str:
    """ "Germany (DE)"; the code alone when it names no country."""
    name = country_name(code)
    return f"{name} ({code})" if name else code


def countries_text(codes) -> str:
    """ "United States (US), Germany (DE)", or "All countries" for an offer without countries."""
    return ", ".join(map(country_label, codes)) or "All countries"


def os_families_text(names) -> str:
    return ", ".join(names) or "All operating systems"


def device_types_text(kinds) -> str:
    labels = dict(DeviceType.CHOICES)
    return ", ".join(labels.get(kind, kind) for kind in kinds) or "All devices"


# --- What managers type ---------------------------------------------------------------------


def os_family_warnings(offer) -> list[str]:
    """The offer's OS families that are none of the usual ones: kept (ua-parser knows many more),
    but a misspelt one ("macOS", "iPadOS") would quietly refuse every visitor, so the manager who
    saves it is told."""
    return [
        f"No visitor's OS is reported as {name!r}: the usual names are {', '.join(OS_FAMILIES)}"
        " (an iPad is iOS). Visitors whose OS is not listed are refused."
        for name in offer.target_os_families
        if name not in OS_FAMILIES
    ]


def split_text(text: str, *, by_spaces: bool) -> list[str]:
    """The items of a list typed in one field, separated by commas or semicolons, and by spaces
    too when the items hold none: "US DE" is two country codes, "Mac OS X" one OS family."""
    separators = r"[\s,;]+" if by_spaces else r"[,;]+"
    return [item.strip() for item in re.split(separators, text) if item.strip()]


def normalised_country_codes(codes: list[str]) -> list[str]:
    """Country codes as stored: in upper case, without surrounding spaces or repeats."""
    return _without_repeats([country_code(code) or code.strip() for code in codes])


def normalised_os_families(names: list[str]) -> list[str]:
    """OS families as stored: ua-parser's spelling of a known one ("ios" is "iOS"), others as
    typed; without surrounding spaces, or repeats in any case."""
    names = [_OS_SPELLING.get(name.strip().casefold(), name.strip()) for name in names]
    return _without_repeats(names, key=str.casefold)


def normalised_device_types(kinds: list[str]) -> list[str]:
    return _without_repeats([kind.strip().lower() for kind in kinds])


def _without_repeats(items: list[str], key=None) -> list[str]:
    key = key or (lambda item: item)
    kept = {}
    for item in items:
        kept.setdefault(key(item), item)
    return list(kept.values())


# --- Validators (the model's fields) ---------------------------------------------------------


def _shown(value) -> str:
    """A refused value in a message, cut short: it may be anything a client sent."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _validate_list(value, what: str, example: str):
    if not isinstance(value, list):
        raise ValidationError(f"Give a list of {what} such as {example}.")
    if len(value) > MAX_TARGETS:
        raise ValidationError(f"Give at most {MAX_TARGETS} {what}.")


def country_code(text: str) -> str:
    """A country code as typed or sent, in upper case ("de" is "DE"); "" when it is not two ASCII
    letters naming a country (upper-casing other letters can make a code: "ß" is "SS")."""
    code = text.strip()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return ""
    code = code.upper()
    return code if country_name(code) else ""


def validate_country_code(value):
    if not isinstance(value, str) or value != value.upper() or not country_name(value):
        raise ValidationError(f"{_shown(value)} is not a country code such as US or DE (ISO 3166-1 alpha-2).")


def validate_country_codes(value):
    _validate_list(value, "country codes", "US, DE")
    for code in value:
        validate_country_code(code)


def validate_os_families(value):
    _validate_list(value, "OS families", "iOS, Android, Windows")
    for name in value:
        if not isinstance(name, str) or not name.strip() or has_control_characters(name):
            raise ValidationError(f"{_shown(name)} is not an OS family such as iOS, Android, Windows.")
        if len(name) > MAX_OS_FAMILY_LENGTH:
            raise ValidationError(
                f"{_shown(name)} is longer than an OS family can be ({MAX_OS_FAMILY_LENGTH} characters)."
            )


def validate_device_types(value):
    _validate_list(value, "device types", ", ".join(DeviceType.VALUES))
    for kind in value:
        if kind not in DeviceType.VALUES:
            raise ValidationError(
                f"{_shown(kind)} is not a device type: choose from {', '.join(DeviceType.VALUES)}."
            )
