from django.urls import path

from conversions import views

app_name = "statistics"
urlpatterns = [
    path("conversions/", views.ConversionStatisticsView.as_view(), name="conversions"),
    path("conversions/csv/", views.ConversionCsvView.as_view(), name="conversions-csv"),
]
