from django.urls import path

from conversions import portal_views

app_name = "statistics"
urlpatterns = [
    path("conversions/", portal_views.ConversionStatisticsView.as_view(), name="conversions"),
    path("conversions/csv/", portal_views.ConversionCsvView.as_view(), name="conversions-csv"),
]
