"""The tracking link endpoint, `GET /click`: the most-called URL of the platform.

It is kept lean on purpose: it is answered by config.middleware.TrackingFastPathMiddleware before
the session, CSRF, authentication and messages middleware. The checks and the write are
tracking.accept's; this module turns the request into its call and its answer into a response.
"""

import json

from django.http import HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string

from config.metrics import clicks_counted
from tracking.accept import ClickRefused, click_accept
from tracking.client_ip import client_ip
from tracking.cookie import set_click_cookie
from tracking.params import header_text

ALLOWED_METHODS = ("GET", "HEAD")
# A refusal's reason in /metrics, by its status; the targeting's refusals name their rule.
REFUSAL_REASONS = {400: "malformed", 403: "forbidden", 404: "unknown", 405: "method"}


def click(request):
    """GET opens the link. HEAD (link checkers, chat previews) gets the status and headers a GET
    would, after the same checks, but is no visit: no click is stored, no cookie set, and
    `{clickid}` is empty in the destination."""
    query = request.META.get("QUERY_STRING", "")
    if request.method not in ALLOWED_METHODS:
        message = "Method not allowed: a tracking link is opened with GET."
        response = _refusal(ClickRefused(405, message, wants_json="format=json" in query))
        response["Allow"] = ", ".join(ALLOWED_METHODS)
        return response
    result = click_accept(
        query=query,
        ip=client_ip(request),
        user_agent=header_text(request, "HTTP_USER_AGENT", 512),
        referrer=header_text(request, "HTTP_REFERER", 2048),
        accept_language=header_text(request, "HTTP_ACCEPT_LANGUAGE", 256),
        visit=request.method == "GET",
    )
    if isinstance(result, ClickRefused):
        return _refusal(result)
    clicks_counted("accepted" if result.click_id else "head", "").inc()
    if result.wants_json:
        body = {"click_id": result.click_id, "redirect_url": result.redirect_url}
        response = HttpResponse(json.dumps(body), content_type="application/json")
    else:
        response = HttpResponseRedirect(result.redirect_url)
    if result.click_id:
        set_click_cookie(request, response, result.click_id, result.click_lifetime_days)
    return response


def _refusal(refused: ClickRefused) -> HttpResponse:
    reason = refused.targeting or REFUSAL_REASONS.get(refused.status, str(refused.status))
    clicks_counted("trafficback" if refused.trafficback_url else "refused", reason).inc()
    if refused.trafficback_url:
        return HttpResponseRedirect(refused.trafficback_url)
    if refused.wants_json:
        return HttpResponse(
            json.dumps({"error": refused.message}), status=refused.status, content_type="application/json"
        )
    page = render_to_string(
        "tracking/click_error.html", {"message": refused.message, "status": refused.status}
    )
    return HttpResponse(page, status=refused.status)
