"""Whatever an affiliate's endpoint answers (any bytes in the body, any header value, any length)
is recorded, and one result that cannot be recorded never holds back the others.

Deliveries are sent to a real local server that answers raw bytes (tests/postbacks/rawhttp.py),
from the test process (queue.claim + sender.send_claimed: the code of test postbacks and of a
worker's sender) or, in the last test, by a real Celery worker."""

import time

import pytest
from django.db import connection
from django.utils import timezone

from conversions.models import Conversion
from postbacks import outbound, queue, sender
from postbacks.models import Delivery, DeliveryAttempt
from postbacks.services import postback_send_test
from tests.factories import DeliveryFactory, OfferFactory, PostbackFactory
from tests.postbacks.rawhttp import RawServer, http_answer
from tests.processes import together, wait_until

pytestmark = pytest.mark.django_db

NUL_ANSWER = http_answer("200 OK", b"accepted\x00id=7")
NOT_UTF8_ANSWER = http_answer("200 OK", b"ok \xff\xfe \xed\xa0\x80 \xc3")
SUPERSCRIPT_TWO = "²".encode()  # "²".isdigit() is True, yet it is no number
HUGE_HEADER_ANSWER = http_answer("200 OK", b"ok", b"X-Filler: " + b"a" * 100_000)


