from django.urls import path

from portal import views

app_name = "portal"
urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("settings/api-key/", views.ApiKeySettingsView.as_view(), name="api-key"),
    path("settings/api-key/<row_id:pk>/revoke/", views.ApiKeyRevokeView.as_view(), name="api-key-revoke"),
]
