"""`GET /metrics`: the Prometheus text format, for operators' scrapers only (README "Metrics")."""

from django.http import Http404, HttpResponse

from config.metrics import CONTENT_TYPE, metrics_text, scrape_allowed
from ops.collector import StateCollector

_state = StateCollector()


def metrics(request):
    # A refused scrape is told nothing, not even that the page exists.
    if not scrape_allowed(request.META):
        raise Http404
    response = HttpResponse(metrics_text(_state), content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response
