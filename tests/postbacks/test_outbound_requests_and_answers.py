"""How a postback request goes out and how its answer is read, at the edges of each rule: which
answers are a success, what a redirect, a timeout or a broken connection leaves in the log, when
Retry-After is kept, how much of an answer is read, and what the request carries (and does not:
no proxy, no cookies, no body on a GET).

Requests are made by the sender's own functions (send_unsaved for a URL, queue.claim +
send_claimed for stored deliveries) to real local servers that answer raw bytes, as slowly or as
brokenly as a test needs (tests/postbacks/rawhttp.py and `Endpoint` below)."""

import asyncio
import contextlib
import gzip
import hashlib
import hmac
import socket
import threading
import time

import aiohttp.connector
import pytest
from django.utils import timezone

from postbacks import outbound, queue, sender
from tests.factories import DeliveryFactory, PostbackFactory
from tests.postbacks.rawhttp import RawServer, TcpServer, http_answer, read_head

pytestmark = pytest.mark.django_db

OK = http_answer("200 OK", b"ok")


class Endpoint(TcpServer):
    """A local TCP server that hands each connection to `behaviour(connection, request)`, where
    `request` is the request head (and body) as received."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.requests: list[bytes] = []
        super().__init__()
        self.origin = f"http://{self.address}"

    def _handle(self, connection):
        with connection, contextlib.suppress(OSError):
            received = read_head(connection)
            if received is None:
                return
            self.requests.append(received)
            self.behaviour(connection, received)


@pytest.fixture
def endpoint():
    started = []

    def start(behaviour):
        started.append(Endpoint(behaviour))
        return started[-1]

    yield start
    for server in started:
        server.close()


@pytest.fixture
def raw_server():
    started = []

    def start(answer=OK):
        started.append(RawServer(answer))
        return started[-1]

    yield start
    for server in started:
        server.close()


def in_pieces(status: str, body: bytes, piece: int):
    """Answers `body` with its length announced, in pieces of `piece` bytes with pauses between."""

    def behaviour(connection, _):
        connection.sendall(b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n" % (status.encode(), len(body)))
        for start in range(0, len(body), piece):
            time.sleep(0.05)
            connection.sendall(body[start : start + piece])

    return behaviour


def get(url: str, **fields) -> outbound.Outcome:
    return sender.send_unsaved(**{"method": "GET", "url": url, "body": "", "signing_secret": "", **fields})


# --- Which answers are a success -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        ("200 OK", ""),
        ("204 No Content", ""),
        ("299 Fine", ""),
        ("300 Multiple Choices", "Redirect (300) to nowhere not followed: a postback needs a 2xx answer"),
        ("304 Not Modified", "Redirect (304) to nowhere not followed: a postback needs a 2xx answer"),
        ("399 Odd", "Redirect (399) to nowhere not followed: a postback needs a 2xx answer"),
        ("400 Bad Request", "HTTP 400: a postback needs a 2xx answer"),
        ("404 Not Found", "HTTP 404: a postback needs a 2xx answer"),
        ("599 Odd", "HTTP 599: a postback needs a 2xx answer"),
    ],
)
def test_only_a_2xx_answer_is_a_success_and_others_say_why(raw_server, status, error):
    server = raw_server(http_answer(status, b""))

    outcome = get(server.origin + "/pb")

    assert (outcome.http_code, outcome.error) == (int(status[:3]), error)
    assert outcome.succeeded is (error == "")


@pytest.mark.parametrize(
    ("code", "succeeded"), [(0, False), (199, False), (200, True), (299, True), (300, False)]
)
def test_an_outcome_succeeded_only_with_a_2xx_code(code, succeeded):
    assert outbound.Outcome(code, "", "", 1).succeeded is succeeded


def test_a_redirect_names_where_it_pointed_and_is_not_followed(raw_server):
    target = raw_server()
    server = raw_server(http_answer("302 Found", b"", f"Location: {target.origin}/elsewhere".encode()))

    outcome = get(server.origin + "/pb")

    assert outcome.http_code == 302
    assert outcome.error == (
        f"Redirect (302) to {target.origin}/elsewhere not followed: a postback needs a 2xx answer"
    )
    assert target.requests == []


# --- Retry-After ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kept"),
    [
        ("429 Too Many Requests", "120"),
        ("503 Service Unavailable", "120"),
        ("500 Internal Server Error", ""),
        ("502 Bad Gateway", ""),
        ("200 OK", ""),
    ],
)
def test_retry_after_is_kept_only_from_a_429_or_a_503(raw_server, status, kept):
    server = raw_server(http_answer(status, b"", b"Retry-After: 120"))
    assert get(server.origin + "/pb").retry_after == kept


@pytest.mark.parametrize("status", ["429 Too Many Requests", "503 Service Unavailable"])
def test_a_429_or_503_without_retry_after_asks_for_no_time(raw_server, status):
    server = raw_server(http_answer(status, b""))
    outcome = get(server.origin + "/pb")
    assert (outcome.http_code, outcome.retry_after) == (int(status[:3]), "")


def test_a_500_asking_to_retry_later_is_retried_on_the_schedule(raw_server, affiliate, settings):
    server = raw_server(http_answer("500 Internal Server Error", b"", b"Retry-After: 7200"))
    postback = PostbackFactory(affiliate=affiliate, url=server.origin + "/pb")
    delivery = DeliveryFactory(affiliate=affiliate, postback=postback, url=server.origin + "/pb")
    before = timezone.now()

    sender.send_claimed(queue.claim([delivery.pk]))

    delivery.refresh_from_db()
    first = settings.POSTBACK_RETRY_SCHEDULE[0]
    assert 0.8 * first - 1 <= (delivery.next_attempt_at - before).total_seconds() <= 1.2 * first + 1


# --- How much of an answer is read ------------------------------------------------------------


def test_the_first_kib_of_an_answer_is_kept_however_it_arrives(endpoint):
    body = bytes(range(48, 58)) * 300  # 3000 digits
    server = endpoint(in_pieces("200 OK", body, piece=500))

    outcome = get(server.origin + "/pb")

    assert outcome.excerpt == body[: outbound.EXCERPT_BYTES].decode()


def test_a_short_answer_arriving_in_pieces_is_kept_whole(endpoint):
    body = b"accepted:" + b"x" * 700
    server = endpoint(in_pieces("200 OK", body, piece=100))

    assert get(server.origin + "/pb").excerpt == body.decode()


def test_an_answer_of_exactly_one_kib_is_kept_whole(endpoint):
    body = b"y" * outbound.EXCERPT_BYTES
    server = endpoint(in_pieces("500 Internal Server Error", body, piece=256))

    outcome = get(server.origin + "/pb")

    assert (outcome.http_code, outcome.excerpt) == (500, body.decode())


def test_the_first_kib_is_counted_in_bytes_not_characters(endpoint):
    body = "é".encode() * 2000  # two bytes each
    server = endpoint(in_pieces("200 OK", body, piece=300))

    assert get(server.origin + "/pb").excerpt == "é" * (outbound.EXCERPT_BYTES // 2)


def test_a_compressed_answer_is_kept_as_received_not_inflated(raw_server):
    packed = gzip.compress(b"ok" * 5000)
    server = raw_server(http_answer("200 OK", packed, b"Content-Encoding: gzip"))

    outcome = get(server.origin + "/pb")

    assert outcome.http_code == 200
    # As any answer: bytes that are not UTF-8, and NUL, are kept as U+FFFD.
    assert outcome.excerpt == packed.decode("utf-8", "replace").replace("\x00", "\ufffd")


# --- Timeouts and broken connections ----------------------------------------------------------


def never_answers(connection, _):
    connection.recv(1)  # returns when the sender gives up


def test_an_endpoint_that_never_answers_times_out_after_the_total_timeout(endpoint, settings):
    settings.POSTBACK_TOTAL_TIMEOUT = 0.5
    server = endpoint(never_answers)

    outcome = get(server.origin + "/pb")

    assert (outcome.http_code, outcome.error, outcome.excerpt) == (
        0,
        "Timed out: no complete answer in 0.5 s",
        "",
    )
    assert 450 <= outcome.duration_ms < 3000


def test_an_answer_slower_than_the_connect_timeout_is_still_read(endpoint, settings):
    settings.POSTBACK_CONNECT_TIMEOUT = 0.2
    settings.POSTBACK_TOTAL_TIMEOUT = 5

    def slow(connection, _):
        time.sleep(0.6)
        connection.sendall(http_answer("200 OK", b"late but fine"))

    outcome = get(endpoint(slow).origin + "/pb")

    assert (outcome.http_code, outcome.excerpt) == (200, "late but fine")
    assert 550 <= outcome.duration_ms < 3000


@pytest.fixture
def full_listener():
    """A port whose listening queue is full: the kernel drops new connection attempts, as a
    host that does not answer would."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    waiting = []
    for _ in range(3):
        client = socket.socket()
        client.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            client.connect(("127.0.0.1", port))
        waiting.append(client)
    time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    for client in waiting:
        client.close()
    listener.close()


