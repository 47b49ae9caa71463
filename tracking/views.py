"""The tracking link endpoint, `GET /click`: the most-called URL of the platform.

It is kept lean on purpose: it is answered by TrackingFastPathMiddleware before the session,
CSRF, authentication and messages middleware; lookups come from a per-process cache
(tracking.lookups) and the click is written through a buffer (tracking.buffer).
"""

import json
import time
from urllib.parse import parse_qsl, urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string

from config.text import has_control_characters
from tracking import lookups
from tracking.client_ip import client_ip
from tracking.macros import substitute
from tracking.models import CLICK_PARAMETERS, MAX_PARAMETER_LENGTH, new_click_id
from tracking.params import header_text, public_id
from tracking.services import click_record

COOKIE_NAME = "afclick"
ALLOWED_METHODS = ("GET", "HEAD")


class ClickRefused(Exception):
    def __init__(self, status: int, message: str, offer=None, params=None):
        super().__init__(message)
        self.status, self.message, self.offer, self.params = status, message, offer, params or {}


def _parse_query(raw_query: str) -> dict[str, str]:
    """Parse the query string strictly: invalid UTF-8 or control characters are refused, not
    replaced. A parameter given twice counts with its last value, as in most trackers."""
    try:
        # WSGI hands over the raw bytes as latin-1 text.
        query = raw_query.encode("latin-1").decode("utf-8")
        pairs = parse_qsl(query, keep_blank_values=True, errors="strict")
    except (UnicodeError, ValueError):
        raise ClickRefused(400, "The link's parameters are not valid UTF-8.") from None
    params = {}
    for name, value in pairs:
        if has_control_characters(value):
            raise ClickRefused(400, f"Parameter {name[:32]} contains control characters.")
        params[name] = value
    return params


def _public_id(params, name) -> int:
    value = params.get(name, "")
    if not value:
        raise ClickRefused(400, f"Missing mandatory parameter {name}.")
    if not value.isascii() or not value.isdigit():
        raise ClickRefused(400, f"Parameter {name} must be a number.")
    number = public_id(value)
    if number is None:
        # Longer than any id: a number, but of nothing that exists.
        raise ClickRefused(404, "Offer not found." if name == "offer_id" else "Affiliate not found.")
    return number


def _check(params):
    """Validate a click in order and return (offer, affiliate) snapshots, or raise ClickRefused."""
    for name in CLICK_PARAMETERS:
        if len(params.get(name, "")) > MAX_PARAMETER_LENGTH:
            raise ClickRefused(400, f"Parameter {name} is longer than {MAX_PARAMETER_LENGTH} characters.")
    offer_id, pid = _public_id(params, "offer_id"), _public_id(params, "pid")
    offer = lookups.offer_by_public_id(offer_id)
    if offer is None:
        raise ClickRefused(404, "Offer not found.")
    if not offer.is_active:
        raise ClickRefused(403, "This offer is paused.", offer, params)
    affiliate = lookups.affiliate_by_pid(pid)
    if affiliate is None:
        raise ClickRefused(404, "Affiliate not found.", offer, params)
    if not affiliate.is_active:
        raise ClickRefused(403, "This affiliate is blocked.", offer, params)
    if offer.is_private and not lookups.has_approved_access(affiliate=affiliate, offer=offer):
        raise ClickRefused(403, "This affiliate has no access to this offer.", offer, params)
    return offer, affiliate


def _macro_values(params, **extra):
    values = {name: params.get(name, "") for name in CLICK_PARAMETERS}
    values.update(pid=params.get("pid", ""), offer_id=params.get("offer_id", ""), **extra)
    return values


def _refusal(request, refused: ClickRefused, wants_json: bool):
    if refused.offer is not None and refused.offer.trafficback_url:
        values = _macro_values(refused.params, clickid="", ip=client_ip(request), ua=_user_agent(request))
        return HttpResponseRedirect(substitute(refused.offer.trafficback_url, values))
    if wants_json:
        return HttpResponse(
            json.dumps({"error": refused.message}), status=refused.status, content_type="application/json"
        )
    page = render_to_string(
        "tracking/click_error.html", {"message": refused.message, "status": refused.status}
    )
    return HttpResponse(page, status=refused.status)


def _user_agent(request):
    return header_text(request, "HTTP_USER_AGENT", 512)


def click(request):
    """GET opens the link. HEAD (link checkers, chat previews) gets the status and headers a GET
    would, after the same checks, but is no visit: no click is stored, no cookie set, and
    `{clickid}` is empty in the destination."""
    if request.method not in ALLOWED_METHODS:
        refused = ClickRefused(405, "Method not allowed: a tracking link is opened with GET.")
        response = _refusal(request, refused, "format=json" in request.META.get("QUERY_STRING", ""))
        response["Allow"] = ", ".join(ALLOWED_METHODS)
        return response
    return _click(request, is_test=False)


def test_click(link: str, *, ip: str, user_agent: str) -> HttpResponse:
    """Open a tracking link in-process as a visitor would, with `format=json`: the same checks
    and the same write as `click`, the click flagged as a test click (integration test wizard)."""
    request = HttpRequest()
    request.method = "GET"
    request.META = {
        "QUERY_STRING": f"{urlsplit(link).query}&format=json",
        "REMOTE_ADDR": ip,
        "HTTP_USER_AGENT": user_agent,
    }
    return _click(request, is_test=True)


def _click(request, *, is_test: bool):
    raw_query = request.META.get("QUERY_STRING", "")
    wants_json = "format=json" in raw_query
    try:
        params = _parse_query(raw_query)
        wants_json = params.get("format") == "json"
        offer, affiliate = _check(params)
    except ClickRefused as refused:
        return _refusal(request, refused, wants_json)

    ip, user_agent = client_ip(request), _user_agent(request)
    # A HEAD is no visit (see `click`): no click id, nothing stored, no cookie.
    click_id = "" if request.method == "HEAD" else new_click_id()
    if click_id:
        row = {name: params.get(name, "") for name in CLICK_PARAMETERS}
        row.update(
            click_id=click_id,
            offer_id=offer.pk,
            affiliate_id=affiliate.pk,
            ip=ip,
            user_agent=user_agent,
            referrer=header_text(request, "HTTP_REFERER", 2048),
            created_at=time.time(),
        )
        if is_test:
            row["is_test"] = True
        click_record(row)

    values = _macro_values(params, clickid=click_id, ip=ip, ua=user_agent)
    redirect_url = substitute(offer.destination_url, values)
    if wants_json:
        response = HttpResponse(
            json.dumps({"click_id": click_id, "redirect_url": redirect_url}), content_type="application/json"
        )
    else:
        response = HttpResponseRedirect(redirect_url)
    if click_id:
        _set_click_cookie(request, response, click_id, offer.click_lifetime_days)
    return response


def _set_click_cookie(request, response, click_id, lifetime_days):
    """`afclick` for client-side pixels. The pixel is loaded from the advertiser's site, a
    cross-site request, so over https the cookie is SameSite=None; browsers accept that only
    with Secure, so over plain http it falls back to Lax."""
    secure = request.is_secure()
    response.set_cookie(
        COOKIE_NAME,
        click_id,
        max_age=lifetime_days * 86400,
        secure=secure,
        httponly=True,
        samesite="None" if secure else "Lax",
    )
