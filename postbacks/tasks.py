from datetime import date

from celery import shared_task
from celery.signals import worker_process_shutdown, worker_shutdown

from postbacks import backfill, sender, services


@shared_task(ignore_result=True)
def send_deliveries(backfill: bool = False):
    """Wake this worker process's sender: it takes every due delivery (see postbacks.sender).
    Queued after each transaction that creates deliveries, and by beat every few seconds.
    `backfill`: backfill deliveries may be due too (a backfill made some, deliveries were sent
    again, or the sweep); only then does the sender look for them."""
    sender.process_sender().wake(backfill=backfill)


@worker_process_shutdown.connect
@worker_shutdown.connect
def _finish_in_flight_deliveries(**kwargs):
    sender.stop_process_sender()


@shared_task(ignore_result=True)
def backfill_postback(postback_id: int, date_from: str, date_to: str):
    """Make the deliveries of a backfill the affiliate asked for (postbacks.backfill). Routed to
    the `backfill` queue (config.settings CELERY_TASK_ROUTES): making them is CPU work, which a
    worker process of its own does without slowing the senders of live deliveries."""
    period = backfill.Period(date.fromisoformat(date_from), date.fromisoformat(date_to))
    services.postback_backfill_run(postback_id=postback_id, period=period)
