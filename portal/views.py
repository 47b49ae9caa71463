"""The portal's own pages: the dashboard (and its network-wide twin in the admin) and the API
key settings."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.generic import TemplateView

from api.models import ApiKey
from api.services import api_key_issue, api_key_revoke
from config.filters import with_default_period
from offers.access import offers_runnable_by
from offers.models import Affiliate, OfferAccess
from offers.selectors import offers_visible_to
from portal.access import AffiliateRequiredMixin
from portal.forms import ApiKeyForm, ApiKeyRevokeForm, DashboardPeriodForm
from stats.forms import DEFAULT_DAYS
from stats.selectors import (
    STATUSES,
    DeliveryDay,
    delivery_success_by_day,
    stats_report,
    top_offers,
)


def dashboard_context(request, affiliate: Affiliate | None) -> dict:
    """The period form and, when it is valid, the figures of one affiliate (None: the network):
    totals and rows by day from the statistics rollup, postback deliveries by day, top offers, and
    the same as `chart_data` for the page's charts."""
    form = DashboardPeriodForm(with_default_period(request.GET, days=DEFAULT_DAYS))
    if not form.is_valid():
        return {"form": form, "report": None}
    period = {"date_from": form.cleaned_data["date_from"], "date_to": form.cleaned_data["date_to"]}
    report = stats_report(affiliate=affiliate, **period)
    deliveries = delivery_success_by_day(affiliate=affiliate, **period)
    by_offer = stats_report(affiliate=affiliate, group_by="offer", **period)
    chart_data = {
        "days": [row.day.isoformat() for row in report.rows],
        "clicks": [row.figures.clicks for row in report.rows],
        "unique_clicks": [row.figures.unique_clicks for row in report.rows],
        "conversions": {name: [row.figures.counts[name] for row in report.rows] for name in STATUSES},
        "payout": {
            currency: [
                # Four decimals whatever the database answers (SQLite drops trailing zeros).
                f"{row.figures.money[currency].payout['approved']:.4f}"
                if currency in row.figures.money
                else "0"
                for row in report.rows
            ]
            for currency in report.currencies
        },
        "delivery_rate": [None if day.rate is None else str(day.rate) for day in deliveries],
    }
    return {
        "form": form,
        "report": report,
        "days": list(zip(report.rows, deliveries, strict=True)),
        "deliveries": DeliveryDay(
            report.date_to,
            attempted=sum(day.attempted for day in deliveries),
            succeeded=sum(day.succeeded for day in deliveries),
        ),
        "top_offers": top_offers(by_offer, by=form.cleaned_data["top_by"]),
        "top_by": form.cleaned_data["top_by"],
        "chart_data": chart_data,
    }


class DashboardView(AffiliateRequiredMixin, TemplateView):
    template_name = "portal/dashboard.html"

    def get_context_data(self, **kwargs):
        visible = offers_visible_to(self.affiliate)
        return super().get_context_data(
            runnable_offer_count=offers_runnable_by(self.affiliate).count(),
            pending_access_count=visible.filter(access_status=OfferAccess.Status.PENDING).count(),
            latest_offers=visible.order_by("-created_at")[:5],
            **dashboard_context(self.request, self.affiliate),
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
            revoke = ApiKeyRevokeForm(request.POST, user=request.user)
            if not revoke.is_valid():
                # Another user's key, or no key at all: nothing here to revoke.
                raise Http404("No such API key.")
            api_key = revoke.cleaned_data["revoke"]
            api_key_revoke(api_key=api_key)
            messages.success(request, f"Key {api_key.prefix}… revoked.")
            return redirect("portal:api-key")
        form = ApiKeyForm(request.POST)
        if not form.is_valid():
            messages.error(request, " ".join(form.errors["name"]))
            return redirect("portal:api-key")
        name = form.cleaned_data["name"]
        try:
            # Kept in the session for one page view so that a reload does not issue another key.
            _, request.session["new_api_key"] = api_key_issue(user=request.user, name=name)
        except ValidationError as refused:
            messages.error(request, " ".join(refused.messages))
        return redirect("portal:api-key")


def admin_dashboard(request):
    """The managers' dashboard in the admin (`/admin/dashboard/`, staff only): the dashboard's
    figures for the whole network."""
    context = {
        **admin.site.each_context(request),
        "title": "Network dashboard",
        **dashboard_context(request, affiliate=None),
    }
    return TemplateResponse(request, "admin/dashboard.html", context)
