from django.urls import path
from django.views.generic import RedirectView

from conversions import portal_views

app_name = "statistics"
urlpatterns = [
    # Statistics has one report so far; the section's address opens it.
    path("", RedirectView.as_view(pattern_name="statistics:conversions"), name="index"),
    path("conversions/", portal_views.ConversionStatisticsView.as_view(), name="conversions"),
    path("conversions/csv/", portal_views.ConversionCsvView.as_view(), name="conversions-csv"),
]
