from celery import shared_task
from celery.signals import worker_process_shutdown, worker_shutdown

from postbacks import sender

SWEEP_CHUNK = 500


@shared_task(ignore_result=True)
def send_deliveries(ids: list[int]):
    """Hand deliveries to this worker process's sender; see postbacks.sender."""
    sender.process_sender().submit(ids)


@shared_task(ignore_result=True)
def sweep_deliveries():
    """Run by beat: hand out again every delivery that is due and not held by a sender."""
    ids = sender.due_ids()
    for start in range(0, len(ids), SWEEP_CHUNK):
        send_deliveries.delay(ids[start : start + SWEEP_CHUNK])


@worker_process_shutdown.connect
@worker_shutdown.connect
def _finish_in_flight_deliveries(**kwargs):
    sender.stop_process_sender()
