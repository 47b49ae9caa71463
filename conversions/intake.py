"""One advertiser postback or pixel hit: what it carries, and the checks it passes, in the order
advertisers' integrations expect (README, "Conversions"), to the conversion it would create.

The first check that fails is the answer, as a `HitRejected` with its HTTP status and message.
"""

import enum
import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import unquote_plus

from django.db.models import Min
from django.utils import timezone

from config import partitions
from config.ids import PUBLIC_ID, public_id_time
from config.text import has_control_characters, printable
from conversions.click_values import click_stand_in, click_values
from conversions.lifecycle import hold_until
from conversions.models import Conversion, DeclineReason, IntegrationMethod, KeptClickId, ServerPostback
from offers.access import affiliate_can_run_offer, offer_with_goals
from offers.choices import ConversionStatus
from offers.models import Affiliate, Offer
from offers.payouts import PayoutRefused, conversion_amounts
from offers.targeting import country_code
from tracking.client_ip import ip_text
from tracking.models import CLICK_TIME_SLACK, MAX_PARAMETER_LENGTH, Click, sub_fields
from tracking.params import public_id
from tracking.store import clicks_get

# What a click id looks like.
CLICK_ID = PUBLIC_ID
CURRENCY = re.compile(r"^[A-Za-z]{3}\Z")
DECIMAL_NUMBER = re.compile(r"^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\Z")
INVALID_SUM = "Invalid sum: send a number such as 12.50 (digits 0-9, a dot before decimals)"
CLICK_ID_PARAMETERS = ["clickid", "click_id", "afclick"]
STATUS_CODES = {str(status.value): status for status in ConversionStatus}
STORED_PARAMETERS = ["comment", "fbclid", "device_type", "user_id", "promo_code"]
EXTRA_PARAMETERS = [f"custom_field{n}" for n in range(1, 16)] + [
    "timestamp",
    "action_timestamp",
    "country",
    "platform",
]
LONG_PARAMETERS = {"referrer": 2048}
LOGGED_QUERY_LENGTH = 8192


class Refusal(enum.StrEnum):
    """Why a hit was refused, as a code from a fixed list: the `reason` of its count in /metrics,
    where the message (which may name a parameter or an amount) would make a label of its own
    for every variant."""

    UNREADABLE = "unreadable"
    MISSING_PARAMETERS = "missing_parameters"
    PARAMETER_INVALID = "parameter_invalid"
    CLICK_ID_INVALID = "click_id_invalid"
    CLICK_LOOKUP_UNAVAILABLE = "click_lookup_unavailable"
    CLICK_NOT_FOUND = "click_not_found"
    OFFER_MISMATCH = "offer_mismatch"
    OFFER_NOT_FOUND = "offer_not_found"
    AFFILIATE_NOT_FOUND = "affiliate_not_found"
    NO_ACCESS = "no_access"
    OFFER_DISABLED = "offer_disabled"
    SECURE_CODE = "secure_code"
    IP_DENIED = "ip_denied"
    GOAL_NOT_FOUND = "goal_not_found"
    UNKNOWN_STATUS = "unknown_status"
    INVALID_SUM = "invalid_sum"
    INVALID_CURRENCY = "invalid_currency"
    PAYOUT_REFUSED = "payout_refused"
    ACTION_ID_CONFLICT = "action_id_conflict"
    STATUS_CHANGE_REFUSED = "status_change_refused"


class HitRejected(Exception):
    """A refused hit: `http_status` says why to HTTP clients, unless its advertiser asks for
    every answer to be a 200 (`answer_200`, Advertiser.refusals_answer_200); `reason` says it
    to the metrics, `message` to the advertiser and the log. `offer_id` is the offer it was
    for, once known, for the log."""

    def __init__(
        self,
        http_status: int,
        reason: Refusal,
        message: str,
        answer_200: bool = False,
        offer_id: int | None = None,
    ):
        super().__init__(message)
        self.http_status, self.reason, self.message = http_status, Refusal(reason), message
        self.answer_200, self.offer_id = answer_200, offer_id


