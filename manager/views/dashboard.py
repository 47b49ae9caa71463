from django.contrib import admin
from django.template.response import TemplateResponse

from portal.dashboard import dashboard_context


def network_dashboard(request):
    """The managers' dashboard in the admin (`/admin/dashboard/`, staff only): the dashboard's
    figures for the whole network."""
    context = {
        **admin.site.each_context(request),
        "title": "Network dashboard",
        **dashboard_context(request, affiliate=None),
    }
    return TemplateResponse(request, "admin/dashboard.html", context)
