"""Affiliate postbacks under faults, end to end (SPEC 5.4): a real Celery worker and beat on the
test database, real local servers standing in for affiliates' endpoints, and a Redis broker of
the test's own where the broker goes away. Whatever breaks, every delivery reaches the affiliate
at least once, with the same X-Postback-Id on every attempt, and ends succeeded."""

import contextlib
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest
import redis
from django.db import transaction
from werkzeug import Response

from config.celery import app as celery_app
from conversions.lifecycle import conversion_set_status
from conversions.models import ConversionEvent
from postbacks import sender
from postbacks.models import Delivery
from tests.factories import OfferFactory, PostbackFactory
from tests.postbacks.rawhttp import TcpServer
from tests.postbacks.test_delivery_end_to_end import FAST_RETRIES, beat, click_and_convert, worker
from tests.processes import free_port, kill_now, together, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# A killed worker's deliveries come back as soon as their lease runs out.
SHORT_LEASE = {**FAST_RETRIES, "POSTBACK_LEASE_SECONDS": "2"}


def ids_of(deliveries) -> set[str]:
    return {str(delivery.delivery_id) for delivery in deliveries}


def received_ids(httpserver, path: str) -> list[str]:
    return [request.headers["X-Postback-Id"] for request, _ in httpserver.log if request.path == path]


def all_succeeded(deliveries) -> bool:
    return not Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).exclude(state="succeeded").exists()


def assert_all_delivered(deliveries, ids_received):
    """Each delivery reached the affiliate, every request carried the id of one of them, and
    each ended succeeded."""
    assert set(ids_received) == ids_of(deliveries)
    assert {delivery.state for delivery in Delivery.objects.filter(pk__in=[d.pk for d in deliveries])} == {
        "succeeded"
    }


# --- Endpoints that misbehave below HTTP ----------------------------------------------------


def _peek_request(connection) -> bytes:
    """The request head, left unread in the socket."""
    while True:
        data = connection.recv(65536, socket.MSG_PEEK)
        if not data or b"\r\n\r\n" in data:
            return data
        time.sleep(0.01)


def answers(raw: bytes):
    def answer(connection):
        connection.recv(65536)
        connection.sendall(raw)

    return answer


def hangs(connection):
    connection.recv(65536)
    connection.recv(1)  # returns when the sender gives up


def resets(connection):
    """Closing with the request unread makes the kernel reset the connection."""