def test_a_host_that_does_not_take_the_connection_times_out_after_the_connect_timeout(
    full_listener, settings
):
    settings.POSTBACK_CONNECT_TIMEOUT = 0.3
    settings.POSTBACK_TOTAL_TIMEOUT = 5

    outcome = get(full_listener + "/pb")

    assert (outcome.http_code, outcome.error, outcome.excerpt) == (
        0,
        "Timed out connecting (after 0.3 s)",
        "",
    )
    assert 250 <= outcome.duration_ms < 2000


def test_a_closed_port_is_a_failed_connection_with_the_reason():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the probe is

    outcome = get(f"http://127.0.0.1:{port}/pb")

    assert (outcome.http_code, outcome.excerpt) == (0, "")
    assert outcome.error.startswith("Could not connect: [Errno 111] Connect call failed")


def test_an_answer_that_is_not_http_is_an_invalid_answer(raw_server):
    server = raw_server(b"\x16\x03\x01 this is not HTTP\r\n\r\n")

    outcome = get(server.origin + "/pb")

    assert (outcome.http_code, outcome.excerpt) == (0, "")
    assert outcome.error.startswith("Invalid HTTP answer: ")


def test_a_connection_closed_without_an_answer_names_what_happened(endpoint):
    server = endpoint(lambda connection, _: None)

    outcome = get(server.origin + "/pb")

    assert (outcome.http_code, outcome.excerpt) == (0, "")
    assert outcome.error == "ServerDisconnectedError: Server disconnected"
    assert 0 <= outcome.duration_ms < 3000


