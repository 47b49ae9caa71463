from datetime import datetime
from importlib import import_module

from celery import shared_task
from django.conf import settings

from portal.password_reset import reset_email_send


@shared_task
def clear_expired_sessions():
    """Portal logins leave session rows behind; beat removes the expired ones daily, as
    `manage.py clearsessions` does."""
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()


@shared_task
def send_password_reset_email(*, email: str, domain: str, use_https: bool, asked_at: str):
    """The reset email, sent after the form has answered (portal.password_reset). Not retried: an
    email that could not be sent is logged, and the user may ask again."""
    reset_email_send(
        email=email, domain=domain, use_https=use_https, asked_at=datetime.fromisoformat(asked_at)
    )
