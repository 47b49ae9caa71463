from celery import shared_task
from django.contrib.sessions.models import Session
from django.utils import timezone


@shared_task
def clear_expired_sessions():
    """Portal logins leave session rows behind; beat removes the expired ones daily."""
    Session.objects.filter(expire_date__lt=timezone.now()).delete()