def test_a_network_no_longer_allowed_is_refused_before_connecting(raw_server, settings):
    """The verdict on a URL's host is kept per setting: changing POSTBACK_ALLOW_PRIVATE_NETWORKS
    changes it for the next request, before any connection."""
    server = raw_server()
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = "127.0.0.0/8"
    assert get(server.origin + "/pb").http_code == 200

    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = "false"
    outcome = get(server.origin + "/pb")

    assert (outcome.http_code, outcome.error) == (
        0,
        f"The host 127.0.0.1 resolves to 127.0.0.1, {outbound.REFUSED}.",
    )
    assert len(server.requests) == 1


def test_a_url_refused_at_sending_never_leaves_and_took_no_time(settings):
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = "false"

    outcome = get("http://10.0.0.1/pb")

    assert (outcome.http_code, outcome.excerpt, outcome.duration_ms, outcome.retry_after) == (0, "", 0, "")
    assert outcome.error == (
        "The host 10.0.0.1 resolves to 10.0.0.1, a private, local or reserved address: "
        "postbacks can only be sent to public addresses."
    )


# --- What a request carries -------------------------------------------------------------------


def header(request: bytes, name: str) -> str | None:
    for line in request.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        key, _, value = line.decode("latin-1").partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def test_a_delivery_goes_out_with_its_id_its_method_and_the_client_name(raw_server, affiliate):
    server = raw_server()
    postback = PostbackFactory(affiliate=affiliate, url=server.origin + "/pb")
    delivery = DeliveryFactory(affiliate=affiliate, postback=postback, url=server.origin + "/pb?c=1")

    sender.send_claimed(queue.claim([delivery.pk]))

    [request] = server.requests
    assert request.request_line == b"GET /pb?c=1 HTTP/1.1"
    assert request.headers["x-postback-id"] == str(delivery.delivery_id)
    assert request.headers["user-agent"] == "postback-sender/1"
    assert "x-postback-signature" not in request.headers and "content-type" not in request.headers
    assert request.body == b""