HUGE_BYTES = 5 * 1024 * 1024
ANSWERS_OK = answers(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
ANSWERS_GARBAGE = answers(b"\x16\x03\x01\x00 this is not HTTP \xff\xfe\r\n\r\n")
ANSWERS_HUGE = answers(
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d\r\n\r\n" % HUGE_BYTES + b"x" * HUGE_BYTES
)


class RawEndpoint(TcpServer):
    """A TCP server that treats every connection as `behaviour` says (switch it at any time),
    keeping the X-Postback-Id of every request it received and the most connections it has had
    open at once since it started or since `count_open_from_now`."""

    def __init__(self, behaviour, host: str = "127.0.0.1"):
        self.behaviour = behaviour
        self.ids: list[str] = []
        self.open = self.most_open = 0
        self._counting = threading.Lock()
        super().__init__(host)
        self.url = f"http://{self.address}/postback?status={{status}}"

    def count_open_from_now(self):
        with self._counting:
            self.most_open = self.open

    def _handle(self, connection):
        with self._counting:
            self.open += 1
            self.most_open = max(self.most_open, self.open)
        with connection:
            try:
                found = re.search(rb"(?im)^x-postback-id:\s*(\S+)", _peek_request(connection))
                self.ids.append(found.group(1).decode() if found else "")
                self.behaviour(connection)
            except OSError:
                pass  # the sender went away first
        with self._counting:
            self.open -= 1


@pytest.fixture
def raw_endpoints():
    endpoints = []

    def start(behaviour, host="127.0.0.1"):
        endpoints.append(RawEndpoint(behaviour, host))
        return endpoints[-1]

    yield start
    for endpoint in endpoints:
        endpoint.close()


# --- A broker to take away ------------------------------------------------------------------


class RedisServer:
    """A redis-server of this test's own, without persistence, to stop and start on one port."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis(port=self.port, socket_connect_timeout=1)
        self._process = None

    def start(self):
        self._process = subprocess.Popen(
            ["redis-server", *f"--bind 127.0.0.1 --port {self.port} --appendonly no".split(), "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        assert wait_until(self._answers, timeout=10), "redis-server did not start"

    def stop(self):
        self._process.terminate()
        self._process.wait(timeout=10)

    def _answers(self) -> bool:
        try:
            return self.client.ping()
        except redis.ConnectionError:
            return False


@pytest.fixture
def own_broker():
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            raise RuntimeError("The broker outage test needs redis-server")
        pytest.skip("the broker outage test needs redis-server")
    server = RedisServer()
    server.start()
    with publishing_to(server.url):
        yield server
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        server.stop()


def _forget_broker_pools():
    """Make this process's Celery app pick its pooled broker connections anew, for the broker
    configured now. The pools themselves stay in kombu's registry, one per broker URL."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextlib.contextmanager
def publishing_to(broker_url: str):
    """Tasks queued by this process (the on-commit `send_deliveries`) go to `broker_url`."""
    saved = {key: celery_app.conf[key] for key in ("broker_url", "broker_transport_options")}
    _forget_broker_pools()
    celery_app.conf.update(
        broker_url=broker_url, broker_transport_options={"socket_connect_timeout": 3, "socket_timeout": 10}
    )
    try:
        yield
    finally:
        celery_app.pool.force_close_all()  # this broker's connections only
        _forget_broker_pools()
        celery_app.conf.update(saved)


# --- The tests ------------------------------------------------------------------------------


@pytest.fixture
def offer():
    return OfferFactory(goals=[{"value": "sale", "title": "Sale", "payout": "4.5"}])


def test_a_delivery_cut_off_by_a_killed_worker_is_sent_again_with_the_same_id(
    tmp_path, httpserver, affiliate, offer, direct_writes
):
    arrived, release = threading.Event(), threading.Event()

    def hold_the_first_request(request):
        if arrived.is_set():
            return Response("ok")
        arrived.set()
        release.wait(timeout=10)
        return Response("too late: nobody is listening")

    PostbackFactory(affiliate=affiliate, url=httpserver.url_for("/killed"))
    httpserver.expect_request("/killed").respond_with_handler(hold_the_first_request)

    with together(worker(**SHORT_LEASE), beat(tmp_path, **SHORT_LEASE)) as (first_worker, _):
        try:
            conversion = click_and_convert(affiliate, offer, "goal=sale")
            assert arrived.wait(timeout=15), "the first request never arrived"
            kill_now(first_worker)
        finally:
            release.set()  # the server answers no one, and is free for the next request
        delivery = Delivery.objects.get(conversion=conversion)
        assert delivery.state == "pending" and delivery.locked_until is not None

        with worker(**SHORT_LEASE):
            assert wait_until(lambda: all_succeeded([delivery]), timeout=30)

    ids = received_ids(httpserver, "/killed")
    assert len(ids) == 2
    assert_all_delivered([delivery], ids)
    assert list(delivery.attempt_log.values_list("http_code", flat=True)) == [200]


def test_deliveries_made_while_the_broker_is_down_go_out_once_it_is_back(
    tmp_path, caplog, httpserver, affiliate, offer, direct_writes, own_broker
):
    PostbackFactory(affiliate=affiliate, url=httpserver.url_for("/outage") + "?s={status}")
    httpserver.expect_request("/outage").respond_with_data("ok")
    on_own_broker = {**FAST_RETRIES, "CELERY_BROKER_URL": own_broker.url}

    before = click_and_convert(affiliate, offer, "goal=sale")  # no worker yet: the message waits
    assert own_broker.client.llen("celery") == 1, "this process does not publish to the test's broker"

    with together(worker(**on_own_broker), beat(tmp_path, **on_own_broker)):
        assert wait_until(lambda: all_succeeded(before.deliveries.all()))

        own_broker.stop()
        during = click_and_convert(affiliate, offer, "goal=sale")  # the advertiser still gets "ok"
        [delivery] = during.deliveries.all()
        assert delivery.state == "pending"
        assert "Could not wake a postback sender" in caplog.text
        time.sleep(2)  # a short outage
        own_broker.start()

        assert wait_until(lambda: all_succeeded([delivery]), timeout=40)

    assert_all_delivered([*before.deliveries.all(), delivery], received_ids(httpserver, "/outage"))


def test_events_of_one_conversion_reach_the_affiliate_in_order_even_after_a_failure(
    tmp_path, httpserver, affiliate, offer, direct_writes
):
    answered = []

    def fail_first(request):
        answered.append(200 if answered else 500)
        return Response("ok", status=answered[-1])

    PostbackFactory(affiliate=affiliate, url=httpserver.url_for("/ordered") + "?status={status}")
    httpserver.expect_request("/ordered").respond_with_handler(fail_first)

    with together(worker(**FAST_RETRIES), beat(tmp_path, **FAST_RETRIES)):
        conversion = click_and_convert(affiliate, offer, "goal=sale&status=2")
        for status in (1, 3):
            conversion_set_status(conversion=conversion, status=status, source=ConversionEvent.Source.MANAGER)
        deliveries = list(Delivery.objects.filter(conversion=conversion).order_by("pk"))
        assert len(deliveries) == 3
        assert wait_until(lambda: all_succeeded(deliveries), timeout=40)

    requests = [request for request, _ in httpserver.log if request.path == "/ordered"]
    assert [request.args["status"] for request in requests] == ["2", "2", "1", "3"]
    assert answered == [500, 200, 200, 200]
    first, approved, declined = deliveries
    assert [request.headers["X-Postback-Id"] for request in requests] == [
        str(first.delivery_id),
        str(first.delivery_id),
        str(approved.delivery_id),
        str(declined.delivery_id),
    ]
    assert_all_delivered(deliveries, [request.headers["X-Postback-Id"] for request in requests])
    first.refresh_from_db()
    assert approved.attempt_log.get().started_at >= first.delivered_at


def test_an_endpoint_that_never_answers_does_not_hold_back_healthy_ones(
    tmp_path, httpserver, affiliate, other_affiliate, offer, direct_writes, raw_endpoints
):
    # Another address, so that the sender sees another host than the healthy endpoint's.
    slow = raw_endpoints(hangs, host="127.0.0.2")
    slow_postback = PostbackFactory(affiliate=affiliate, url=slow.url)
    PostbackFactory(affiliate=other_affiliate, url=httpserver.url_for("/healthy"))
    httpserver.expect_request("/healthy").respond_with_data("ok")
    slow_timeout = {**FAST_RETRIES, "POSTBACK_TOTAL_TIMEOUT": "5"}

    with together(worker(**slow_timeout), beat(tmp_path, **slow_timeout)):
        with transaction.atomic():  # one commit: the 30 requests start together
            for _ in range(30):
                click_and_convert(affiliate, offer, "goal=sale")
        assert wait_until(lambda: len(slow.ids) == 30, timeout=10, interval=0.05)
        time.sleep(sender.SLOW_AFTER_SECONDS)  # the sender now takes the host for a slow one

        started = time.monotonic()
        healthy = [click_and_convert(other_affiliate, offer, "goal=sale") for _ in range(3)]
        assert wait_until(lambda: len(received_ids(httpserver, "/healthy")) == 3, timeout=10, interval=0.05)
        assert time.monotonic() - started < 2
        slow_deliveries = list(Delivery.objects.filter(postback=slow_postback))
        assert {delivery.state for delivery in slow_deliveries} == {"pending"}

        # Their requests timed out: the host is tried again, but with a few requests at a time.
        assert wait_until(lambda: len(slow.ids) > 30, timeout=15, interval=0.05)
        slow.count_open_from_now()
        time.sleep(1)
        assert 0 < slow.most_open <= sender.SLOW_HOST_REQUESTS

        slow.behaviour = ANSWERS_OK
        assert wait_until(lambda: all_succeeded(slow_deliveries), timeout=40)

    healthy_deliveries = Delivery.objects.filter(conversion__in=healthy)
    assert_all_delivered(healthy_deliveries, received_ids(httpserver, "/healthy"))
    assert_all_delivered(slow_deliveries, slow.ids)
    first_attempts = [d.attempt_log.first() for d in slow_deliveries]
    assert {(attempt.http_code, attempt.error) for attempt in first_attempts} == {
        (0, "Timed out: no complete answer in 5.0 s")
    }


def test_broken_answers_are_logged_as_failed_attempts_and_the_worker_carries_on(
    tmp_path, httpserver, affiliate, other_affiliate, offer, direct_writes, raw_endpoints
):
    broken = {
        "garbage": raw_endpoints(ANSWERS_GARBAGE),
        "huge": raw_endpoints(ANSWERS_HUGE),
        "reset": raw_endpoints(resets),
    }
    postbacks = {
        name: PostbackFactory(affiliate=affiliate, url=endpoint.url) for name, endpoint in broken.items()
    }
    PostbackFactory(affiliate=other_affiliate, url=httpserver.url_for("/after-faults"))
    httpserver.expect_request("/after-faults").respond_with_data("ok")

    with together(worker(**FAST_RETRIES), beat(tmp_path, **FAST_RETRIES)):
        click_and_convert(affiliate, offer, "goal=sale")
        deliveries = {name: Delivery.objects.get(postback=postback) for name, postback in postbacks.items()}
        assert wait_until(
            lambda: not Delivery.objects.filter(postback__affiliate=affiliate, attempts=0).exists()
        )
        first_attempts = {name: delivery.attempt_log.get() for name, delivery in deliveries.items()}

        healthy = click_and_convert(other_affiliate, offer, "goal=sale")
        assert wait_until(lambda: all_succeeded(healthy.deliveries.all()))

        for endpoint in broken.values():
            endpoint.behaviour = ANSWERS_OK
        assert wait_until(lambda: all_succeeded(deliveries.values()), timeout=40)

    for name, attempt in first_attempts.items():
        assert attempt.error and attempt.error.isprintable(), (name, attempt.error)
        assert len(attempt.response_excerpt) <= 1024, name
    assert first_attempts["garbage"].http_code == 0 and "Bad status line" in first_attempts["garbage"].error
    assert first_attempts["reset"].http_code == 0 and "Connection reset" in first_attempts["reset"].error
    assert first_attempts["huge"].http_code == 500
    assert set(first_attempts["huge"].response_excerpt) == {"x"}  # the start of the 5 MB body
    for name, endpoint in broken.items():
        assert_all_delivered([deliveries[name]], endpoint.ids)
    assert_all_delivered(healthy.deliveries.all(), received_ids(httpserver, "/after-faults"))
