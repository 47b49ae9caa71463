"""How backfill deliveries are taken beside live ones: by a sender of their own, which takes a
backfill delivery a live one waits for ahead of its bound and then wakes the live senders; the
claims of live senders make no backfill query; and the bound on backfill requests in flight
holds across the backfill sender's claims."""

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from postbacks import outbound, queue, sender
from postbacks.models import Delivery
from tests.factories import ConversionFactory, DeliveryFactory, PostbackFactory
from tests.postbacks.test_backfill_end_to_end import HoldingServer
from tests.processes import wait_until

OK = outbound.Outcome(200, "", "ok", 5)


def backfill_one_a_live_one_waits_for(affiliate, *, backfill: dict | None = None, live: dict | None = None):
    """A backfill delivery (due, unless `backfill` says otherwise), and a live one of the same
    postback and conversion after it; `backfill` and `live` are further fields of each."""
    postback, conversion = PostbackFactory(affiliate=affiliate), ConversionFactory(affiliate=affiliate)
    waited_for = DeliveryFactory(
        affiliate=affiliate, postback=postback, conversion=conversion, is_backfill=True, **(backfill or {})
    )
    return waited_for, DeliveryFactory(
        affiliate=affiliate, postback=postback, conversion=conversion, **(live or {})
    )


def test_a_due_backfill_delivery_a_live_one_waits_for_is_taken_as_if_live(db, affiliate):
    long_ago = timezone.now() - timedelta(hours=1)
    older_backfill = [
        DeliveryFactory(affiliate=affiliate, is_backfill=True, next_attempt_at=long_ago) for _ in range(3)
    ]
    waited_for, live = backfill_one_a_live_one_waits_for(affiliate)

    rows = queue.claim(limit=10, live=False, backfill_limit=1)  # the backfill's sender

    # The live one keeps event order (it waits), but not the backfill's turn.
    assert [(row["pk"], row.get("waited_for")) for row in rows] == [
        (waited_for.pk, True),
        (older_backfill[0].pk, None),
    ]
    queue.record([(row, time.time(), OK) for row in rows])
    assert [row["pk"] for row in queue.claim(limit=1, backfill=False)] == [live.pk]


def test_a_backfill_delivery_a_live_one_waits_for_is_taken_when_the_backfills_room_is_spent(db, affiliate):
    waited_for, _ = backfill_one_a_live_one_waits_for(affiliate)
    DeliveryFactory(affiliate=affiliate, is_backfill=True)

    # The claim of a live sender woken by the sweep, and of the backfill's sender at its bound.
    assert [row["pk"] for row in queue.claim(limit=10, backfill_limit=0)] == [waited_for.pk]
    assert queue.claim(limit=10, backfill=False) == []


def test_live_deliveries_waiting_for_live_ones_do_not_hide_one_waiting_for_a_backfill(
    db, affiliate, monkeypatch
):
    monkeypatch.setattr(queue, "WAITING_LOOKED_AT", 2)
    long_ago = timezone.now() - timedelta(hours=1)
    for _ in range(3):  # each behind a live delivery waiting for its retry, due for an hour
        postback, conversion = PostbackFactory(affiliate=affiliate), ConversionFactory(affiliate=affiliate)
        DeliveryFactory(
            affiliate=affiliate,
            postback=postback,
            conversion=conversion,
            state=Delivery.State.RETRYING,
            next_attempt_at=timezone.now() + timedelta(minutes=5),
        )
        DeliveryFactory(
            affiliate=affiliate, postback=postback, conversion=conversion, next_attempt_at=long_ago
        )
    waited_for, _ = backfill_one_a_live_one_waits_for(affiliate)

    rows = queue.claim(limit=10, live=False, backfill_limit=0)

    assert [(row["pk"], row.get("waited_for")) for row in rows] == [(waited_for.pk, True)]


def test_a_backfill_delivery_a_live_one_waits_for_is_taken_once(db, affiliate):
    waited_for, _ = backfill_one_a_live_one_waits_for(affiliate)

    rows = queue.claim(limit=10, live=False, backfill_limit=5)

    assert [(row["pk"], row.get("waited_for")) for row in rows] == [(waited_for.pk, True)]