def test_a_post_delivery_sends_its_body_form_encoded(raw_server, affiliate):
    server = raw_server()
    postback = PostbackFactory(affiliate=affiliate, url=server.origin + "/pb", method="POST")
    delivery = DeliveryFactory(
        affiliate=affiliate, postback=postback, url=server.origin + "/pb", method="POST", body="a=1&b=%C3%A9"
    )

    sender.send_claimed(queue.claim([delivery.pk]))

    [request] = server.requests
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.body == b"a=1&b=%C3%A9"
    assert request.headers["x-postback-id"] == str(delivery.delivery_id)


def test_a_get_sends_no_body_whatever_it_was_given(raw_server):
    server = raw_server()

    get(server.origin + "/pb", body="a=1")

    [request] = server.requests
    assert request.body == b"" and "content-length" not in request.headers


def test_a_signed_post_covers_the_target_and_the_body(raw_server):
    server = raw_server()
    before = int(time.time())

    sender.send_unsaved(method="POST", url=server.origin + "/pb?x=1", body="a=1", signing_secret="k")

    [request] = server.requests
    stamp, digest = request.headers["x-postback-signature"].split(",")
    timestamp = int(stamp.removeprefix("t="))
    assert before <= timestamp <= time.time()
    expected = hmac.new(b"k", f"{timestamp}./pb?x=1.a=1".encode(), hashlib.sha256).hexdigest()
    assert digest == f"v1={expected}"


def test_a_signed_request_without_a_body_covers_the_target_alone(raw_server):
    server = raw_server()

    sender.send_unsaved(method="POST", url=server.origin + "/pb", body="", signing_secret="k")

    [request] = server.requests
    stamp, digest = request.headers["x-postback-signature"].split(",")
    timestamp = stamp.removeprefix("t=")
    expected = hmac.new(b"k", f"{timestamp}./pb".encode(), hashlib.sha256).hexdigest()
    assert digest == f"v1={expected}"


def test_the_signature_is_the_documented_hmac():
    expected = hmac.new(b"secret", b"1700000000./pb?c=1.a=1", hashlib.sha256).hexdigest()
    assert outbound.signature("secret", "/pb?c=1", "a=1", 1700000000) == f"t=1700000000,v1={expected}"
    plain = hmac.new(b"secret", b"1700000000./pb", hashlib.sha256).hexdigest()
    assert outbound.signature("secret", "/pb", "", 1700000000) == f"t=1700000000,v1={plain}"


def test_no_proxy_from_the_environment_is_used(raw_server, monkeypatch):
    proxy, server = raw_server(http_answer("502 Proxy", b"proxied")), raw_server()
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy.origin)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    outcome = get(server.origin + "/pb")

    assert (outcome.http_code, len(server.requests), proxy.requests) == (200, 1, [])


def test_cookies_an_endpoint_sets_are_not_sent_back(raw_server):
    server = raw_server(http_answer("200 OK", b"ok", b"Set-Cookie: session=abc; Path=/"))
    # By name: a cookie jar would keep no cookie of a bare IP address anyway.
    url = server.origin.replace("127.0.0.1", "localhost") + "/pb"

    async def twice():
        async with outbound.new_session() as session:
            for _ in range(2):
                request = outbound.Request("GET", url, "", {})
                assert (await outbound.send(session, request)).http_code == 200

    asyncio.run(twice())

    assert [request.headers.get("cookie") for request in server.requests] == [None, None]


def test_requests_to_one_host_go_out_together(endpoint, affiliate, settings):
    """Nothing limits the connections to a host unless the sender asks: all of a batch's
    requests are open at once."""
    settings.POSTBACK_TOTAL_TIMEOUT = 3
    arrived = threading.Barrier(3, timeout=2)

    def answers_once_all_arrived(connection, _):
        arrived.wait()
        connection.sendall(http_answer("200 OK", b"ok"))

    server = endpoint(answers_once_all_arrived)
    postback = PostbackFactory(affiliate=affiliate, url=server.origin + "/pb")
    deliveries = [
        DeliveryFactory(affiliate=affiliate, postback=postback, url=server.origin + f"/pb?n={n}")
        for n in range(3)
    ]

    sender.send_claimed(queue.claim([delivery.pk for delivery in deliveries]))

    for delivery in deliveries:
        delivery.refresh_from_db()
    assert [(delivery.state, delivery.http_code) for delivery in deliveries] == [("succeeded", 200)] * 3


