"""The manager console: purpose-built pages inside the admin (same login, same look), staff only."""

from django.contrib import admin
from django.urls import path

from manager.views import dashboard

urlpatterns = [
    path("dashboard/", admin.site.admin_view(dashboard.network_dashboard), name="admin-dashboard"),
]
