"""`GET /metrics`: the Prometheus text format, for operators' scrapers only (README "Metrics")."""

from django.http import Http404, HttpResponse

from config.metrics import CONTENT_TYPE, metrics_text, scrape_allowed
from ops.collector import StateCollector
from tracking.client_ip import client_ip

_state = StateCollector()


def metrics(request):
    # A refused scrape is told nothing, not even that the page exists.
    if not scrape_allowed(
        remote_addr=client_ip(request), authorization=request.META.get("HTTP_AUTHORIZATION", "")
    ):
        raise Http404
    response = HttpResponse(metrics_text(_state), content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response
