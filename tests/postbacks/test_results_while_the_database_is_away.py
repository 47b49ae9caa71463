"""Results of sent deliveries while the database takes no writes (unreachable, its connection
broken, a lock it cannot get in time): nothing is recorded as failed, nothing is dropped, and the
results are recorded once the database takes writes again."""

import contextlib
import logging
import threading

import pytest
from django.db import DatabaseError, connection, connections, transaction

from postbacks import queue
from postbacks.models import Delivery
from postbacks.outbound import Outcome
from tests.conftest import database_unreachable
from tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db(transaction=True)


def sent(affiliate, count=2):
    deliveries = [DeliveryFactory(affiliate=affiliate) for _ in range(count)]
    rows = queue.claim([delivery.pk for delivery in deliveries])
    return deliveries, [(row, 0.0, Outcome(200, "", f"ok {row['pk']}", 5)) for row in rows]


def states(deliveries):
    for delivery in deliveries:
        delivery.refresh_from_db()
    return [(delivery.state, delivery.attempts) for delivery in deliveries]


def test_recording_while_the_database_is_unreachable_says_so_and_gives_every_result_back(affiliate):
    deliveries, results = sent(affiliate)

    with database_unreachable(), pytest.raises(queue.DatabaseUnavailable) as raised:
        queue.record(results)

    assert raised.value.unrecorded == results
    assert str(raised.value) == "the database takes no writes now: 2 results not recorded"
    assert states(deliveries) == [("pending", 0)] * 2


def test_a_sender_keeps_its_results_until_the_database_is_back(affiliate, caplog):
    deliveries, results = sent(affiliate)

    with database_unreachable(), caplog.at_level(logging.WARNING, logger="postbacks.queue"):
        assert queue.record_or_keep(results) == results
    assert "Postback sender: the database takes no writes, 2 results kept" in caplog.messages

    assert queue.record_or_keep(results) == []
    assert states(deliveries) == [("succeeded", 1)] * 2


def test_results_are_recorded_on_a_new_connection_after_the_old_one_broke(affiliate):
    deliveries, results = sent(affiliate)
    with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    assert queue.record_or_keep(results) == results  # the broken connection is given up
    assert queue.record_or_keep(results) == []
    assert states(deliveries) == [("succeeded", 1)] * 2
    assert [delivery.attempt_log.count() for delivery in deliveries] == [1, 1]


def test_when_writes_stop_while_results_are_recorded_one_by_one_the_rest_are_kept(affiliate, settings):
    """The batch is refused for what one row holds; recording the others one by one, the
    database stops taking writes (here: a lock it cannot get in time): what was recorded stays,
    the rest is given back."""
    refused = DeliveryFactory(affiliate=affiliate, attempts=len(settings.POSTBACK_RETRY_SCHEDULE))
    recorded, locked = DeliveryFactory(affiliate=affiliate), DeliveryFactory(affiliate=affiliate)
    rows = {row["pk"]: row for row in queue.claim([refused.pk, recorded.pk, locked.pk])}
    results = [
        (rows[refused.pk], 0.0, Outcome(70_000, "", "", 5)),  # no column holds that status
        (rows[recorded.pk], 0.0, Outcome(200, "", "first", 5)),
        (rows[locked.pk], 0.0, Outcome(200, "", "second", 5)),
    ]
    holding, release = threading.Event(), threading.Event()

    def another_transaction():
        try:
            with transaction.atomic():
                list(Delivery.objects.select_for_update().filter(pk=locked.pk))
                holding.set()
                release.wait(timeout=20)
        finally:
            connections.close_all()

    thread = threading.Thread(target=another_transaction)
    thread.start()
    try:
        assert holding.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '300ms'")
        with pytest.raises(queue.DatabaseUnavailable) as raised:
            queue.record(results)
    finally:
        release.set()
        thread.join()
        connection.close()

    assert raised.value.unrecorded == results[2:]
    assert states([refused, recorded, locked]) == [("failed", 11), ("succeeded", 1), ("pending", 0)]
    assert refused.error == "The answer (HTTP 70000) could not be stored: DataError"
    assert recorded.response_excerpt == "first"
