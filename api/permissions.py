from rest_framework import permissions

from offers.selectors import affiliate_of


class IsAffiliate(permissions.BasePermission):
    message = "This key does not belong to an active affiliate."

    def has_permission(self, request, view):
        affiliate = affiliate_of(request.user)
        return affiliate is not None and affiliate.is_active


class IsManager(permissions.BasePermission):
    message = "Manager endpoints need a staff user's key."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_active and request.user.is_staff)