def test_a_backfill_delivery_waiting_for_its_retry_is_waited_for_like_a_live_one(db, affiliate):
    backfill_one_a_live_one_waits_for(
        affiliate,
        backfill={"state": Delivery.State.RETRYING, "next_attempt_at": timezone.now() + timedelta(minutes=5)},
    )

    assert queue.claim(limit=10, backfill_limit=5) == []


def test_a_claim_told_no_backfill_can_be_due_reads_only_the_live_deliveries(db, affiliate):
    DeliveryFactory(affiliate=affiliate, is_backfill=True)

    with CaptureQueriesContext(connection) as queries:
        assert queue.claim(limit=10, backfill=False) == []
    selects = [query["sql"] for query in queries if query["sql"].startswith('SELECT "')]
    assert len(selects) == 1 and 'NOT "postbacks_delivery"."is_backfill"' in selects[0]

    assert [row["is_backfill"] for row in queue.claim(limit=10, backfill_limit=5)] == [True]


def test_a_backfill_senders_claim_takes_no_live_delivery(db, affiliate):
    DeliveryFactory(affiliate=affiliate)
    backfilled = DeliveryFactory(affiliate=affiliate, is_backfill=True)

    assert [row["pk"] for row in queue.claim(limit=10, live=False, backfill_limit=5)] == [backfilled.pk]


def test_the_sweep_wakes_the_backfill_sender_in_its_own_queue():
    [entry] = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "postbacks.tasks.send_backfill_deliveries"
    ]
    assert entry["options"]["expires"] == settings.POSTBACK_SWEEP_SECONDS
    assert settings.CELERY_TASK_ROUTES["postbacks.tasks.send_backfill_deliveries"] == {"queue": "backfill"}
    assert settings.CELERY_TASK_ROUTES["postbacks.tasks.backfill_postback"] == {"queue": "backfill"}


