"""The managers' dashboard in the admin (`/admin/dashboard/`): the portal dashboard's figures for
the whole network, staff only."""

from django.contrib import admin
from django.template.response import TemplateResponse

from portal.views import dashboard_context


def admin_dashboard(request):
    context = {
        **admin.site.each_context(request),
        "title": "Network dashboard",
        **dashboard_context(request, affiliate=None),
    }
    return TemplateResponse(request, "admin/dashboard.html", context)


# Refuses anyone but active staff: they are sent to the admin's login page.
admin_dashboard_view = admin.site.admin_view(admin_dashboard)
