from django.urls import path

from alerts import views

app_name = "alerts"
urlpatterns = [
    path("settings/alerts/", views.AlertSettingsView.as_view(), name="settings"),
    path("alerts/<row_id:pk>/dismiss/", views.NoticeDismissView.as_view(), name="dismiss"),
]
