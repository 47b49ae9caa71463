"""The Celery application: `celery -A config worker` and `celery -A config beat`."""

import os

from celery import Celery
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Expiring runs do not pile up in the broker while no worker is there to take them.
    "flush-click-buffer": {
        "task": "tracking.tasks.flush_click_buffer",
        "schedule": 1.0,
        "options": {"expires": 5},
    },
    "wake-postback-senders": {
        "task": "postbacks.tasks.send_deliveries",
        "schedule": settings.POSTBACK_SWEEP_SECONDS,
        "options": {"expires": settings.POSTBACK_SWEEP_SECONDS},
    },
    "approve-expired-holds": {"task": "conversions.tasks.approve_expired_holds", "schedule": 600},
    "clear-expired-sessions": {"task": "portal.tasks.clear_expired_sessions", "schedule": 24 * 60 * 60},
}
