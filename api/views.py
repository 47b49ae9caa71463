"""Answers of the API's URLs that no app's endpoint answers."""

from django.core.exceptions import DisallowedHost
from django.http import JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt  # API clients send no CSRF token: their write to a wrong URL is a 404 too, not a 403
def not_found(request):
    """Any other URL under /api/v1/ (an id of the wrong shape included): a JSON 404 like every other
    API error, where Django would answer an HTML page."""
    return JsonResponse({"detail": "Not found."}, status=404)


def bad_request(request, exception):
    """A request Django refuses before any view (a Host header no allowed host matches, other
    suspicious input): under /api/ a JSON 400 like every other API error, elsewhere Django's page."""
    if not request.path.startswith("/api/"):
        return defaults.bad_request(request, exception)
    if isinstance(exception, DisallowedHost):
        return JsonResponse({"detail": "The Host header names no host this server answers for."}, status=400)
    return JsonResponse({"detail": "Bad request."}, status=400)
