"""Click acceptance: whether a visit of a tracking link is taken, and where the visitor goes.

The checks run in this order, and the first that fails decides (README, "Clicks"):
1. the query string is valid UTF-8 without control characters;
2. no parameter is longer than MAX_PARAMETER_LENGTH;
3. offer_id, then pid, is present and a number;
4. the offer exists;
5. the affiliate may run the offer (offers.access), an unknown pid being refused in its turn;
6. the visitor is one the offer targets (offers.targeting: country, OS family, device type). The
   integration test wizard's click is exempt: it comes from no real visitor, and tests the
   affiliate's postbacks, not the offer's audience.
A visit refused by checks 1-5 stores nothing. One refused by the offer's targeting is stored as a
refused click (tracking.models.RefusedClick, through tracking.store like a click), so that the
statistics count it with its reason; it never becomes a click a conversion could find. Once the
offer is known, a refusal sends the visitor to the offer's trafficback URL when it has one. An
accepted visit is stored (tracking.store) and sent to the offer's destination
(tracking.destination: its macros, and deeplinks); a HEAD is no visit, so it is checked but not
stored.
"""

import time
from dataclasses import dataclass
from urllib.parse import parse_qsl

from config.text import has_control_characters
from offers import access
from offers.targeting import TargetingRefusal, refusal_message, targeting_refusal
from tracking import destination
from tracking.models import CLICK_PARAMETERS, MAX_PARAMETER_LENGTH, click_parameter_fields, new_click_id
from tracking.params import public_id
from tracking.store import click_record
from tracking.visitor import Visitor, visitor_for


@dataclass(frozen=True)
class ClickAccepted:
    """`click_id` is empty for a HEAD, which stores no click. `redirect_url` is the offer's
    destination with the macros filled in."""

    click_id: str
    redirect_url: str
    click_lifetime_days: int
    wants_json: bool


@dataclass(frozen=True)
class ClickRefused:
    """`status` is the HTTP status of the refusal; `trafficback_url`, when not empty, is where
    the visitor is sent instead, its macros filled in."""

    status: int
    message: str
    wants_json: bool
    trafficback_url: str = ""
    # The offer's targeting that refused the visitor (offers.targeting.TargetingRefusal's value).
    targeting: str = ""


