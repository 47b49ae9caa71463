"""Retry schedule, Retry-After, the last attempt, and disabling a postback that keeps failing.

Deliveries are sent from the test process (queue.claim + sender.send_claimed: the code a worker
runs) to a real local HTTP server."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from postbacks import outbound, queue, sender
from postbacks.models import Delivery, Postback
from postbacks.services import postback_save
from tests.factories import DeliveryFactory, PostbackFactory

pytestmark = pytest.mark.django_db


def send(delivery):
    sender.send_claimed(queue.claim([delivery.pk]))
    delivery.refresh_from_db()
    return delivery


@pytest.fixture
def failing_postback(httpserver, affiliate):
    httpserver.expect_request("/down").respond_with_data("busy", status=500)
    return PostbackFactory(affiliate=affiliate, url=httpserver.url_for("/down"))


def delivery_for(postback, **fields):
    return DeliveryFactory(
        affiliate=postback.affiliate, postback=postback, url=postback.url, **{"host": "localhost", **fields}
    )


@pytest.mark.parametrize("attempts", range(1, 11))
def test_each_failure_waits_as_the_schedule_says_with_jitter(settings, attempts):
    scheduled = settings.POSTBACK_RETRY_SCHEDULE[attempts - 1]
    delays = [queue.retry_delay(attempts) for _ in range(50)]
    assert all(0.8 * scheduled <= delay <= 1.2 * scheduled for delay in delays)
    assert len(set(delays)) > 1


def test_the_schedule_spans_about_a_day_and_a_half(settings):
    hours = sum(settings.POSTBACK_RETRY_SCHEDULE) / 3600
    assert 30 <= hours <= 42 and len(settings.POSTBACK_RETRY_SCHEDULE) == 10


@pytest.mark.parametrize(
    ("retry_after", "seconds"), [("120", 120), ("0", 1), ("999999", 86400), ("soon", None), ("", None)]
)
def test_retry_after_is_honoured_within_bounds(retry_after, seconds):
    delay = queue.retry_delay(1, retry_after)
    if seconds is None:
        assert 48 <= delay <= 72  # the schedule's first step, jittered
    else:
        assert delay == seconds


def test_retry_after_as_an_http_date():
    when = timezone.now() + timedelta(minutes=10)
    delay = queue.retry_delay(1, when.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    assert 590 <= delay <= 600


def test_a_503_with_retry_after_is_retried_when_the_endpoint_asks(httpserver, affiliate):
    httpserver.expect_request("/busy").respond_with_data("later", status=503, headers={"Retry-After": "300"})
    postback = PostbackFactory(affiliate=affiliate, url=httpserver.url_for("/busy"))
    before = timezone.now()

    delivery = send(delivery_for(postback))

    assert (delivery.state, delivery.http_code, delivery.attempts) == ("retrying", 503, 1)
    assert 299 <= (delivery.next_attempt_at - before).total_seconds() <= 302


def test_a_failure_is_retried_later_and_the_last_one_fails_the_delivery(settings, failing_postback):
    delivery = send(delivery_for(failing_postback))
    assert (delivery.state, delivery.attempts, delivery.error) == (
        "retrying",
        1,
        "HTTP 500: a postback needs a 2xx answer",
    )
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=40)

    last = delivery_for(failing_postback, attempts=len(settings.POSTBACK_RETRY_SCHEDULE))
    last = send(last)
    assert (last.state, last.attempts, last.next_attempt_at) == ("failed", 11, None)
    assert last.attempt_log.get().http_code == 500


def test_a_delivery_not_yet_due_is_not_sent(failing_postback, httpserver):
    later = delivery_for(failing_postback, next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert queue.claim([later.pk]) == []
    assert httpserver.log == []


def test_a_delivery_being_sent_is_due_again_only_when_its_lease_ends(failing_postback, settings):
    delivery = delivery_for(failing_postback)
    [taken] = queue.claim([delivery.pk])
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == delivery.locked_until == taken["lease"]
    assert taken["lease"] >= timezone.now() + timedelta(seconds=settings.POSTBACK_LEASE_SECONDS - 5)
    assert queue.claim([delivery.pk]) == []

    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    [taken_again] = queue.claim([delivery.pk])
    assert taken_again["lease"] > taken["lease"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan checked is PostgreSQL's")
def test_a_claim_walks_the_due_index_instead_of_sorting_every_due_delivery(failing_postback):
    # Statistics taken before a burst: the planner expects no delivery to be due.
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Delivery._meta.db_table}")
    for _ in range(200):
        delivery_for(failing_postback)
    with CaptureQueriesContext(connection) as queries:
        assert len(queue.claim(limit=10)) == 10
    [select] = [query["sql"] for query in queries if "FOR UPDATE" in query["sql"]]

    # Still inside the claim's transaction (the test's), so with the settings it gave itself.
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {select}")
        plan = "\n".join(line for (line,) in cursor.fetchall())
        # The table is partitioned (config.partitions): each partition has its part of the index.
        cursor.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'delivery_due'::regclass"
        )
        due_index = {name for (name,) in cursor.fetchall()}
    # The claim's own scans (postbacks_delivery, or postbacks_delivery_<n> for each partition
    # when several are left after pruning; not the subquery's, u0).
    scanned = set(re.findall(r"Index Scan using (\S+) on \S+ postbacks_delivery(?:_\d+)? ", plan))
    # A Merge Append of the partitions' scans keeps their order: no sorting step ("Sort  (cost").
    assert scanned and scanned <= due_index and not re.search(r"Sort\s+\(cost", plan), plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan checked is PostgreSQL's")
def test_a_claim_leaves_the_weeks_made_ahead_out_of_its_plan(failing_postback):
    delivery_for(failing_postback)
    with CaptureQueriesContext(connection) as queries:
        assert len(queue.claim(limit=10, backfill=False)) == 1
    [select] = [query["sql"] for query in queries if "FOR UPDATE" in query["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {select}")
        plan = "\n".join(line for (line,) in cursor.fetchall())
    # A week that starts after every delivery made so far could have been made (clocks included)
    # holds none: planning the claim over the eight weeks made ahead cost it 0.7 ms.
    latest_made = timezone.now() + queue.CLOCK_SLACK
    weeks = set(re.findall(r" on postbacks_delivery_p(\d{8}) ", plan))
    assert not [week for week in weeks if week > f"{latest_made:%Y%m%d}"], plan


def test_a_slow_host_is_given_only_its_room_and_the_others_all_they_have(failing_postback):
    slow = [delivery_for(failing_postback, host="slow.example:80") for _ in range(5)]
    healthy = [delivery_for(failing_postback, host="fast.example:80") for _ in range(3)]

    taken = queue.claim(limit=10, limited_hosts={"slow.example:80": 2, "full.example:80": 0})

    assert sorted(row["pk"] for row in taken) == sorted([d.pk for d in healthy] + [d.pk for d in slow[:2]])
    assert queue.claim(limit=10, limited_hosts={"slow.example:80": 0}) == []
    assert len(queue.claim(limit=10)) == 3


def test_a_postback_failing_for_three_days_is_disabled_with_the_reason(failing_postback):
    Postback.objects.filter(pk=failing_postback.pk).update(
        failing_since=timezone.now() - timedelta(days=3, minutes=1)
    )

    send(delivery_for(failing_postback))

    failing_postback.refresh_from_db()
    assert not failing_postback.enabled
    assert "every delivery failed for 3 days" in failing_postback.disabled_reason
    assert "HTTP 500" in failing_postback.disabled_reason

    failing_postback.enabled = True
    postback_save(failing_postback)
    failing_postback.refresh_from_db()
    assert (failing_postback.enabled, failing_postback.disabled_reason, failing_postback.failing_since) == (
        True,
        "",
        None,
    )


def test_failures_start_the_streak_and_a_success_ends_it(httpserver, failing_postback):
    send(delivery_for(failing_postback))
    failing_postback.refresh_from_db()
    assert failing_postback.enabled and failing_postback.failing_since is not None

    httpserver.clear()
    httpserver.expect_request("/down").respond_with_data("ok")
    send(delivery_for(failing_postback))
    failing_postback.refresh_from_db()
    assert failing_postback.failing_since is None and failing_postback.enabled


def test_a_late_result_does_not_undo_a_newer_one(httpserver, affiliate):
    httpserver.expect_request("/pb").respond_with_data("ok")
    postback = PostbackFactory(affiliate=affiliate, url=httpserver.url_for("/pb"))
    delivery = delivery_for(postback)
    [first_claim] = queue.claim([delivery.pk])
    lease_ended = timezone.now() - timedelta(seconds=1)
    Delivery.objects.filter(pk=delivery.pk).update(locked_until=lease_ended, next_attempt_at=lease_ended)
    send(delivery)  # the lease ran out: sent again, and succeeded
    stale = outbound.Outcome(500, "HTTP 500: a postback needs a 2xx answer", "", 9000)

    queue.record([(first_claim, 0.0, stale)])

    delivery.refresh_from_db()
    assert (delivery.state, delivery.http_code, delivery.attempts) == ("succeeded", 200, 1)
    assert delivery.attempt_log.count() == 2


def test_a_late_success_does_not_end_a_delivery_claimed_again(affiliate):
    postback = PostbackFactory(affiliate=affiliate, url="http://127.0.0.1:9/pb")
    delivery = delivery_for(postback)
    [first_claim] = queue.claim([delivery.pk])
    lease_ended = timezone.now() - timedelta(seconds=1)
    Delivery.objects.filter(pk=delivery.pk).update(locked_until=lease_ended, next_attempt_at=lease_ended)
    [second_claim] = queue.claim([delivery.pk])  # sent again, its answer not yet back

    queue.record([(first_claim, 0.0, outbound.Outcome(200, "", "ok", 9000))])

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.locked_until) == ("pending", 0, second_claim["lease"])
    assert delivery.attempt_log.get().http_code == 200  # the attempt itself is logged
