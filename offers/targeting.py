"""Offer targeting: the countries, OS families and device types an offer accepts visitors from,
and the words for them. A click's visitor context is tracking.visitor's; the rule that refuses a
click outside an offer's targeting is `targeting_refusal`, here, for the click path and the pages.
"""

import enum

import pycountry
from django.core.exceptions import ValidationError

# GeoIP databases name Kosovo "XK", a code ISO 3166 leaves for user assignment (pycountry lacks it).
EXTRA_COUNTRIES = {"XK": "Kosovo"}


class DeviceType:
    DESKTOP = "desktop"
    MOBILE = "mobile"
    TABLET = "tablet"
    BOT = "bot"
    CHOICES = [(DESKTOP, "Desktop"), (MOBILE, "Mobile"), (TABLET, "Tablet"), (BOT, "Bot")]
    VALUES = [value for value, _ in CHOICES]


class TargetingRefusal(enum.Enum):
    """Why a click was refused by the offer's targeting; the value is the rollup's counter
    (stats.models.DailyStat)."""

    COUNTRY = "refused_country"
    OS = "refused_os"
    DEVICE = "refused_device"


def country_name(code: str) -> str:
    """The English name of an ISO 3166-1 alpha-2 code ("US": "United States"), "" when unknown."""
    if code in EXTRA_COUNTRIES:
        return EXTRA_COUNTRIES[code]
    country = pycountry.countries.get(alpha_2=code) if len(code) == 2 else None
    return country.name if country is not None else ""


def validate_country_code(value):
    if not isinstance(value, str) or value != value.upper() or not country_name(value):
        raise ValidationError(f"{value!r} is not a country code such as US or DE (ISO 3166-1 alpha-2).")


def validate_country_codes(value):
    if not isinstance(value, list):
        raise ValidationError("Give a list of country codes such as US, DE.")
    for code in value:
        validate_country_code(code)


def validate_os_families(value):
    if not isinstance(value, list) or not all(
        isinstance(name, str) and 0 < len(name) <= 32 for name in value
    ):
        raise ValidationError("Give a list of OS names such as iOS, Android, Windows.")


def validate_device_types(value):
    if not isinstance(value, list):
        raise ValidationError("Give a list of device types.")
    for kind in value:
        if kind not in DeviceType.VALUES:
            raise ValidationError(
                f"{kind!r} is not a device type: choose from {', '.join(DeviceType.VALUES)}."
            )
