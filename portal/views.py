"""The portal's own pages: the dashboard, the API key settings, and the password reset by
email."""

import re
from functools import cached_property

from axes.utils import reset as forget_login_failures
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import TemplateView

from api.models import ApiKey
from api.services import api_key_issue, api_key_revoke
from config.converters import RowIdConverter
from offers.access import offers_runnable_by
from offers.models import OfferAccess
from offers.selectors import offers_visible_to
from portal.access import AffiliateRequiredMixin
from portal.dashboard import dashboard_context
from portal.forms import ApiKeyForm, ConfirmForm
from portal.password_reset import reset_email_allowed_to, reset_email_send_later, reset_request_allowed_from
from tracking.client_ip import client_ip


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
            # The list's one-click form of old (a page still open in a tab): the key's
            # confirmation page, for one of the user's own keys only.
            pk = request.POST["revoke"]
            is_row_id = re.fullmatch(RowIdConverter.regex, pk) is not None
            if not is_row_id or not ApiKey.objects.filter(pk=pk, user=request.user).exists():
                raise Http404("No such API key.")
            return redirect("portal:api-key-revoke", pk=pk)
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


class ApiKeyRevokeView(AffiliateRequiredMixin, TemplateView):
    """Revoking one of the user's keys: a GET shows which key and what revoking it does, a POST
    with `confirm=yes` revokes it. Another user's key is a 404."""

    template_name = "portal/api_key_revoke.html"

    @cached_property
    def api_key(self) -> ApiKey:
        return get_object_or_404(ApiKey, pk=self.kwargs["pk"], user=self.request.user)

    def get_context_data(self, **kwargs):
        return super().get_context_data(api_key=self.api_key, nav_section="settings", **kwargs)

    def post(self, request, pk):
        api_key = self.api_key
        if not ConfirmForm(request.POST).is_valid():
            context = self.get_context_data(not_confirmed=True)
            return self.render_to_response(context, status=400)
        api_key_revoke(api_key=api_key)
        messages.success(request, f"Key {api_key.prefix}… revoked.")
        return redirect("portal:api-key")


class PasswordResetView(auth_views.PasswordResetView):
    """Django's "forgot password" form, within the limits of portal.password_reset. Every address,
    known or not, gets the same "check your email" page in the same time (a worker sends the
    email afterwards), so the form tells nobody who has an account; the link in the email is
    built from the address the user asked on (the request's host, which ALLOWED_HOSTS checks)."""

    def form_valid(self, form):
        # First: a host outside ALLOWED_HOSTS is refused (400) before anything is counted or sent.
        domain = self.request.get_host()
        ip = client_ip(self.request)
        if not reset_request_allowed_from(ip):
            form.add_error(None, "Too many password reset requests from your network. Try again in an hour.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        email = form.cleaned_data["email"]
        if reset_email_allowed_to(email, ip=ip):
            reset_email_send_later(email=email, domain=domain, use_https=self.request.is_secure())
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """The link from the email: a form for the new password. A link that is malformed, expired or
    already used answers 400 with a page that says so and offers a new one."""

    def render_to_response(self, context, **response_kwargs):
        if not self.validlink:
            response_kwargs.setdefault("status", 400)
        return super().render_to_response(context, **response_kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        # The failed logins that locked the user out were most likely the forgotten password:
        # with a new one they may log in at once rather than after LOGIN_COOLOFF_MINUTES.
        forget_login_failures(username=form.user.get_username())
        return response
