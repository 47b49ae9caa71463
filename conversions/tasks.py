from celery import shared_task

from conversions.lifecycle import conversion_approve_expired_holds


@shared_task(ignore_result=True)
def approve_expired_holds():
    conversion_approve_expired_holds()
