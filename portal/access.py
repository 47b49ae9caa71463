"""The portal's one access rule: pages are for logged-in users with an active affiliate account."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from offers.selectors import affiliate_of


class AffiliateRequiredMixin(LoginRequiredMixin):
    """Sets `self.affiliate`. Managers without an affiliate account are sent to the admin panel."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.affiliate = affiliate_of(request.user)
        if self.affiliate is None and request.user.is_staff:
            return redirect("admin:index")
        if self.affiliate is None:
            raise PermissionDenied("This page is for affiliates. Managers work in the admin panel.")
        if not self.affiliate.is_active:
            raise PermissionDenied("Your affiliate account is blocked. Contact your manager.")
        return super().dispatch(request, *args, **kwargs)
