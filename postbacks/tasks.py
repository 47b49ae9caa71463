from datetime import date

from celery import shared_task
from celery.signals import worker_process_shutdown, worker_shutdown

from postbacks import backfill, sender, services


@shared_task(ignore_result=True)
def send_deliveries(backfill: bool = False):
    """Wake this worker process's live sender: it takes every due live delivery (see
    postbacks.sender). Queued after each transaction that creates deliveries, and by beat every
    few seconds with `backfill`: the sweep also takes the due backfill deliveries live ones wait
    for (event order), whether or not the backfill's worker runs."""
    sender.process_sender().wake(waited_for=backfill)


@shared_task(ignore_result=True)
def send_backfill_deliveries():
    """Wake the backfill's sender of this process (routed to the `backfill` queue, config.settings
    CELERY_TASK_ROUTES): after a delivery of a backfill is sent again, and by beat."""
    _backfill_sender().wake()


def _backfill_sender():
    return sender.process_sender(backfill=True, wake_live=services.wake_senders)


@worker_process_shutdown.connect
@worker_shutdown.connect
def _finish_in_flight_deliveries(**kwargs):
    sender.stop_process_senders()


@shared_task(ignore_result=True)
def backfill_postback(postback_id: int, date_from: str, date_to: str):
    """Make the deliveries of a backfill the affiliate asked for (postbacks.backfill). Routed to
    the `backfill` queue (config.settings CELERY_TASK_ROUTES): making them is CPU work, which a
    worker process of its own does without slowing the senders of live deliveries."""
    period = backfill.Period(date.fromisoformat(date_from), date.fromisoformat(date_to))
    # This process's sender sends what it makes, as it makes it: woken directly, since the
    # process takes no message from its queue until the task ends.
    services.postback_backfill_run(postback_id=postback_id, period=period, made_some=_backfill_sender().wake)
