from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User

admin.site.unregister(User)


@admin.register(User)
class LoginAdmin(UserAdmin):
    """Django's admin of logins (affiliates' and managers'). When a user last logged in and joined
    are records, not settings: shown as text, not as date and time boxes to edit."""

    readonly_fields = ["last_login", "date_joined"]
