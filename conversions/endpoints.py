"""Advertiser endpoints: the S2S postback (`GET|POST /postback`, also `/postback/`) and the
client-side pixels: the image pixel (`GET /pixel`, also Affise's `/success.jpg`), the iframe pixel
(`/success.php`) and the JavaScript pixel (`/track.js`).

All are answered by config.middleware.TrackingFastPathMiddleware: no session or CSRF, since
advertisers' servers and pixels carry neither.
"""

import base64
import json
from pathlib import Path

from django.core.exceptions import BadRequest, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpResponse
from django.http.multipartparser import MultiPartParserError

from conversions.intake import AdvertiserHit, HitRejected, Refusal
from conversions.models import ServerPostback
from conversions.recording import advertiser_postback_answer
from tracking.client_ip import client_ip
from tracking.cookie import COOKIE_NAME
from tracking.params import as_sent

# The smallest transparent GIF.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
# What Django raises rather than read a request's parameters: more than DATA_UPLOAD_MAX_NUMBER_FIELDS
# of them, a body over DATA_UPLOAD_MAX_MEMORY_SIZE, a broken multipart body, a form in another
# charset than UTF-8. Left to Django, each would be an HTML error page, not the JSON answer (or the
# GIF) advertisers' integrations read.
UNREADABLE = (TooManyFieldsSent, TooManyFilesSent, RequestDataTooBig, MultiPartParserError, BadRequest)
UNREADABLE_MESSAGE = "Invalid request: too many parameters, or a body too large or malformed"
POSTBACK_METHODS = ("GET", "POST")


def _params(request) -> dict[str, str]:
    # A parameter given twice counts with its last value; a form body wins over the query.
    return {**request.GET.dict(), **request.POST.dict()}


def _query_string(request) -> str:
    return as_sent(request.META.get("QUERY_STRING", ""))


def _raw_query(request) -> str:
    body = request.body.decode("utf-8", "replace") if request.method == "POST" else ""
    return _query_string(request) + (f"\n{body}" if body else "")


def _json(body: dict, status: int) -> HttpResponse:
    return HttpResponse(json.dumps(body), status=status, content_type="application/json")


def postback(request):
    if request.method not in POSTBACK_METHODS:
        # A HEAD is refused too: a postback that would store nothing is no postback.
        message = "Method not allowed: send the postback with GET or POST"
        response = _json({"status": 2, "message": message}, 405)
        response["Allow"] = ", ".join(POSTBACK_METHODS)
        return response
    raw_query, params, refused = _query_string(request), {}, None
    try:
        raw_query = _raw_query(request)  # before the form is parsed: the body can be read only once
        params = _params(request)
    except UNREADABLE:
        refused = HitRejected(400, Refusal.UNREADABLE, UNREADABLE_MESSAGE)
    answer = advertiser_postback_answer(
        AdvertiserHit(
            params=params,
            source=ServerPostback.Source.POSTBACK,
            method=request.method,
            raw_query=raw_query,
            caller_ip=client_ip(request),
            refused=refused,
        )
    )
    return _json(answer.body, answer.http_status)


postback.answers_json = True  # its 503 while the database is unreachable is JSON too


def pixel(request):
    """Records the conversion of the click in the `afclick` cookie; answers a GIF whatever happens.
    A HEAD (a previewer checking the image) records nothing."""
    return _pixel_hit(request, pixel_response)


def iframe_pixel(request):
    """The iframe pixel: recorded as the image pixel is, answered with an empty page."""
    return _pixel_hit(request, iframe_pixel_response)


def _pixel_hit(request, answer):
    if request.method == "HEAD":
        return answer()
    if request.method != "GET":
        response = answer(status=405)
        response["Allow"] = "GET, HEAD"
        return response
    try:
        params, refused = request.GET.dict(), None
    except UNREADABLE:
        params, refused = {}, HitRejected(400, Refusal.UNREADABLE, UNREADABLE_MESSAGE)
    params["clickid"] = request.COOKIES.get(COOKIE_NAME, "")
    for name in ("click_id", "afclick"):
        params.pop(name, None)
    if "afstatus" in params:
        params["status"] = params.pop("afstatus")
    advertiser_postback_answer(
        AdvertiserHit(
            params=params,
            source=ServerPostback.Source.PIXEL,
            method=request.method,
            raw_query=_query_string(request),
            caller_ip=client_ip(request),
            refused=refused,
        )
    )
    return answer()


def pixel_response(status: int = 200) -> HttpResponse:
    """The pixel's answer, whatever happened to the hit."""
    response = HttpResponse(PIXEL_GIF, content_type="image/gif", status=status)
    response["Cache-Control"] = "no-store"
    return response


def iframe_pixel_response(status: int = 200) -> HttpResponse:
    response = HttpResponse(EMPTY_PAGE, content_type="text/html; charset=utf-8", status=status)
    response["Cache-Control"] = "no-store"
    return response


def script_pixel(request):
    """The JavaScript pixel: a script that reads the `af*` variables the advertiser's page sets
    before loading it (`var afoffer_id = 802;`) and loads the image pixel beside it with them.
    It stores nothing itself, so it may be cached."""
    response = HttpResponse(SCRIPT_PIXEL, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    return response


# While the database is unreachable a pixel still answers what the page expects.
pixel.unavailable = pixel_response
iframe_pixel.unavailable = iframe_pixel_response

EMPTY_PAGE = "<!doctype html><title></title>"
SCRIPT_PIXEL = (Path(__file__).parent / "track.js").read_text()
