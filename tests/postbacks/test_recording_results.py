"""What recording a result does to a delivery, its attempt log and its postback, row by row of the
rules: success, a retry, the last retry, a test conversion, results under different leases, and
the failing streak that disables a postback.

Results are recorded by `queue.record`, the function a worker's sender calls, for deliveries
taken by `queue.claim`, on the real database."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from postbacks import queue
from postbacks.models import Delivery, Postback
from postbacks.outbound import Outcome
from tests.factories import ConversionFactory, DeliveryFactory, PostbackFactory

pytestmark = pytest.mark.django_db

FAILED_500 = Outcome(500, "HTTP 500: a postback needs a 2xx answer", "busy", 40)
OK_200 = Outcome(200, "", "ok", 12)


def claimed(delivery) -> dict:
    [row] = queue.claim([delivery.pk])
    return row


def record(*results):
    queue.record(list(results))


def fresh(delivery) -> Delivery:
    delivery.refresh_from_db()
    return delivery


def test_a_success_keeps_the_answer_and_ends_the_delivery(affiliate):
    delivery = DeliveryFactory(affiliate=affiliate, url="http://127.0.0.1:9/pb?c=é")
    started = timezone.now().timestamp() - 2.5
    before = timezone.now()

    record((claimed(delivery), started, Outcome(200, "", "accepted", 75)))

    delivery = fresh(delivery)
    assert (delivery.state, delivery.http_code, delivery.error, delivery.response_excerpt) == (
        "succeeded",
        200,
        "",
        "accepted",
    )
    assert (delivery.attempts, delivery.next_attempt_at, delivery.locked_until) == (1, None, None)
    assert before <= delivery.delivered_at <= timezone.now()
    attempt = delivery.attempt_log.get()
    assert abs((attempt.started_at - datetime.fromtimestamp(started, tz=UTC)).total_seconds()) < 0.001
    assert (attempt.url, attempt.http_code, attempt.error, attempt.duration_ms, attempt.response_excerpt) == (
        "http://127.0.0.1:9/pb?c=%C3%A9",
        200,
        "",
        75,
        "accepted",
    )


def test_a_failure_before_the_last_attempt_waits_for_the_next_step_of_the_schedule(affiliate, settings):
    schedule = settings.POSTBACK_RETRY_SCHEDULE
    delivery = DeliveryFactory(affiliate=affiliate, attempts=len(schedule) - 1)
    before = timezone.now()

    record((claimed(delivery), 0.0, FAILED_500))

    delivery = fresh(delivery)
    assert (delivery.state, delivery.attempts, delivery.http_code) == ("retrying", len(schedule), 500)
    assert (delivery.error, delivery.response_excerpt) == (FAILED_500.error, "busy")
    assert (delivery.locked_until, delivery.delivered_at) == (None, None)
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 0.8 * schedule[-1] - 1 <= wait <= 1.2 * schedule[-1] + 1


def test_the_last_attempt_failing_fails_the_delivery_for_good(affiliate, settings):
    delivery = DeliveryFactory(affiliate=affiliate, attempts=len(settings.POSTBACK_RETRY_SCHEDULE))

    record((claimed(delivery), 0.0, FAILED_500))

    delivery = fresh(delivery)
    assert (delivery.state, delivery.next_attempt_at, delivery.delivered_at, delivery.locked_until) == (
        "failed",
        None,
        None,
        None,
    )
    assert (delivery.http_code, delivery.error, delivery.response_excerpt) == (500, FAILED_500.error, "busy")


def test_a_retry_after_of_the_endpoint_sets_the_next_attempt(affiliate):
    delivery = DeliveryFactory(affiliate=affiliate)
    before = timezone.now()

    record((claimed(delivery), 0.0, Outcome(503, "HTTP 503: busy", "", 10, "300")))

    delivery = fresh(delivery)
    assert delivery.state == "retrying"
    assert 299 <= (delivery.next_attempt_at - before).total_seconds() <= 302


def test_a_test_conversion_is_tried_once_and_leaves_its_postback_alone(affiliate):
    postback = PostbackFactory(affiliate=affiliate)
    conversion = ConversionFactory(affiliate=affiliate, is_test=True)
    delivery = DeliveryFactory(affiliate=affiliate, postback=postback, conversion=conversion)

    record((claimed(delivery), 0.0, FAILED_500))

    delivery = fresh(delivery)
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("failed", 1, None)
    postback.refresh_from_db()
    assert (postback.enabled, postback.failing_since) == (True, None)


def test_a_backfill_delivery_leaves_its_postbacks_health_alone(affiliate):
    """A tracker may refuse a backfill's old click ids while it takes today's."""
    postback = PostbackFactory(affiliate=affiliate)
    delivery = DeliveryFactory(affiliate=affiliate, postback=postback, is_backfill=True)

    record((claimed(delivery), 0.0, FAILED_500))

    assert fresh(delivery).state == "retrying"
    postback.refresh_from_db()
    assert (postback.enabled, postback.failing_since) == (True, None)


def test_results_alike_are_each_recorded_under_their_own_lease(affiliate):
    first = DeliveryFactory(affiliate=affiliate)
    first_row = claimed(first)
    second = DeliveryFactory(affiliate=affiliate)
    second_row = claimed(second)
    assert first_row["lease"] != second_row["lease"]

    ok = Outcome(200, "", "ok", 5)
    record((first_row, 0.0, ok), (second_row, 0.0, ok))

    assert [fresh(delivery).state for delivery in (first, second)] == ["succeeded", "succeeded"]


def test_each_success_keeps_its_own_answer(affiliate):
    deliveries = [DeliveryFactory(affiliate=affiliate) for _ in range(3)]
    rows = {row["pk"]: row for row in queue.claim([delivery.pk for delivery in deliveries])}

    record(
        *[(rows[delivery.pk], 0.0, Outcome(200, "", f"id={n}", 5)) for n, delivery in enumerate(deliveries)]
    )

    assert [fresh(delivery).response_excerpt for delivery in deliveries] == ["id=0", "id=1", "id=2"]
    assert [delivery.attempt_log.get().response_excerpt for delivery in deliveries] == [
        "id=0",
        "id=1",
        "id=2",
    ]


def test_a_result_refused_by_the_database_is_logged_without_the_answer_it_could_not_store(affiliate, caplog):
    delivery = DeliveryFactory(affiliate=affiliate)

    with caplog.at_level(logging.ERROR, logger="postbacks.queue"):
        record((claimed(delivery), 0.0, Outcome(70_000, "", "the answer", 5)))

    delivery = fresh(delivery)
    assert (delivery.state, delivery.http_code, delivery.response_excerpt) == ("retrying", 0, "")
    assert delivery.error == "The answer (HTTP 70000) could not be stored: DataError"
    assert delivery.attempt_log.get().response_excerpt == ""
    assert "Postback sender: 1 results refused as a batch; recording them one by one" in caplog.messages
    assert f"Postback sender: the answer to delivery {delivery.pk} could not be stored" in caplog.messages


def test_a_retry_in_a_batch_does_not_hold_back_the_results_after_it(affiliate):
    retried, succeeded, failed = (DeliveryFactory(affiliate=affiliate) for _ in range(3))
    Delivery.objects.filter(pk=failed.pk).update(attempts=10)
    rows = {row["pk"]: row for row in queue.claim([retried.pk, succeeded.pk, failed.pk])}

    record(
        (rows[retried.pk], 0.0, FAILED_500),
        (rows[succeeded.pk], 0.0, Outcome(200, "", "ok", 5)),
        (rows[failed.pk], 0.0, FAILED_500),
    )

    assert [(fresh(d).state, d.attempts) for d in (retried, succeeded, failed)] == [
        ("retrying", 1),
        ("succeeded", 1),
        ("failed", 11),
    ]


# --- The failing streak of a postback ---------------------------------------------------------


def failing_for(postback, age: timedelta):
    Postback.objects.filter(pk=postback.pk).update(failing_since=timezone.now() - age)


def test_a_success_and_a_failure_of_one_postback_in_one_batch_end_its_streak(affiliate):
    postback = PostbackFactory(affiliate=affiliate)
    failing_for(postback, timedelta(days=5))
    ok, failed = (DeliveryFactory(affiliate=affiliate, postback=postback) for _ in range(2))
    rows = {row["pk"]: row for row in queue.claim([ok.pk, failed.pk])}

    record((rows[ok.pk], 0.0, Outcome(200, "", "", 5)), (rows[failed.pk], 0.0, FAILED_500))

    postback.refresh_from_db()
    assert (postback.enabled, postback.failing_since) == (True, None)


def test_a_new_failure_does_not_restart_a_streak(affiliate):
    postback = PostbackFactory(affiliate=affiliate)
    failing_for(postback, timedelta(days=1))
    since = Postback.objects.get(pk=postback.pk).failing_since

    record((claimed(DeliveryFactory(affiliate=affiliate, postback=postback)), 0.0, FAILED_500))

    postback.refresh_from_db()
    assert (postback.enabled, postback.failing_since) == (True, since)


def test_a_first_failure_starts_the_streak_now(affiliate):
    postback = PostbackFactory(affiliate=affiliate)
    before = timezone.now()

    record((claimed(DeliveryFactory(affiliate=affiliate, postback=postback)), 0.0, FAILED_500))

    postback.refresh_from_db()
    assert postback.enabled and before <= postback.failing_since <= timezone.now()


def test_a_postback_failing_just_under_the_limit_stays_enabled(affiliate, settings):
    postback = PostbackFactory(affiliate=affiliate)
    failing_for(postback, timedelta(days=settings.POSTBACK_DISABLE_AFTER_DAYS) - timedelta(minutes=1))

    record((claimed(DeliveryFactory(affiliate=affiliate, postback=postback)), 0.0, FAILED_500))

    postback.refresh_from_db()
    assert (postback.enabled, postback.disabled_reason) == (True, "")


def test_a_postback_failing_past_the_setting_is_disabled_saying_when_why_and_the_last_error(
    affiliate, settings
):
    settings.POSTBACK_DISABLE_AFTER_DAYS = 2
    postback, healthy = PostbackFactory(affiliate=affiliate), PostbackFactory(affiliate=affiliate)
    failing_for(postback, timedelta(days=2, minutes=1))
    failing_for(healthy, timedelta(days=9))
    rows = {
        row["pk"]: row
        for row in queue.claim(
            [
                DeliveryFactory(affiliate=affiliate, postback=postback).pk,
                DeliveryFactory(affiliate=affiliate, postback=healthy).pk,
            ]
        )
    }
    before = timezone.now()

    record(
        *[
            (row, 0.0, FAILED_500 if row["postback_id"] == postback.pk else Outcome(200, "", "", 5))
            for row in rows.values()
        ]
    )

    postback.refresh_from_db()
    healthy.refresh_from_db()
    assert not postback.enabled
    assert postback.disabled_reason in {
        f"Disabled on {moment:%Y-%m-%d %H:%M} UTC: every delivery failed for 2 days. "
        f"Last error: HTTP 500: a postback needs a 2xx answer"
        for moment in (before, timezone.now())
    }
    assert (healthy.enabled, healthy.failing_since, healthy.disabled_reason) == (True, None, "")


def test_the_reason_a_postback_was_disabled_fits_its_field(affiliate):
    postback = PostbackFactory(affiliate=affiliate)
    failing_for(postback, timedelta(days=30))
    long_error = Outcome(0, "Could not connect: " + "x" * 400, "", 5)

    record((claimed(DeliveryFactory(affiliate=affiliate, postback=postback)), 0.0, long_error))

    postback.refresh_from_db()
    assert not postback.enabled and len(postback.disabled_reason) == 255
    assert postback.disabled_reason.startswith("Disabled on ") and postback.disabled_reason.endswith("xxx")


def test_a_postback_already_disabled_keeps_its_reason(affiliate):
    postback = PostbackFactory(affiliate=affiliate)
    Postback.objects.filter(pk=postback.pk).update(
        enabled=False, disabled_reason="Disabled by hand", failing_since=timezone.now() - timedelta(days=30)
    )
    delivery = DeliveryFactory(affiliate=affiliate, postback=postback)

    record((claimed(delivery), 0.0, FAILED_500))

    postback.refresh_from_db()
    assert (postback.enabled, postback.disabled_reason) == (False, "Disabled by hand")


def test_an_error_longer_than_its_column_is_stored_cut_in_the_delivery_and_its_attempt(affiliate):
    delivery = DeliveryFactory(affiliate=affiliate)

    record((claimed(delivery), 0.0, Outcome(0, "Name not resolved: " + "x" * 300, "", 5)))

    delivery = fresh(delivery)
    expected = ("Name not resolved: " + "x" * 300)[:255]
    assert (delivery.state, delivery.error) == ("retrying", expected)
    assert delivery.attempt_log.get().error == expected


@pytest.mark.django_db(transaction=True)
def test_a_delivery_deleted_while_it_was_out_does_not_hold_back_the_rest_of_its_batch(affiliate):
    """Its conversion deleted meanwhile (and the delivery with it): the results beside it are
    recorded. (Its attempt is logged; no database constraint ties the log to deliveries, which are
    partitioned, and the log leaves with its partition.)"""
    gone, kept = DeliveryFactory(affiliate=affiliate), DeliveryFactory(affiliate=affiliate)
    rows = {row["pk"]: row for row in queue.claim([gone.pk, kept.pk])}
    gone.conversion.delete()

    record((rows[gone.pk], 0.0, OK_200), (rows[kept.pk], 0.0, OK_200))

    assert fresh(kept).state == "succeeded"
    assert not Delivery.objects.filter(pk=gone.pk).exists()
