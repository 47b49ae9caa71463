from django.contrib import admin, messages

from api.models import ApiKey
from api.services import api_key_revoke
from config.admin_confirmation import Column, confirmation_page, confirmed


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    list_select_related = ["user"]
    search_fields = ["prefix", "user__username"]
    fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request):
        # A key is only useful when its holder sees it once: issue keys with `manage.py api_key`
        # or from the affiliate's settings page.
        return False

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        """Revoke the keys once the confirmation page has sent `post=yes`: a revoked key cannot
        be brought back, and whatever used it stops working."""
        keys = queryset.select_related("user")
        if not confirmed(request):
            return self._revoke_confirmation(request, keys)
        revoking = [api_key for api_key in keys if api_key.revoked_at is None]
        for api_key in revoking:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"{len(revoking)} key(s) revoked.", messages.SUCCESS)

    def _revoke_confirmation(self, request, keys):
        count = keys.count()
        revoked = keys.filter(revoked_at__isnull=False).count()
        effects = [
            f"{count - revoked} of the {count} selected key(s) will be revoked: the API refuses them from "
            "now on (401), for good. Whatever uses them stops working until its owner issues a new key "
            "(Settings > API key in the portal, or the api_key management command)."
        ]
        if revoked:
            effects.append(f"{revoked} of them already revoked: nothing changes for them.")
        return confirmation_page(
            self,
            request,
            keys,
            title=f"Revoke {count - revoked} API key(s)?",
            effects=effects,
            button=f"Yes, revoke {count - revoked} key(s)",
            columns=[
                Column("Key", lambda api_key: f"{api_key.prefix}…"),
                Column("User", lambda api_key: api_key.user),
                Column("Name", lambda api_key: api_key.name or "–"),
                Column("Last used", lambda api_key: _moment(api_key.last_used_at, "never")),
                Column("Revoked", lambda api_key: _moment(api_key.revoked_at, "no")),
            ],
        )


def _moment(moment, otherwise: str) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else otherwise
