"""The Celery application: `celery -A config worker` and `celery -A config beat`.

Settings are read when Celery first needs them (the schedule is `CELERY_BEAT_SCHEDULE`), so
importing this package, as the gunicorn settings do, needs no configured environment."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
