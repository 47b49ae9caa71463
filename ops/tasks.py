import logging

from celery import shared_task

from ops.retention import retention_maintain

logger = logging.getLogger(__name__)


@shared_task
def maintain_partitions():
    """Beat's hour: the weeks ahead made, the rows past their retention removed. Not retried: the
    next hour's run takes up whatever this one left."""
    report = retention_maintain()
    for table, reason in report.skipped.items():
        logger.error("Maintenance of %s is left for the next run: %s", table, reason)
    if report.made or report.dropped or any(report.deleted.values()):
        logger.info(
            "Partitions made: %s; dropped: %s; rows deleted: %s", report.made, report.dropped, report.deleted
        )
