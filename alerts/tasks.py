from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from alerts.services import alert_emails_send, alerts_evaluate

# A run that outlasts its minute (a slow mail server) is not overlapped by the next one where the
# cache is shared (Redis): that saves evaluating twice. No email depends on it: each is claimed in
# the database (alerts.services.alert_emails_send), so runs that overlap (processes with a cache of
# their own each) never send one twice. A run killed midway frees the lock after this many seconds.
RUN_LOCK_SECONDS = 10 * 60


@shared_task
def evaluate_alerts():
    """Beat's minute: the alerts brought up to date, then the emails due sent. Not retried: the
    next minute's run does it again, and an email not sent stays due."""
    if not cache.add("alerts:evaluating", 1, timeout=RUN_LOCK_SECONDS):
        return
    try:
        now = timezone.now()
        alerts_evaluate(now=now)
        alert_emails_send(now=now)
    finally:
        cache.delete("alerts:evaluating")