@dataclass
class AdvertiserHit:
    """One advertiser postback or pixel hit as received. `refused` is for a request whose
    parameters could not even be read: it is logged like any other refusal."""

    params: dict[str, str]
    source: str
    method: str
    raw_query: str
    caller_ip: str | None
    refused: HitRejected | None = None

    def wire(self) -> dict:
        """The hit as JSON, for the postback writer (conversions.writer). A refusal travels as its
        status and message only: it is always one of parameters that could not be read, and web
        processes and writers of different releases read each other while a deploy rolls out."""
        refused = [self.refused.http_status, self.refused.message] if self.refused else None
        return {**vars(self), "refused": refused}

    @classmethod
    def from_wire(cls, value: dict) -> "AdvertiserHit":
        refused = value.pop("refused", None)
        refused = HitRejected(refused[0], Refusal.UNREADABLE, refused[1]) if refused else None
        return cls(**value, refused=refused)

    def logged_query(self) -> str:
        """The query as the log shows it: printable, cut to LOGGED_QUERY_LENGTH, and with the
        advertiser's `secure` code as ***: the log is read by every manager and through the API,
        and the code is a password."""
        masked = _secrets_masked(self.raw_query, self.params.get("secure", ""))
        return printable(masked[:LOGGED_QUERY_LENGTH])

    def logged_click_id(self) -> str:
        """The click id the hit named, as the log keeps it to be found by (postbacks.chain):
        blank when it named none, or something no click id looks like."""
        click_id = _click_id(self.params)
        return click_id if CLICK_ID.match(click_id) else ""


def _secrets_masked(raw_query: str, secure: str) -> str:
    """Form-encoded pairs are masked by name; any other body (a multipart form) by the value the
    request carried."""
    masked = "\n".join("&".join(map(_pair_masked, line.split("&"))) for line in raw_query.split("\n"))
    return masked.replace(secure, "***") if secure and secure in masked else masked


def _pair_masked(pair: str) -> str:
    name, equals, _ = pair.partition("=")
    return f"{name}=***" if equals and unquote_plus(name).lower() == "secure" else pair


def clicks_of(hits: list[AdvertiserHit]) -> dict:
    """The clicks `hits` name, looked up together (tracking.store.clicks_get), for
    `conversion_for`.

    A click older than CLICK_RETENTION_DAYS may have been dropped while its conversions are kept,
    and an advertiser may still change their status: such a click stands in rebuilt from one of
    its conversions (conversions.click_values.click_stand_in), so that the hit is judged as while
    the click was kept. Only ids whose time is that old are looked for among the conversions: an
    unknown recent id costs nothing more. Nor can such an old click be in the click buffer, which
    holds clicks for seconds: it is looked for among the conversions even when the buffer could
    not be asked (clicks_get then leaves its id out)."""
    click_ids = [_click_id(hit.params) for hit in hits if hit.refused is None]
    click_ids = list(dict.fromkeys(click_id for click_id in click_ids if CLICK_ID.match(click_id)))
    clicks = clicks_get(click_ids)
    unknown = [click_id for click_id in click_ids if clicks.get(click_id) is None]
    if not unknown:  # nearly every batch
        return clicks
    dropped_before = _clicks_dropped_before()
    missing = [click_id for click_id in unknown if public_id_time(click_id) < dropped_before]
    if not missing:
        return clicks
    # An old id no conversion kept names no click, whether or not the buffer could be asked.
    return clicks | dict.fromkeys(missing) | _clicks_kept_by_conversions(missing)


def _clicks_dropped_before() -> datetime:
    """The time before which a click id may name a row no longer kept: every click of the first
    day still kept whole and after is there (config.partitions), and a click's stored time is
    within CLICK_TIME_SLACK of its id's."""
    first_kept = partitions.first_kept_day(Click)
    return datetime(first_kept.year, first_kept.month, first_kept.day, tzinfo=UTC) + CLICK_TIME_SLACK


