from django.apps import AppConfig


class ManagerConfig(AppConfig):
    name = "manager"
    verbose_name = "Manager console"
