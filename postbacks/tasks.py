from celery import shared_task
from celery.signals import worker_process_shutdown, worker_shutdown

from postbacks import sender


@shared_task(ignore_result=True)
def send_deliveries():
    """Wake this worker process's sender: it takes every due delivery (see postbacks.sender).
    Queued after each transaction that creates deliveries, and by beat every few seconds."""
    sender.process_sender().wake()


@worker_process_shutdown.connect
@worker_shutdown.connect
def _finish_in_flight_deliveries(**kwargs):
    sender.stop_process_sender()
