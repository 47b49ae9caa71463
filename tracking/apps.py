from django.apps import AppConfig
from django.core import checks


class TrackingConfig(AppConfig):
    name = "tracking"

    def ready(self):
        checks.register(_geoip_database_readable)


def _geoip_database_readable(app_configs, **kwargs):
    """A GEOIP_PATH that cannot be read is a deployment error, reported when the process starts
    rather than on the first click."""
    from tracking.visitor import database_problem

    problem = database_problem()
    return [checks.Error(problem, id="tracking.E001")] if problem else []
