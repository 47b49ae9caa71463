"""Beat's minute (`alerts.tasks.evaluate_alerts`, in CELERY_BEAT_SCHEDULE) run by a real worker
from the broker: the alert is evaluated and its email sent through the configured backend (the
console's, which prints it)."""

import pytest
from django.conf import settings

from alerts.models import PostbackAlert
from alerts.tasks import evaluate_alerts
from tests.alerts.conftest import FAILED, deliver
from tests.factories import PostbackFactory
from tests.processes import celery, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_beat_evaluates_alerts_every_minute():
    [entry] = [
        entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == evaluate_alerts.name
    ]
    assert entry["schedule"] == 60


def test_a_real_worker_evaluates_the_alerts_and_sends_the_email(affiliate):
    postback = PostbackFactory(affiliate=affiliate)
    deliver(postback, FAILED, times=5)
    console = {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}

    with celery("worker", "--pool=solo", "--loglevel=INFO", ready_line="ready.", env=console) as worker:
        evaluate_alerts.delay()
        assert wait_until(
            lambda: PostbackAlert.objects.filter(postback=postback, emailed_at__isnull=False).exists()
        )
        assert wait_until(lambda: "Subject: Your postback is failing: global postback\n" in worker.output)

    alert = PostbackAlert.objects.get(postback=postback)
    assert (alert.state, alert.emailed_state, alert.email_due) == ("failing", "failing", False)
