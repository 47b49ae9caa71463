import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

UNAVAILABLE = "Service temporarily unavailable, retry later"
RETRY_AFTER_SECONDS = 5


class TrackingFastPathMiddleware:
    """Answers the traffic endpoints (settings.TRAFFIC_ENDPOINTS), called by visitors' browsers
    and advertisers' servers at volume. They use no session, CSRF token, login or messages, so
    they are answered before that middleware runs."""

    def __init__(self, get_response):
        self.get_response = get_response
        # Imported once, when Django builds the middleware chain, rather than with this module:
        # config imports no app. Per request, finding an endpoint stays one dict lookup.
        self.endpoints = {path: import_string(name) for path, name in settings.TRAFFIC_ENDPOINTS.items()}

    def __call__(self, request):
        endpoint = self.endpoints.get(request.path_info)
        if endpoint is None:
            return self.get_response(request)
        try:
            return endpoint(request)
        except (OperationalError, InterfaceError):
            # The database is unreachable (restarting, failing over): nothing was stored, and the
            # caller is told to retry rather than shown a server error.
            logger.exception("Database unavailable for %s", request.path_info)
            return unavailable_answer(endpoint)


def unavailable_answer(endpoint) -> HttpResponse:
    """The answer while the database is unreachable: an endpoint's own `unavailable()` when it
    has one (a pixel still answers its image), else a 503 telling the caller to retry, in JSON
    for an endpoint that answers JSON (`answers_json`)."""
    if hasattr(endpoint, "unavailable"):
        return endpoint.unavailable()
    if getattr(endpoint, "answers_json", False):
        response = JsonResponse({"status": 2, "message": UNAVAILABLE}, status=503)
    else:
        response = HttpResponse(UNAVAILABLE, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class PrivateAnswersNotStored:
    """Every answer to a signed-in user (portal pages, CSV exports, the admin) and every API answer
    holds one user's data or a secret shown once (a new API key or signing secret, an advertiser's
    secure code), so no browser or shared cache may keep a copy: `no-store`. An answer that sets
    its own Cache-Control keeps it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Cache-Control" not in response and (
            request.path_info.startswith("/api/") or request.user.is_authenticated
        ):
            add_never_cache_headers(response)
        return response
