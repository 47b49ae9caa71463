from django.contrib.admin.apps import AdminConfig


class NetworkAdminConfig(AdminConfig):
    """Django's admin, with config.admin_base.NetworkAdminSite as `admin.site`."""

    default_site = "config.admin_base.NetworkAdminSite"
