from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from api.models import ApiKey
from api.services import api_key_revoke
from manager.selectors import partners
from offers.models import Advertiser
from portal.forms import ConfirmForm


def _affiliate(pid: int):
    affiliate = partners.affiliate_by_pid(pid)
    if affiliate is None:
        raise Http404("No affiliate has this pid.")
    return affiliate


def _may_revoke(request) -> bool:
    """Who may revoke a key here: those the admin lets revoke keys (change API keys)."""
    return request.user.has_perm("api.change_apikey")


def affiliate_overview(request, pid: int):
    """One affiliate at a glance (`/admin/network/affiliates/<pid>/`): who, figures, offers,
    postbacks and their health, API keys, recent refusals. The page reads no query string."""
    affiliate = _affiliate(pid)
    context = {
        **admin.site.each_context(request),
        "title": f"Affiliate {affiliate.pid} {affiliate.user.get_username()}",
        # The page's tables are wide: the sidebar of every app's models gives them its room, as
        # on the admin's lists of traffic records.
        "is_nav_sidebar_enabled": False,
        "overview": partners.affiliate_overview(affiliate),
        "may_revoke": _may_revoke(request),
    }
    return TemplateResponse(request, "admin/manager/affiliate.html", context)


def affiliate_api_key_revoke(request, pid: int, pk: int):
    """Revoking one of the affiliate's API keys: a GET shows which key and what revoking does, a
    POST with `confirm=yes` revokes it (api.services.api_key_revoke) and leads back to the
    affiliate's page. Another user's key is a 404."""
    affiliate = _affiliate(pid)
    api_key = get_object_or_404(ApiKey, pk=pk, user_id=affiliate.user_id)
    if not _may_revoke(request):
        raise PermissionDenied("Revoking API keys needs the right to change them.")
    context = {
        **admin.site.each_context(request),
        "title": f"Revoke API key {api_key.prefix}…",
        "affiliate": affiliate,
        "api_key": api_key,
    }
    if request.method == "POST":
        if not ConfirmForm(request.POST).is_valid():
            return TemplateResponse(
                request, "admin/manager/api_key_revoke.html", {**context, "not_confirmed": True}, status=400
            )
        api_key_revoke(api_key=api_key)
        messages.success(request, f"Key {api_key.prefix}… of affiliate {affiliate.pid} revoked.")
        return redirect(reverse("admin-affiliate-overview", kwargs={"pid": affiliate.pid}) + "#api-keys")
    return TemplateResponse(request, "admin/manager/api_key_revoke.html", context)


def advertiser_overview(request, pk: int):
    """One advertiser at a glance (`/admin/network/advertisers/<pk>/`): its offers and their
    figures, the postbacks refused for them, and how its postbacks are protected."""
    advertiser = get_object_or_404(Advertiser, pk=pk)
    context = {
        **admin.site.each_context(request),
        "title": f"Advertiser {advertiser.name}",
        "is_nav_sidebar_enabled": False,
        "overview": partners.advertiser_overview(advertiser),
    }
    return TemplateResponse(request, "admin/manager/advertiser.html", context)
