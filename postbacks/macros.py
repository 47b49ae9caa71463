"""Postback macros: the `{name}` placeholders of affiliate postback URLs, and their values.

Values are percent-encoded as query values. The rendered URL is then put in the form it is sent
in (`outbound.wire_url`: what a request target cannot hold is percent-encoded, escapes already
in the template are kept), so the URL stored, shown and signed is the URL sent. A value the
conversion does not have becomes empty; a name that is not a macro stays, its braces encoded
(`%7Bname%7D`), and the portal and API warn about it when the postback is saved.

The visitor context macros (`{geo}`, `{region}`, `{city}`, `{os}`, `{os_version}`,
`{click_device_type}`, `{device_model}`, `{browser}`, `{language}`) are the conversion's click's
(tracking.visitor); a conversion without a click has only the country its advertiser sent.
`{device_type}` is the device type the advertiser sent, as it always was, and the click's when the
advertiser sent none, so that it means in a postback what it means in an offer URL; the click's
alone is `{click_device_type}`.

The click's values are those the conversion kept of it when it was made (conversions.click_values),
not its row's: a click is dropped after CLICK_RETENTION_DAYS, its conversions are not.
"""

import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

from conversions.click_values import kept_click_values
from postbacks.outbound import wire_url
from tracking.macros import substitute, unknown_macros
from tracking.visitor import MACRO_FIELDS

# name -> what it is, in the order of the portal's reference table.
MACROS = {
    "clickid": "The network's click id (24 hex characters)",
    "pid": "Your affiliate id",
    "offerid": "Offer id (also {offer_id})",
    "offer_name": "Offer title",
    "conversion_id": "Conversion id (24 hex characters)",
    "transactionid": "The advertiser's transaction (action) id",
    "goal": "Goal value",
    "status": "Status code: 1 approved, 2 pending, 3 declined, 5 hold",
    "sum": "Your payout",
    "currency": "Currency of your payout",
    "order_sum": "Sum reported by the advertiser",
    "order_currency": "Currency reported by the advertiser (the goal's when none)",
    **{f"sub{n}": f"sub{n} of the tracking link" for n in range(1, 31)},
    "ref_id": "ref_id of the tracking link",
    **{f"ext{n}": f"ext{n} of the tracking link" for n in range(1, 4)},
    "os_id": "os_id of the tracking link",
    "ip": "Visitor IP address, as the click saw it",
    "conversion_ip": "Visitor IP address as the advertiser sent it",
    "uagent": "Visitor user agent",
    "referrer": "The page the visitor came from, as the click saw it",
    "conversion_referrer": "Referrer as the advertiser sent it",
    "device_type": "Device type reported by the advertiser, else the click's: desktop, mobile, tablet or bot",
    "geo": "Visitor country, ISO 3166-1 alpha-2 code (US), as the click saw it (no click: the advertiser's)",
    "region": "Visitor region, state or province, in English (California), as the click saw it",
    "city": "Visitor city, in English (Mountain View), as the click saw it",
    "os": "Visitor operating system (iOS, Android, Windows), as the click saw it",
    "os_version": "Visitor OS version, major.minor (17.2), as the click saw it",
    "click_device_type": "Visitor device type as the click saw it: desktop, mobile, tablet or bot",
    "device_model": "Visitor device model (iPhone, Pixel 8), as the click saw it",
    "browser": "Visitor browser (Mobile Safari, Chrome), as the click saw it",
    "language": "Visitor language, the first of the click's Accept-Language (en-US)",
    "comment": "Advertiser's comment",
    "fbclid": "Facebook click id",
    "promo_code": "Promo code",
    "user_id": "Advertiser's user id",
    **{f"custom_field{n}": f"Advertiser's custom_field{n} (also {{custom_field_{n}}})" for n in range(1, 8)},
    "date": "Conversion date and time, Y-m-d H:i:s, UTC",
    "date_only": "Conversion date, Y-m-d",
    "time": "Conversion time, H:i:s",
    "click_date": "Click date and time, Y-m-d H:i:s, UTC",
    "timestamp": "Conversion time, Unix seconds",
    "rand": "A random UUID, new for every postback",
    "integration_method": "default or probabilistic",
}
ALIASES = {"offer_id": "offerid", **{f"custom_field_{n}": f"custom_field{n}" for n in range(1, 8)}}
KNOWN = set(MACROS) | set(ALIASES)
# Visitor context macro -> its field of the click. `{device_type}` is the advertiser's first.
VISITOR_CONTEXT = {
    **{name: field for name, field in MACRO_FIELDS.items() if name != "device_type"},
    "click_device_type": "device_type",
}
# What a test postback, which has no click, sends for them: a visitor on an iPhone in California.
SAMPLE_VISITOR = {
    "geo": "US",
    "region": "California",
    "city": "Mountain View",
    "os": "iOS",
    "os_version": "17.2",
    "click_device_type": "mobile",
    "device_model": "iPhone",
    "browser": "Mobile Safari",
    "language": "en-US",
}