def _clicks_kept_by_conversions(click_ids: list[str]) -> dict[str, Click]:
    """The clicks of these ids that conversions kept, rebuilt from them, in one query: the first
    conversion of each click, as each kept the same values of it (a click may have many)."""
    firsts = (
        Conversion.objects.of_kept_clicks(click_ids)
        .values(kept=KeptClickId())
        .annotate(first=Min("pk"))
        .values("first")
    )
    return {
        conversion.click_values["click_id"]: click_stand_in(conversion)
        for conversion in Conversion.objects.filter(pk__in=firsts).order_by()
    }


def _click_id(params) -> str:
    """The click id the hit names, in lower case: some advertisers' systems store ids upper-cased."""
    return next((params[name] for name in CLICK_ID_PARAMETERS if params.get(name)), "").lower()


def conversion_for(hit: AdvertiserHit, *, clicks: dict) -> tuple[Conversion, ConversionStatus | None]:
    """The checks of an advertiser postback, in the order advertisers' integrations expect, and
    the conversion it would create, with the status it asks for (None when it names none).
    `clicks` are the clicks of the batch (`clicks_of`). Raises HitRejected; once the offer is
    known, a refusal carries its advertiser's choice of HTTP status (`answer_200`)."""
    if hit.refused is not None:
        raise hit.refused
    params = hit.params
    _check_lengths(params)
    click_id = _click_id(params)
    affiliate = None  # looked up only for a probabilistic postback
    if click_id:
        click, offer, affiliate_id, method = _click_attribution(click_id, params, clicks)
    elif params.get("offer_id") and params.get("pid"):
        offer, affiliate = _probabilistic_offer_and_affiliate(params)
        click, affiliate_id, method = None, affiliate.pk, IntegrationMethod.PROBABILISTIC
    elif hit.source == ServerPostback.Source.POSTBACK and (params.get("offer_id") or params.get("pid")):
        # A pixel names its offer whatever happened to the cookie: only a postback means this.
        raise HitRejected(400, Refusal.MISSING_PARAMETERS, "Missing mandatory parameters offer_id and pid")
    else:
        raise HitRejected(400, Refusal.MISSING_PARAMETERS, "Missing mandatory parameter clickid")
    try:
        return _conversion(hit, offer, click, affiliate, affiliate_id, method)
    except HitRejected as rejected:
        rejected.answer_200 = offer.advertiser.refusals_answer_200
        rejected.offer_id = offer.pk
        raise


def _conversion(hit, offer, click, affiliate, affiliate_id, method):
    """The checks once the offer is known, and the conversion. `affiliate` is given for a
    probabilistic postback, which names it; a click's is `affiliate_id`."""
    params = hit.params
    # A paused offer is reported as "Offer disabled" by the next check, like for clicks.
    unchecked = affiliate is None or not offer.is_active
    if not (unchecked or affiliate_can_run_offer(affiliate=affiliate, offer=offer)):
        raise HitRejected(403, Refusal.NO_ACCESS, "Affiliate has no access to this offer")
    if not offer.is_active:
        raise HitRejected(403, Refusal.OFFER_DISABLED, "Offer disabled")
    expected_code = offer.secure_code or offer.advertiser.secure_code
    if expected_code and params.get("secure", "") != expected_code:
        raise HitRejected(403, Refusal.SECURE_CODE, "Access denied")
    if offer.advertiser.ip_allowlist and not _ip_allowed(hit.caller_ip, offer.advertiser.ip_allowlist):
        raise HitRejected(403, Refusal.IP_DENIED, "Current IP-address is denied")
    requested_status = _status(params.get("status", ""))
    order_sum = _sum(params.get("sum", ""))
    goal, decline_reasons = _goal_and_decline_reasons(offer, click, params.get("goal", ""))
    # A sum sent without `currency` is in the goal's, which `{order_currency}` then names.
    order_currency = _currency(params.get("currency", "")) or (goal.currency if order_sum is not None else "")
    if method == IntegrationMethod.PROBABILISTIC and params.get("ip"):
        click = _latest_click_from_ip(offer, affiliate_id, params["ip"], params.get("ua", ""))

    status = ConversionStatus.DECLINED if decline_reasons else requested_status or goal.default_status
    visitor = _visitor(click, params)
    if DeclineReason.GOAL_NOT_FOUND in decline_reasons:
        # Nothing says what it pays: no money until a manager approves it on the goal it named.
        amounts = {"payout": Decimal(0), "revenue": Decimal(0), "currency": goal.currency}
    else:
        amounts = _amounts(goal, visitor["country"], order_sum, order_currency)
    fields = {
        "click": click,
        "click_values": click_values(click) if click is not None else {},
        "offer": offer,
        "affiliate_id": affiliate_id,
        "goal": goal,
        "status": status,
        "integration_method": method,
        "action_id": params.get("action_id", ""),
        **amounts,
        "order_sum": order_sum,
        "order_currency": order_currency,
        "ip": ip_text(params.get("ip", "")),
        "referrer": params.get("referrer", ""),
        "extra": {name: params[name] for name in EXTRA_PARAMETERS if params.get(name)},
        "hold_until": hold_until(offer, status),
        "decline_reason": "; ".join(decline_reasons),
        "unknown_goal": params["goal"].lower() if DeclineReason.GOAL_NOT_FOUND in decline_reasons else "",
        # A conversion of a test click is a test conversion: no statistics, no affiliate postbacks.
        "is_test": click is not None and click.is_test,
        **{name: params.get(name, "") for name in STORED_PARAMETERS},
        **_sub_values(click, params),
        **visitor,
    }
    return Conversion(**fields), requested_status


