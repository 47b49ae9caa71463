import time

from celery import shared_task
from django.core.cache import cache

from tracking.store import click_flush_buffer

# When the last flush of the click buffer finished (Unix time): beat runs it every second, so an
# old value means beat, or every worker, has stopped (/metrics, ops.collector).
FLUSH_FINISHED_KEY = "tracking:click-flush-finished"


@shared_task(ignore_result=True)
def flush_click_buffer():
    """Run every second by beat; see tracking.buffer for the guarantees."""
    click_flush_buffer(max_seconds=5.0)
    cache.set(FLUSH_FINISHED_KEY, time.time(), timeout=None)