def unknown(template: str) -> list[str]:
    """Names in braces that are not macros, in order of appearance."""
    return unknown_macros(template, KNOWN)


def render(template: str, values: dict[str, str]) -> str:
    """The URL of one delivery, as it is sent: `{rand}` is new on every call."""
    return wire_url(substitute(template, {**values, "rand": str(uuid.uuid4())}))


def form_body(values: dict[str, str]) -> str:
    """The body of a POST postback: every macro by its name, form-encoded."""
    return urlencode({name: values.get(name, "") for name in MACROS if name != "rand"})


def values_for(conversion, status: int) -> dict[str, str]:
    """Every macro's value for a conversion event whose resulting status is `status`.

    `conversion` needs its offer, goal, affiliate loaded (or loadable), and its click too if it
    kept no click values (conversions.click_values). `{rand}` is added by `render`, per delivery.
    """
    click = kept_click_values(conversion)
    created = conversion.created_at.astimezone(UTC)
    values = {
        "clickid": click.get("click_id", ""),
        "pid": conversion.affiliate.pid,
        "offerid": conversion.offer.offer_id,
        "offer_name": conversion.offer.title,
        "conversion_id": conversion.conversion_id,
        "transactionid": conversion.action_id,
        "goal": conversion.goal_value,
        "status": status,
        "sum": _amount(conversion.payout),
        "currency": conversion.currency,
        "order_sum": _amount(conversion.order_sum),
        # The advertiser's currency, or the goal's when they sent none (Affise fills it so too).
        "order_currency": conversion.order_currency or conversion.goal.currency,
        **conversion.all_sub_values(),
        "ref_id": click.get("ref_id", ""),
        "ext1": click.get("ext1", ""),
        "ext2": click.get("ext2", ""),
        "ext3": click.get("ext3", ""),
        "os_id": click.get("os_id", ""),
        # The click's, as Affise means them; a conversion without a click has only the advertiser's.
        "ip": (click.get("ip", "") if click else conversion.ip) or "",
        "conversion_ip": conversion.ip or "",
        "uagent": click.get("user_agent", ""),
        "referrer": click.get("referrer", "") if click else conversion.referrer,
        "conversion_referrer": conversion.referrer,
        "device_type": conversion.device_type or click.get("device_type", ""),
        **_visitor_context(conversion, click),
        "comment": conversion.comment,
        "fbclid": conversion.fbclid or click.get("fbclid", ""),
        "promo_code": conversion.promo_code,
        "user_id": conversion.user_id,
        **{f"custom_field{n}": conversion.extra.get(f"custom_field{n}", "") for n in range(1, 8)},
        "date": f"{created:%Y-%m-%d %H:%M:%S}",
        "date_only": f"{created:%Y-%m-%d}",
        "time": f"{created:%H:%M:%S}",
        "click_date": _click_date(click),
        "timestamp": int(created.timestamp()),
        "integration_method": conversion.integration_method,
    }
    values = {name: "" if value is None else str(value) for name, value in values.items()}
    values.update({alias: values[name] for alias, name in ALIASES.items()})
    return values


def _visitor_context(conversion, click: dict[str, str]) -> dict[str, str]:
    """The click's visitor context; a conversion without a click has only its own country (the
    one its advertiser sent, conversions.intake)."""
    if not click:
        return {**dict.fromkeys(VISITOR_CONTEXT, ""), "geo": conversion.country}
    return {name: click.get(field, "") for name, field in VISITOR_CONTEXT.items()}


def _click_date(click: dict[str, str]) -> str:
    if not click.get("created_at"):
        return ""
    return f"{datetime.fromisoformat(click['created_at']).astimezone(UTC):%Y-%m-%d %H:%M:%S}"


def _amount(value) -> str:
    """12.5000 -> "12.5", 3.0000 -> "3": what trackers expect to parse."""
    if value is None:
        return ""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
