"""The Celery application: `celery -A config worker` and `celery -A config beat`.

Settings are read when Celery first needs them (the schedule is `CELERY_BEAT_SCHEDULE`), so
importing this package, as the gunicorn settings do, needs no configured environment."""

import os

from celery import Celery
from celery.signals import worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_shutdown.connect
def _forget_live_gauges(pid=None, **kwargs):
    """A worker process that stops takes its live gauges out of /metrics (postbacks in flight,
    config/metrics.py); its counters stay in the sums."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
