"""Recording results at the edges of two rules: a postback is disabled by failures of its own
deliveries only (README, "A postback that keeps failing"), and an attempt is logged at the
instant it started, whatever local time the worker's process keeps.

Results are recorded by `queue.record`, the function a worker's sender calls, for deliveries
taken by `queue.claim`, on the real database."""

import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from postbacks import queue
from postbacks.models import Postback
from postbacks.outbound import Outcome
from tests.factories import DeliveryFactory, PostbackFactory

pytestmark = pytest.mark.django_db

FAILED_500 = Outcome(500, "HTTP 500: a postback needs a 2xx answer", "busy", 40)


def claimed(delivery) -> dict:
    [row] = queue.claim([delivery.pk])
    return row


def test_a_postback_long_failing_is_not_disabled_by_another_postbacks_failure(affiliate, settings):
    """Its streak is old enough, but no delivery of it failed now: only a failure of its own, when
    it is next sent, may disable it, with that failure as its last error."""
    idle = PostbackFactory(affiliate=affiliate)
    Postback.objects.filter(pk=idle.pk).update(
        failing_since=timezone.now() - timedelta(days=settings.POSTBACK_DISABLE_AFTER_DAYS + 5)
    )
    failing = PostbackFactory(affiliate=affiliate)

    queue.record([(claimed(DeliveryFactory(affiliate=affiliate, postback=failing)), 0.0, FAILED_500)])

    idle.refresh_from_db()
    failing.refresh_from_db()
    assert (idle.enabled, idle.disabled_reason) == (True, "")
    assert failing.enabled and failing.failing_since is not None


@pytest.fixture
def local_time_far_from_utc():
    """The process keeps local time in a zone ten hours from UTC."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Honolulu"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.mark.usefixtures("local_time_far_from_utc")
def test_an_attempt_is_logged_at_the_instant_it_started_whatever_the_local_time(affiliate):
    delivery = DeliveryFactory(affiliate=affiliate)
    started = datetime.now(UTC).replace(microsecond=0)

    queue.record([(claimed(delivery), started.timestamp(), Outcome(200, "", "ok", 5))])

    assert delivery.attempt_log.get().started_at == started
