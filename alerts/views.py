"""Settings > Alerts (the affiliate's alert emails and notices) and dismissing a notice."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import TemplateView

from alerts import rules
from alerts.forms import AlertEmailsForm
from alerts.selectors import notices_for
from alerts.services import EMAIL_INTERVAL, notice_dismiss
from offers.services import affiliate_update
from portal.access import AffiliateRequiredMixin


class AlertSettingsView(AffiliateRequiredMixin, TemplateView):
    template_name = "alerts/settings.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            form=AlertEmailsForm(initial={"alert_emails": self.affiliate.alert_emails}),
            notices=notices_for(self.affiliate, now=timezone.now()),
            rules=rules,
            email_interval_hours=int(EMAIL_INTERVAL.total_seconds() // 3600),
            nav_section="settings",
            **kwargs,
        )

    def post(self, request):
        form = AlertEmailsForm(request.POST)
        form.is_valid()  # a checkbox: absent or anything else is off or on, never an error
        enabled = form.cleaned_data["alert_emails"]
        affiliate_update(affiliate=self.affiliate, alert_emails=enabled)
        messages.success(request, "Alert emails turned on." if enabled else "Alert emails turned off.")
        return redirect("alerts:settings")


class NoticeDismissView(AffiliateRequiredMixin, View):
    """Hides one of the affiliate's notices until its postback's next change; back to the page
    it was dismissed on. Another affiliate's notice is a 404."""

    http_method_names = ["post"]

    def post(self, request, pk):
        if not notice_dismiss(affiliate=self.affiliate, alert_id=pk):
            raise Http404("No such notice.")
        back = request.POST.get("next", "")
        if not back.startswith("/") or not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}
        ):
            back = "portal:dashboard"
        return redirect(back)
