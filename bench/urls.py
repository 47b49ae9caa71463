"""The project's URLs plus the baseline the benchmarks compare against."""

from django.http import HttpResponse, HttpResponseRedirect
from django.urls import path

from config.urls import urlpatterns as project_urlpatterns


def bare_redirect(request):
    """A Django view that does nothing but answer a 302: the ceiling for /click."""
    return HttpResponseRedirect("https://advertiser.example/landing")


def bare_json(request):
    """A Django view that answers a small JSON body like /postback, without doing any work."""
    return HttpResponse(b'{"status": 1, "message": "ok"}', content_type="application/json")


urlpatterns = [
    path("bench/bare-302", bare_redirect),
    path("bench/bare-json", bare_json),
    *project_urlpatterns,
]
