from importlib import import_module

from celery import shared_task
from django.conf import settings


@shared_task
def clear_expired_sessions():
    """Portal logins leave session rows behind; beat removes the expired ones daily, as
    `manage.py clearsessions` does."""
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
