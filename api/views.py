"""Answers of the API's URLs that no app's endpoint answers."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt  # API clients send no CSRF token: their write to a wrong URL is a 404 too, not a 403
def not_found(request):
    """Any other URL under /api/v1/ (an id of the wrong shape included): a JSON 404 like every other
    API error, where Django would answer an HTML page."""
    return JsonResponse({"detail": "Not found."}, status=404)
