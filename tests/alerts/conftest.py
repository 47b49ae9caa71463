"""Postbacks made to fail or succeed through the path a worker's sender records results by
(`postbacks.queue.record` of deliveries taken by `queue.claim`), so that `failing_since`, the
attempt log and disabling are the platform's own."""

import time

import pytest

from postbacks import queue
from postbacks.outbound import Outcome
from tests.factories import DeliveryFactory

FAILED = Outcome(0, "Could not connect: [Errno 111] Connect call failed ('203.0.113.7', 443)", "", 3)
SUCCEEDED = Outcome(200, "", "ok", 5)


def deliver(postback, outcome: Outcome, *, times: int = 1, started: float | None = None) -> None:
    """`times` deliveries of `postback`, each sent once with `outcome`."""
    for _ in range(times):
        delivery = DeliveryFactory(affiliate=postback.affiliate, postback=postback)
        [row] = queue.claim([delivery.pk])
        queue.record([(row, time.time() if started is None else started, outcome)])


@pytest.fixture
def mailbox(settings):
    """Django's in-memory email backend (the test runner's default), named here so that a test
    reads as sending to it."""
    from django.core import mail

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox.clear()
    return mail.outbox
