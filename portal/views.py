from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import TemplateView

from api.models import ApiKey
from api.services import api_key_issue, api_key_revoke
from offers.models import OfferAccess
from offers.selectors import offers_runnable_by, offers_visible_to
from portal.access import AffiliateRequiredMixin


class DashboardView(AffiliateRequiredMixin, TemplateView):
    template_name = "portal/dashboard.html"

    def get_context_data(self, **kwargs):
        visible = offers_visible_to(self.affiliate)
        return super().get_context_data(
            runnable_offer_count=offers_runnable_by(self.affiliate).count(),
            pending_access_count=visible.filter(access_status=OfferAccess.Status.PENDING).count(),
            latest_offers=visible.order_by("-created_at")[:5],
            **kwargs,
        )


class ApiKeySettingsView(AffiliateRequiredMixin, TemplateView):
    """Issue and revoke API keys. A new key is shown once, right after it is issued."""

    template_name = "portal/api_key.html"

    def get_context_data(self, **kwargs):
        keys = ApiKey.objects.filter(user=self.request.user, revoked_at__isnull=True)
        new_key = self.request.session.pop("new_api_key", None)
        return super().get_context_data(api_keys=keys, new_api_key=new_key, **kwargs)

    def post(self, request):
        if "revoke" in request.POST:
            revoke_id = request.POST["revoke"]
            api_key = get_object_or_404(ApiKey, pk=revoke_id if revoke_id.isdigit() else 0, user=request.user)
            api_key_revoke(api_key=api_key)
            messages.success(request, f"Key {api_key.prefix}… revoked.")
        else:
            name = request.POST.get("name", "").strip()[:100]
            # Kept in the session for one page view so that a reload does not issue another key.
            _, request.session["new_api_key"] = api_key_issue(user=request.user, name=name)
        return redirect("portal:api-key")
