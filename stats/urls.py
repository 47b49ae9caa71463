from django.urls import path

from stats import views

app_name = "stats"
urlpatterns = [
    path("", views.StatisticsView.as_view(), name="report"),
    path("csv/", views.StatisticsCsvView.as_view(), name="csv"),
]
