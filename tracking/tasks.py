from celery import shared_task

from tracking.store import click_flush_buffer


@shared_task(ignore_result=True)
def flush_click_buffer():
    """Run every second by beat; see tracking.buffer for the guarantees."""
    click_flush_buffer(max_seconds=5.0)