def _goal_and_decline_reasons(offer, click, goal_value: str):
    """The goal a hit names and why its conversion is declined on arrival, as Affise records them:
    a goal the offer lacks (the conversion then stands on the offer's first goal, the value sent
    kept as its `unknown_goal`), a click older than the offer's click lifetime. A manager may
    approve such a conversion once the cause is fixed (conversions.lifecycle)."""
    reasons = []
    goal = offer.goal_for(goal_value)
    if goal is None:
        reasons.append(DeclineReason.GOAL_NOT_FOUND)
        goal = offer.goal_for()
    if goal is None:  # an offer without goals, which only a broken import leaves
        raise HitRejected(404, Refusal.GOAL_NOT_FOUND, "Goal not found")
    if click is not None and click.created_at < timezone.now() - timedelta(days=offer.click_lifetime_days):
        reasons.append(DeclineReason.CLICK_EXPIRED)
    return goal, reasons


def _check_lengths(params):
    for name, value in params.items():
        limit = LONG_PARAMETERS.get(name, MAX_PARAMETER_LENGTH)
        if len(value) > limit:
            raise HitRejected(
                400,
                Refusal.PARAMETER_INVALID,
                f"Parameter {printable(name[:32])} is longer than {limit} characters",
            )
        if has_control_characters(value):
            raise HitRejected(
                400,
                Refusal.PARAMETER_INVALID,
                f"Parameter {printable(name[:32])} contains control characters",
            )


def _click_attribution(click_id, params, clicks):
    if not CLICK_ID.match(click_id):
        raise HitRejected(400, Refusal.CLICK_ID_INVALID, "Click_id: invalid format")
    if click_id not in clicks:
        # The click may be in the click buffer, which is unreachable: a 404 would make the
        # advertiser drop a conversion that a retry will record.
        raise HitRejected(
            503, Refusal.CLICK_LOOKUP_UNAVAILABLE, "Click lookup temporarily unavailable, retry later"
        )
    click = clicks[click_id]
    if click is None:
        raise HitRejected(404, Refusal.CLICK_NOT_FOUND, "Click not found")
    offer = offer_with_goals(click.offer_id)
    if params.get("offer_id") and params["offer_id"] != str(offer.offer_id):
        raise HitRejected(
            400,
            Refusal.OFFER_MISMATCH,
            "Offer does not match the click",
            offer.advertiser.refusals_answer_200,
            offer_id=offer.pk,
        )
    return click, offer, click.affiliate_id, IntegrationMethod.DEFAULT