@pytest.fixture
def raw_server():
    servers = []

    def start(answer):
        servers.append(RawServer(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def delivery_to(server, affiliate, **fields):
    postback = PostbackFactory(affiliate=affiliate, url=server.origin + "/pb?s={status}")
    return DeliveryFactory(
        affiliate=affiliate, postback=postback, url=server.origin + "/pb?s=1", **{"host": "raw", **fields}
    )


def send(*deliveries):
    sender.send_claimed(queue.claim([delivery.pk for delivery in deliveries]))
    for delivery in deliveries:
        delivery.refresh_from_db()


def schedule_first_step(settings) -> tuple[float, float]:
    first = settings.POSTBACK_RETRY_SCHEDULE[0]
    return 0.8 * first, 1.2 * first


def test_an_answer_with_a_nul_byte_is_stored_readably_and_the_delivery_succeeds(raw_server, affiliate):
    delivery = delivery_to(raw_server(NUL_ANSWER), affiliate)

    send(delivery)

    assert (delivery.state, delivery.http_code, delivery.attempts) == ("succeeded", 200, 1)
    assert delivery.response_excerpt == "accepted\ufffdid=7"
    assert delivery.attempt_log.get().response_excerpt == "accepted\ufffdid=7"


def test_an_answer_that_is_not_utf8_is_stored_with_replacement_characters(raw_server, affiliate):
    delivery = delivery_to(raw_server(NOT_UTF8_ANSWER), affiliate)

    send(delivery)

    assert delivery.state == "succeeded"
    assert delivery.response_excerpt.startswith("ok \ufffd\ufffd \ufffd")
    assert delivery.response_excerpt.encode("utf-8")  # valid text, no half surrogate


@pytest.mark.parametrize("status", ["429 Too Many Requests", "503 Service Unavailable"])
def test_a_retry_after_in_other_digits_falls_back_to_the_schedule(raw_server, affiliate, settings, status):
    answer = http_answer(status, b"later", b"Retry-After: " + SUPERSCRIPT_TWO)
    delivery = delivery_to(raw_server(answer), affiliate)
    before = timezone.now()

    send(delivery)

    assert (delivery.state, delivery.http_code, delivery.attempts) == ("retrying", int(status[:3]), 1)
    low, high = schedule_first_step(settings)
    assert low - 1 <= (delivery.next_attempt_at - before).total_seconds() <= high + 1
    assert delivery.attempt_log.get().error == f"HTTP {status[:3]}: a postback needs a 2xx answer"


@pytest.mark.parametrize(
    "retry_after",
    [
        "²",
        "١٢٠",  # Arabic-Indic digits
        "１２０",  # fullwidth digits
        "1_000",
        "1.5",
        "-5",
        "0x10",
        "in a while",
        "\udcff\udcfe",  # undecodable bytes, as the HTTP client hands them over
        "Sat, 01 Jan 10000 00:00:00 GMT",
        "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
        "Mon, 01 Jan 2024 00:00:00 +9999",
        "Tue, 99 Foo 2024 99:99:99 GMT",
    ],
)
def test_a_malformed_retry_after_falls_back_to_the_schedule(settings, retry_after):
    low, high = schedule_first_step(settings)
    assert low <= queue.retry_delay(1, retry_after) <= high


@pytest.mark.parametrize("retry_after", ["9" * 5000, "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_retry_after_too_far_away_waits_a_day(retry_after):
    assert queue.retry_delay(1, retry_after) == 24 * 60 * 60


def test_a_header_too_large_to_read_is_a_failed_attempt(raw_server, affiliate):
    delivery = delivery_to(raw_server(HUGE_HEADER_ANSWER), affiliate)

    send(delivery)

    assert (delivery.state, delivery.http_code, delivery.attempts) == ("retrying", 0, 1)
    assert delivery.error.startswith("Invalid HTTP answer") and len(delivery.error) <= 255


def test_a_test_postback_to_an_endpoint_answering_a_nul_byte_shows_its_answer(raw_server, affiliate):
    server = raw_server(NUL_ANSWER)
    OfferFactory()
    postback = PostbackFactory(affiliate=affiliate, url=server.origin + "/pb?cid={conversion_id}")

    delivery = postback_send_test(postback)

    assert (delivery.state, delivery.response_excerpt) == ("succeeded", "accepted\ufffdid=7")
    assert len(server.requests) == 1


def test_a_typed_url_tried_in_the_integration_wizard_gets_a_storable_answer(raw_server):
    server = raw_server(http_answer("503 Busy", b"\x00\xff", b"Retry-After: " + SUPERSCRIPT_TWO))

    outcome = sender.send_unsaved(method="GET", url=server.origin + "/try", body="", signing_secret="")

    assert (outcome.http_code, outcome.excerpt) == (503, "\ufffd\ufffd")


def test_every_outcome_is_made_storable_whoever_makes_it():
    outcome = outbound.Outcome(
        200, "bad\x00 error\n\ud800" + "x" * 500, "a\x00b\udcff" + "y" * 5000, 5, "\x00²"
    )

    assert outcome.error.startswith("bad\ufffd error \ufffd") and len(outcome.error) == 255
    assert outcome.excerpt.startswith("a\ufffdb\ufffd") and len(outcome.excerpt) == outbound.EXCERPT_BYTES
    assert outcome.retry_after == "\ufffd²"


def test_a_result_the_database_refuses_is_logged_as_a_failed_attempt_and_the_batch_is_kept(
    raw_server, affiliate, settings, caplog
):
    server = raw_server(http_answer("200 OK", b"ok"))
    refused, healthy = delivery_to(server, affiliate), delivery_to(server, affiliate)
    rows = queue.claim([refused.pk, healthy.pk])
    by_pk = {row["pk"]: row for row in rows}
    # A status no column can hold: the database refuses the row.
    results = [
        (by_pk[refused.pk], 0.0, outbound.Outcome(70_000, "", "", 5)),
        (by_pk[healthy.pk], 0.0, outbound.Outcome(200, "", "ok", 5)),
    ]

    queue.record(results)

    refused.refresh_from_db()
    healthy.refresh_from_db()
    assert (healthy.state, healthy.attempts) == ("succeeded", 1)
    assert (refused.state, refused.http_code, refused.attempts) == ("retrying", 0, 1)
    assert refused.error == "The answer (HTTP 70000) could not be stored: DataError"
    low, high = schedule_first_step(settings)
    assert low - 1 <= (refused.next_attempt_at - timezone.now()).total_seconds() <= high
    assert refused.attempt_log.get().error == refused.error
    assert "recording them one by one" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_delivery_deleted_while_it_was_sent_does_not_hold_back_the_others_of_its_batch(
    raw_server, affiliate
):
    server = raw_server(http_answer("200 OK", b"ok"))
    deliveries = [delivery_to(server, affiliate) for _ in range(3)]
    rows = queue.claim([delivery.pk for delivery in deliveries])
    gone = deliveries[1]
    Conversion.objects.filter(pk=gone.conversion_id).delete()  # its deliveries go with it

    sender.send_claimed(rows)

    kept = Delivery.objects.filter(pk__in=[deliveries[0].pk, deliveries[2].pk])
    assert [(delivery.state, delivery.attempts) for delivery in kept] == [("succeeded", 1)] * 2
    assert DeliveryAttempt.objects.filter(delivery__in=kept).count() == 2
    assert len(server.requests) == 3
    assert not Delivery.objects.filter(pk=gone.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_results_a_database_taking_no_writes_refuses_are_kept_not_recorded_as_failed(raw_server, affiliate):
    if connection.vendor != "postgresql":
        pytest.skip("a read-only session is PostgreSQL's (CI runs on PostgreSQL)")
    server = raw_server(http_answer("200 OK", b"ok"))
    delivery = delivery_to(server, affiliate)
    [row] = queue.claim([delivery.pk])
    results = [(row, 0.0, outbound.Outcome(200, "", "ok", 5))]
    # As after a failover to a replica: the database answers, and refuses every write.
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    try:
        with pytest.raises(queue.DatabaseUnavailable) as unavailable:
            queue.record(results)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")

    assert unavailable.value.unrecorded == results
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.error) == (0, "")
    assert not DeliveryAttempt.objects.exists()
    # Once writes are taken again, the 200 kept is recorded as what it was.
    queue.record(results)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("succeeded", 1)


# --- With a real worker ---------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_endpoints_answering_unstorable_things_do_not_stop_a_worker_recording_for_the_others(
    tmp_path, raw_server, httpserver, affiliate, other_affiliate, direct_writes
):
    from tests.postbacks.test_delivery_end_to_end import FAST_RETRIES, beat, click_and_convert, worker

    offer = OfferFactory(goals=[{"value": "sale", "title": "Sale", "payout": "4.5"}])
    poisoned = {
        "nul": raw_server(NUL_ANSWER),
        "superscript": raw_server(http_answer("503 Busy", b"", b"Retry-After: " + SUPERSCRIPT_TWO)),
        "not-utf8": raw_server(NOT_UTF8_ANSWER),
        "huge-header": raw_server(HUGE_HEADER_ANSWER),
    }
    postbacks = {
        name: PostbackFactory(affiliate=affiliate, url=server.origin + "/pb?s={status}")
        for name, server in poisoned.items()
    }
    PostbackFactory(affiliate=other_affiliate, url=httpserver.url_for("/healthy") + "?s={status}")
    httpserver.expect_request("/healthy").respond_with_data("ok")
    slow_retries = {**FAST_RETRIES, "POSTBACK_RETRY_SCHEDULE": "600"}

    with together(worker(**slow_retries), beat(tmp_path, **slow_retries)):
        for _ in range(3):
            click_and_convert(affiliate, offer, "goal=sale")
            click_and_convert(other_affiliate, offer, "goal=sale")
        healthy = Delivery.objects.filter(affiliate=other_affiliate)
        assert wait_until(lambda: not healthy.exclude(state="succeeded").exists(), timeout=20)
        assert wait_until(lambda: not Delivery.objects.filter(attempts=0).exists(), timeout=20)
        time.sleep(2)  # a sender stuck on a batch would send them all again meanwhile

    assert len(httpserver.log) == 3
    assert {request.headers["X-Postback-Id"] for request, _ in httpserver.log} == {
        str(delivery.delivery_id) for delivery in healthy
    }
    states = {
        name: set(Delivery.objects.filter(postback=postback).values_list("state", "attempts"))
        for name, postback in postbacks.items()
    }
    assert states == {
        "nul": {("succeeded", 1)},
        "superscript": {("retrying", 1)},
        "not-utf8": {("succeeded", 1)},
        "huge-header": {("retrying", 1)},
    }
    assert all(len(server.requests) == 3 for server in poisoned.values())
    failed = DeliveryAttempt.objects.filter(
        delivery__postback__in=[postbacks["superscript"], postbacks["huge-header"]]
    )
    assert failed.count() == 6 and not failed.filter(error="").exists()