def concurrently(urls: list[str], **session_options) -> list[outbound.Outcome]:
    async def all_at_once():
        async with outbound.new_session(**session_options) as session:
            requests = [outbound.Request("GET", url, "", {}) for url in urls]
            return await asyncio.gather(*(outbound.send(session, request) for request in requests))

    return asyncio.run(all_at_once())


def test_a_session_opens_no_more_connections_to_a_host_than_its_limit(endpoint):
    """The sender's limit per affiliate server (sender.CONNECTIONS_PER_HOST): the requests past it
    wait for a connection, and all are answered."""
    open_now, most = [0], [0]
    lock = threading.Lock()

    def slow(connection, _):
        with lock:
            open_now[0] += 1
            most[0] = max(most[0], open_now[0])
        time.sleep(0.3)
        with lock:
            open_now[0] -= 1
        connection.sendall(OK)

    server = endpoint(slow)

    outcomes = concurrently([server.origin + f"/pb?n={n}" for n in range(5)], limit_per_host=2)

    assert [outcome.http_code for outcome in outcomes] == [200] * 5
    assert most[0] == 2


def test_a_session_has_no_limit_of_connections_over_all_hosts(endpoint, settings):
    """aiohttp would keep a client to 100 connections; the sender's one client serves every
    affiliate at once, so it has none: 101 requests are all open together."""
    settings.POSTBACK_TOTAL_TIMEOUT = 10
    arrived = threading.Barrier(101, timeout=5)

    def answers_once_all_arrived(connection, _):
        arrived.wait()
        connection.sendall(OK)

    server = endpoint(answers_once_all_arrived)

    outcomes = concurrently([server.origin + f"/pb?n={n}" for n in range(101)])

    assert [outcome.http_code for outcome in outcomes] == [200] * 101


def test_a_host_name_is_looked_up_again_once_a_minute_has_passed(raw_server, monkeypatch):
    """The client keeps a host's addresses for 60 seconds, so an affiliate moving their server is
    followed within a minute, and a busy host is not looked up for every request."""
    server = raw_server()  # answers with Connection: close: every request opens a connection
    url = server.origin.replace("127.0.0.1", "localhost") + "/pb"
    clock = [1000.0]
    monkeypatch.setattr(aiohttp.connector, "monotonic", lambda: clock[0])
    lookups = []
    resolve = outbound.PublicAddressResolver.resolve

    async def counted(self, host, *args, **kwargs):
        lookups.append(host)
        return await resolve(self, host, *args, **kwargs)

    monkeypatch.setattr(outbound.PublicAddressResolver, "resolve", counted)

    async def over_a_minute():
        looked_up = []
        async with outbound.new_session() as session:
            request = outbound.Request("GET", url, "", {})
            for seconds in (0, 59, 2):
                clock[0] += seconds
                assert (await outbound.send(session, request)).http_code == 200
                looked_up.append(len(lookups))
        return looked_up

    assert asyncio.run(over_a_minute()) == [1, 1, 2]


def test_an_address_refused_since_its_name_was_looked_up_is_refused_on_connecting(raw_server, settings):
    """The client keeps looked-up addresses for a while; the address is checked again on every
    connection, so a network no longer allowed is not reached through a name looked up before."""
    server = raw_server()
    url = server.origin.replace("127.0.0.1", "localhost") + "/pb"
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = "127.0.0.0/8"

    async def before_and_after():
        async with outbound.new_session() as session:
            request = outbound.Request("GET", url, "", {})
            allowed = await outbound.send(session, request)
            settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = "false"
            return allowed, await outbound.send(session, request)

    allowed, refused = asyncio.run(before_and_after())

    assert allowed.http_code == 200 and len(server.requests) == 1
    assert (refused.http_code, refused.error) == (
        0,
        "Could not connect: 127.0.0.1 is a private, local or reserved address: "
        "postbacks can only be sent to public addresses",
    )
