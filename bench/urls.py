"""The project's URLs plus the baseline the benchmarks compare against."""

from django.http import HttpResponseRedirect
from django.urls import path

from config.urls import urlpatterns as project_urlpatterns


def bare_redirect(request):
    """A Django view that does nothing but answer a 302: the ceiling for /click."""
    return HttpResponseRedirect("https://advertiser.example/landing")


urlpatterns = [path("bench/bare-302", bare_redirect), *project_urlpatterns]