def _probabilistic_offer_and_affiliate(params):
    offer_id, pid = public_id(params["offer_id"]), public_id(params["pid"])
    # Its goals and their payouts by country in two queries, read by the goal and amounts checks.
    offers = Offer.objects.select_related("advertiser").prefetch_related("goals__country_payouts")
    offer = offers.filter(offer_id=offer_id).first() if offer_id else None
    if offer is None:
        raise HitRejected(404, Refusal.OFFER_NOT_FOUND, "Offer not found")
    affiliate = Affiliate.objects.filter(pid=pid).first() if pid else None
    if affiliate is None:
        raise HitRejected(
            404,
            Refusal.AFFILIATE_NOT_FOUND,
            "Affiliate not found",
            offer.advertiser.refusals_answer_200,
            offer_id=offer.pk,
        )
    return offer, affiliate


def _ip_allowed(caller_ip, allowlist) -> bool:
    if not caller_ip:
        return False
    address = ipaddress.ip_address(caller_ip)
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in allowlist)


def _status(value):
    if not value:
        return None
    if value not in STATUS_CODES:
        raise HitRejected(400, Refusal.UNKNOWN_STATUS, "Unknown status")
    return STATUS_CODES[value]


def _sum(value):
    if not value:
        return None
    # Decimal() alone would also take other scripts' digits (١٢, １２), `1_000`, exponents,
    # signs and surrounding spaces: an amount is a plain ASCII decimal number.
    if not DECIMAL_NUMBER.match(value):
        raise HitRejected(400, Refusal.INVALID_SUM, INVALID_SUM)
    try:
        # Rounded before the range check: 99999999999999.99999 rounds up to 1e14, too large to store.
        amount = Decimal(value).quantize(Decimal("0.0001"))
    except InvalidOperation:  # too many digits to round
        raise HitRejected(400, Refusal.INVALID_SUM, INVALID_SUM) from None
    if amount >= Decimal("1e14"):
        raise HitRejected(400, Refusal.INVALID_SUM, INVALID_SUM)
    return amount


def _amounts(goal, country, order_sum, order_currency) -> dict:
    """The conversion's payout, revenue and currency by the goal's terms for the visitor's country
    (offers.payouts); None when they cannot pay on this sum, which refuses the hit only where it
    would create the conversion or change its amounts (conversions.recording), not where it is a
    replay."""
    try:
        amounts = conversion_amounts(
            goal, country=country, order_sum=order_sum, order_currency=order_currency
        )
    except PayoutRefused:
        return {"payout": None, "revenue": None, "currency": None}
    return {"payout": amounts.payout, "revenue": amounts.revenue, "currency": amounts.currency}


def _currency(value):
    if not value:
        return ""
    if not CURRENCY.match(value):
        raise HitRejected(
            400, Refusal.INVALID_CURRENCY, "Invalid currency: send a three-letter code such as USD"
        )
    return value.upper()


def _latest_click_from_ip(offer, affiliate_id, ip, user_agent):
    """Probabilistic attribution: the affiliate's latest click on the offer from this IP (and
    user agent, when given) inside the click lifetime, so its sub values reach the postback."""
    address = ip_text(ip)
    if address is None:
        return None
    since = timezone.now() - timedelta(days=offer.click_lifetime_days)
    clicks = Click.objects.filter(
        affiliate_id=affiliate_id, offer=offer, ip=address, created_at__gte=since, is_test=False
    )
    if user_agent:
        clicks = clicks.filter(user_agent=user_agent[:512])
    return clicks.order_by("-created_at").first()


def _visitor(click, params) -> dict:
    """The conversion's visitor context: its click's; for a probabilistic postback without a
    matching click, the country the advertiser sent, when it is a known country code."""
    if click is not None:
        return {
            "country": click.country,
            "os_family": click.os_family,
            "click_device_type": click.device_type,
        }
    return {"country": country_code(params.get("country", ""))}


def _sub_values(click, params):
    """The conversion's sub1..sub8 and `more_subs`: its click's, or for a probabilistic postback
    without a matching click, those the postback carries."""
    return sub_fields(click.all_sub_values() if click is not None else params)
