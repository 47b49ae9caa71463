"""The bases every API endpoint builds on, so that access rules live in one place."""

from functools import cached_property

from api.permissions import IsAffiliate, IsManager
from offers.selectors import affiliate_of


class AffiliateViewSetMixin:
    """For partner endpoints: only an active affiliate's key gets in, and every query is scoped
    to that affiliate, so another affiliate's object is simply not found (404).

    Subclasses name the path from their model to the affiliate in `affiliate_field`, or override
    `scoped_queryset` when visibility is more than ownership.
    """

    permission_classes = [IsAffiliate]
    affiliate_field = "affiliate"

    @cached_property
    def affiliate(self):
        return affiliate_of(self.request.user)

    def scoped_queryset(self, queryset):
        return queryset.filter(**{self.affiliate_field: self.affiliate})

    def get_queryset(self):
        return self.scoped_queryset(super().get_queryset())


class ManagerViewSetMixin:
    """For /manage/ endpoints: staff keys only."""

    permission_classes = [IsManager]