class _Refused(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        offer=None,
        params=None,
        affiliate=None,
        visitor: Visitor | None = None,
        targeting: TargetingRefusal | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.offer, self.params = status, message, offer, params or {}
        self.affiliate, self.visitor, self.targeting = affiliate, visitor, targeting


def click_accept(
    *,
    query: str,
    ip: str | None,
    user_agent: str,
    referrer: str = "",
    accept_language: str = "",
    visit: bool = True,
    is_test: bool = False,
) -> ClickAccepted | ClickRefused:
    """Check a visit of a tracking link and, when `visit` (a GET, not a HEAD), store its click.

    `query` is the query string as a WSGI server hands it over (its bytes decoded as latin-1);
    `ip`, `user_agent` and `referrer` are the visitor's, as stored and used in macros, and with
    `accept_language` give the click's visitor context (tracking.visitor). A test click (the
    integration test wizard's) is stored flagged as one, and the offer's targeting does not apply
    to it.
    """
    wants_json = "format=json" in query
    now = time.time()
    try:
        params = _parse_query(query)
        wants_json = params.get("format") == "json"
        offer, affiliate = _check(params)
        # Once per click, for the targeting, the stored row and the URL's macros alike.
        visitor = visitor_for(ip=ip, user_agent=user_agent, accept_language=accept_language)
        if not is_test:
            _check_targeting(offer, affiliate, params, visitor)
    except _Refused as refused:
        if refused.targeting is not None and visit:
            _record_refused(refused, ip=ip, user_agent=user_agent, at=now)
        trafficback_url = ""
        if refused.offer is not None and refused.offer.trafficback_url:
            # A refusal before the targeting check has no visitor yet: computed here, once.
            visitor = refused.visitor or visitor_for(
                ip=ip, user_agent=user_agent, accept_language=accept_language
            )
            trafficback = destination.Visit(
                params=refused.params,
                click_id="",
                offer=refused.offer,
                affiliate=refused.affiliate,
                ip=ip,
                user_agent=user_agent,
                referrer=referrer,
                deeplink="",
                at=now,
                visitor=visitor,
            )
            trafficback_url = destination.url_for(refused.offer.trafficback_url, trafficback)
        targeting = refused.targeting.value if refused.targeting is not None else ""
        return ClickRefused(refused.status, refused.message, wants_json, trafficback_url, targeting)

    click_id = new_click_id(at=now) if visit else ""
    if click_id:
        row = click_parameter_fields(params)
        row.update(
            click_id=click_id,
            offer_id=offer.pk,
            affiliate_id=affiliate.pk,
            ip=ip,
            user_agent=user_agent,
            referrer=referrer,
            created_at=now,
            **visitor.fields(),
        )
        if is_test:
            row["is_test"] = True
        click_record(row)
    redirect_url = _redirect_url(params, offer, affiliate, click_id, ip, user_agent, referrer, now, visitor)
    return ClickAccepted(click_id, redirect_url, offer.click_lifetime_days, wants_json)


def _check_targeting(offer, affiliate, params, visitor):
    refusal = targeting_refusal(offer, visitor)
    if refusal is not None:
        message = refusal_message(refusal, visitor)
        raise _Refused(403, message, offer, params, affiliate, visitor=visitor, targeting=refusal)


def _record_refused(refused: _Refused, *, ip, user_agent, at):
    """Store a visit refused by the offer's targeting, with its reason (tracking.store keeps it
    apart from clicks). It gets a click id of its own so that it is counted once, as a click is,
    however often its batch is written; the visitor is not told it."""
    visitor = refused.visitor
    click_record(
        {
            "refused": refused.targeting.value,
            "click_id": new_click_id(at=at),
            "offer_id": refused.offer.pk,
            "affiliate_id": refused.affiliate.pk,
            "ip": ip,
            "user_agent": user_agent,
            "country": visitor.country,
            "os_family": visitor.os_family,
            "device_type": visitor.device_type,
            "created_at": at,
        }
    )


def _redirect_url(params, offer, affiliate, click_id, ip, user_agent, referrer, now, visitor) -> str:
    """The offer's destination with its macros filled in; with an allowed deeplink (`redirect=`),
    the destination with `{deeplink}` filled when it has that macro (the advertiser's tracker
    forwards the visitor, and gets the click id), else the deeplink itself."""
    deeplink = params.get("redirect", "")
    if not destination.deeplink_allowed(
        deeplink, allow_deeplinks=offer.allow_deeplinks, domains=offer.deeplink_domains
    ):
        deeplink = ""
    if deeplink and "{deeplink}" not in offer.destination_url:
        return deeplink
    visit = destination.Visit(
        params, click_id, offer, affiliate, ip, user_agent, referrer, deeplink, now, visitor
    )
    return destination.url_for(offer.destination_url, visit)


def _parse_query(raw_query: str) -> dict[str, str]:
    """Parse the query string strictly: invalid UTF-8 or control characters are refused, not
    replaced. A parameter given twice counts with its last value, as in most trackers."""
    try:
        # WSGI hands over the raw bytes as latin-1 text.
        query = raw_query.encode("latin-1").decode("utf-8")
        pairs = parse_qsl(query, keep_blank_values=True, errors="strict")
    except (UnicodeError, ValueError):
        raise _Refused(400, "The link's parameters are not valid UTF-8.") from None
    params = {}
    for name, value in pairs:
        if has_control_characters(value):
            raise _Refused(400, f"Parameter {name[:32]} contains control characters.")
        params[name] = value
    return params


def _public_id(params, name) -> int:
    value = params.get(name, "")
    if not value:
        raise _Refused(400, f"Missing mandatory parameter {name}.")
    if not value.isascii() or not value.isdigit():
        raise _Refused(400, f"Parameter {name} must be a number.")
    number = public_id(value)
    if number is None:
        # Longer than any id: a number, but of nothing that exists.
        raise _Refused(404, "Offer not found." if name == "offer_id" else "Affiliate not found.")
    return number


def _check(params):
    """Validate a click in order and return (offer, affiliate) snapshots, or raise _Refused."""
    for name in CLICK_PARAMETERS:
        if len(params.get(name, "")) > MAX_PARAMETER_LENGTH:
            raise _Refused(400, f"Parameter {name} is longer than {MAX_PARAMETER_LENGTH} characters.")
    if len(params.get("redirect", "")) > destination.MAX_DEEPLINK_LENGTH:
        raise _Refused(
            400, f"Parameter redirect is longer than {destination.MAX_DEEPLINK_LENGTH} characters."
        )
    offer_id, pid = _public_id(params, "offer_id"), _public_id(params, "pid")
    offer = access.offer_by_public_id(offer_id)
    if offer is None:
        raise _Refused(404, "Offer not found.")
    affiliate = access.affiliate_by_pid(pid)
    refusal = access.snapshot_refusal(offer=offer, affiliate=affiliate)
    if refusal is access.Refusal.AFFILIATE_BLOCKED and affiliate is None:
        # The rule refuses an unknown pid as it does a blocked affiliate; the visitor is told which.
        raise _Refused(404, "Affiliate not found.", offer, params)
    if refusal is not None:
        raise _Refused(403, refusal.value, offer, params, affiliate)
    return offer, affiliate
