"""`/healthz` for load balancers and orchestrators: 200 when the database and the broker answer."""

import logging

from django.http import JsonResponse
from django.views.decorators.http import require_safe

from config import db
from config.celery import app as celery_app

logger = logging.getLogger(__name__)


def _broker_reachable():
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=3)


CHECKS = {"database": db.ping, "broker": _broker_reachable}


# HEAD answers like GET, without the body (the server leaves it out): some load balancers check with HEAD.
@require_safe
def healthz(request):
    unreachable = []
    for name, check in CHECKS.items():
        try:
            check()
        except Exception:
            # The details stay in the log: this endpoint is public.
            logger.exception("Health check failed: %s unreachable", name)
            unreachable.append(name)
    if unreachable:
        message = " and ".join(unreachable) + " unreachable"
        return JsonResponse(
            {"status": "unavailable", "message": message, "unreachable": unreachable}, status=503
        )
    return JsonResponse({"status": "ok"})