@pytest.fixture
def holding_server():
    server = HoldingServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.release.set()
    server.shutdown()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_live_sender_leaves_backfill_deliveries_to_the_backfill_sender(affiliate, holding_server):
    holding_server.release.set()
    live_sender, backfill_sender = sender.Sender(), sender.Sender(backfill=True)
    try:
        backfill_sender.wake()  # finds nothing: stops looking until woken
        assert wait_until(lambda: not backfill_sender._backfill_may_be_due, timeout=5)
        backfilled = DeliveryFactory(
            affiliate=affiliate, is_backfill=True, url=holding_server.url("/old"), host="127.0.0.1"
        )
        live = DeliveryFactory(affiliate=affiliate, url=holding_server.url("/live"), host="127.0.0.1")

        live_sender.wake()
        assert wait_until(lambda: Delivery.objects.get(pk=live.pk).state == "succeeded", timeout=5)
        time.sleep(0.2)
        assert Delivery.objects.get(pk=backfilled.pk).state == "pending"

        backfill_sender.wake()
        assert wait_until(lambda: Delivery.objects.get(pk=backfilled.pk).state == "succeeded", timeout=5)
        assert holding_server.paths == ["/live", "/old"]
    finally:
        live_sender.stop()
        backfill_sender.stop()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_bound_on_backfill_requests_in_flight_holds_across_claims(affiliate, holding_server, monkeypatch):
    # Claims of two deliveries each: the sender claims again at once, before the requests of the
    # first claim have started.
    monkeypatch.setattr(queue, "CLAIM_BATCH", 2)
    monkeypatch.setattr(sender, "BACKFILL_IN_FLIGHT", 3)
    monkeypatch.setattr(sender, "BACKFILL_CLAIM_AT", 1)
    for n in range(8):
        DeliveryFactory(
            affiliate=affiliate, is_backfill=True, url=holding_server.url(f"/old?n={n}"), host="127.0.0.1"
        )
    the_sender = sender.Sender(backfill=True)
    try:
        the_sender.wake()
        assert wait_until(lambda: len(holding_server.paths) >= 3, timeout=5)
        time.sleep(0.3)
        assert len(holding_server.paths) == 3
        holding_server.release.set()
        assert wait_until(lambda: Delivery.objects.filter(state="succeeded").count() == 8, timeout=15)
    finally:
        the_sender.stop()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_without_the_backfills_worker_the_sweep_sends_a_backfill_delivery_a_live_one_waits_for(
    affiliate, holding_server
):
    holding_server.release.set()
    _, live = backfill_one_a_live_one_waits_for(
        affiliate,
        backfill={"url": holding_server.url("/old"), "host": "127.0.0.1"},
        live={"url": holding_server.url("/live")},
    )
    live_sender = sender.Sender()
    try:
        live_sender.wake()  # after a commit: live deliveries only, and this one waits
        time.sleep(0.3)
        assert holding_server.paths == []

        live_sender.wake(waited_for=True)  # the sweep
        assert wait_until(lambda: Delivery.objects.get(pk=live.pk).state == "succeeded", timeout=5)
        assert holding_server.paths == ["/old", "/live"]
    finally:
        live_sender.stop()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_live_delivery_made_while_its_backfill_one_is_sent_goes_out_once_that_one_is_done(
    affiliate, holding_server
):
    postback, conversion = PostbackFactory(affiliate=affiliate), ConversionFactory(affiliate=affiliate)
    backfilled = DeliveryFactory(
        affiliate=affiliate,
        postback=postback,
        conversion=conversion,
        is_backfill=True,
        url=holding_server.url("/old"),
        host="127.0.0.1",
    )
    live_sender = sender.Sender()
    backfill_sender = sender.Sender(backfill=True, wake_live=live_sender.wake)
    try:
        backfill_sender.wake()
        assert wait_until(lambda: holding_server.paths == ["/old"], timeout=5)
        live = DeliveryFactory(
            affiliate=affiliate,
            postback=postback,
            conversion=conversion,
            url=holding_server.url("/live"),
            host="127.0.0.1",
        )
        live_sender.wake()  # the live one waits for the backfill one (event order)
        time.sleep(0.2)
        assert holding_server.paths == ["/old"]

        # Once the backfill one is recorded, its sender wakes the live senders: no sweep needed.
        holding_server.release.set()
        assert wait_until(lambda: Delivery.objects.get(pk=live.pk).state == "succeeded", timeout=3)
        assert Delivery.objects.get(pk=backfilled.pk).state == "succeeded"
        assert holding_server.paths == ["/old", "/live"]
    finally:
        live_sender.stop()
        backfill_sender.stop()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_backfill_delivery_a_live_one_waits_for_goes_out_ahead_of_the_backfill_and_wakes_the_live_senders(
    affiliate, holding_server, monkeypatch
):
    monkeypatch.setattr(sender, "BACKFILL_IN_FLIGHT", 2)
    monkeypatch.setattr(sender, "BACKFILL_CLAIM_AT", 1)
    for n in range(2):
        DeliveryFactory(
            affiliate=affiliate, is_backfill=True, url=holding_server.url(f"/old?n={n}"), host="127.0.0.1"
        )
    live_sender = sender.Sender()
    backfill_sender = sender.Sender(backfill=True, wake_live=live_sender.wake)
    try:
        backfill_sender.wake()
        # The backfill's bound is spent on requests the server holds.
        assert wait_until(lambda: len(holding_server.paths) == 2, timeout=5)
        _, live = backfill_one_a_live_one_waits_for(
            affiliate,
            # "/live...": answered at once
            backfill={"url": holding_server.url("/live-waits-for-this"), "host": "127.0.0.1"},
            live={"url": holding_server.url("/live"), "host": "127.0.0.1"},
        )
        live_sender.wake()  # finds nothing it may take yet (event order)

        assert wait_until(lambda: Delivery.objects.get(pk=live.pk).state == "succeeded", timeout=5)
        assert holding_server.paths[2:] == ["/live-waits-for-this", "/live"]
    finally:
        holding_server.release.set()
        live_sender.stop()
        backfill_sender.stop()
