import sys
from datetime import date

from celery import shared_task
from celery.signals import worker_process_shutdown, worker_shutdown

from postbacks import backfill, sender, services

BACKFILL_SWITCH_INTERVAL = 0.0002


@shared_task(ignore_result=True)
def send_deliveries():
    """Wake this worker process's sender: it takes every due delivery (see postbacks.sender).
    Queued after each transaction that creates deliveries, and by beat every few seconds."""
    sender.process_sender().wake()


@worker_process_shutdown.connect
@worker_shutdown.connect
def _finish_in_flight_deliveries(**kwargs):
    sender.stop_process_sender()


@shared_task(ignore_result=True)
def backfill_postback(postback_id: int, date_from: str, date_to: str):
    """Make the deliveries of a backfill the affiliate asked for (postbacks.backfill)."""
    period = backfill.Period(date.fromisoformat(date_from), date.fromisoformat(date_to))
    # Making deliveries is CPU work in this process's main thread, while the process's sender
    # thread sends live deliveries: with the interpreter's default switch interval (5 ms) the
    # sender would wait that long for the GIL at each step of each request.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(BACKFILL_SWITCH_INTERVAL)
    try:
        services.postback_backfill_run(postback_id=postback_id, period=period)
    finally:
        sys.setswitchinterval(interval)
