"""`manage.py metrics_server`: /metrics of a machine that runs only Celery workers, with the
counters of its processes, for operators' scrapers only.

The server runs as a real process on PROMETHEUS_MULTIPROC_DIR of the test run (config.settings put
it in os.environ, which every process started here inherits), so the tests compare a counter
before and after an event, as tests/test_metrics.py does."""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from ops.management.commands.metrics_server import MAX_CONNECTIONS, REQUEST_SECONDS
from tests.processes import ROOT, free_port, running, wait_until
from tests.test_metrics import in_flight_in_another_process, samples_of, value

pytestmark = pytest.mark.e2e

TOKEN = "worker-scrape-token-1"


@contextlib.contextmanager
def metrics_server(*, bind_option=True, **env):
    """`manage.py metrics_server` on a free loopback port, from the moment it listens. Yields the
    process and its port."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    command = [sys.executable, "manage.py", "metrics_server"]
    if bind_option:
        command += ["--bind", address]
    else:
        env["METRICS_SERVER_BIND"] = address
    with running(command, f"metrics server listening on http://{address}/metrics", 60, env) as process:
        yield process, port


@pytest.fixture(scope="module")
def server_port():
    # Started the way a worker node's unit starts it: the address from METRICS_SERVER_BIND.
    with metrics_server(bind_option=False, METRICS_TOKEN=TOKEN) as (_, port):
        yield port


def request(port, path="/metrics", method="GET", headers=None) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def scrape(port, headers=None) -> dict:
    status, response_headers, body = request(port, headers=headers)
    assert status == 200
    assert response_headers["Content-Type"].startswith("text/plain; version=")
    return samples_of(body.decode())


def raw_answer(port, data: bytes) -> bytes:
    """The status line the server answers `data` with, sent as is over a socket."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(data)
        return connection.makefile("rb").readline()


# --- What it serves -------------------------------------------------------------------------------


def test_the_counts_of_the_machines_worker_processes_are_served(server_port):
    labels = {"result": "success", "kind": "live"}
    before = value(scrape(server_port), "tracker_postback_attempts_total", **labels)
    counting = (
        "from config.metrics import postback_attempts_counted; "
        "postback_attempts_counted('success', 'live').inc(3)"
    )
    subprocess.run([sys.executable, "-c", counting], cwd=ROOT, env=os.environ, check=True, timeout=60)
    assert value(scrape(server_port), "tracker_postback_attempts_total", **labels) - before == 3


def test_a_senders_requests_in_flight_are_served_while_it_runs(server_port):
    with in_flight_in_another_process("worker-node.example", 2):
        assert value(scrape(server_port), "tracker_postback_in_flight", host="worker-node.example") == 2


def test_the_shared_state_is_left_to_the_web_nodes(server_port):
    # Every web node reads it from PostgreSQL and Redis; a worker node adds only its counters.
    _, _, body = request(server_port)
    assert b"tracker_postback_attempts_total" in body
    for state in ("tracker_deliveries_due", "tracker_postbacks_disabled", "tracker_click_buffer_backlog"):
        assert state.encode() not in body


def test_a_head_request_gets_the_headers_only(server_port):
    status, headers, body = request(server_port, method="HEAD")
    assert status == 200
    assert int(headers["Content-Length"]) > 0
    assert body == b""


# --- Who may scrape ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "proxy_header",
    [{"X-Real-IP": "127.0.0.1"}, {"X-Forwarded-For": "127.0.0.1"}, {"Forwarded": "for=127.0.0.1"}],
)
def test_a_request_passed_on_by_a_proxy_is_never_let_in_by_its_address(server_port, proxy_header):
    status, _, body = request(server_port, headers=proxy_header)
    assert status == 404
    assert b"tracker_" not in body


def test_the_token_lets_a_scrape_in_even_through_a_proxy(server_port):
    samples = scrape(
        server_port, headers={"Authorization": f"Bearer {TOKEN}", "X-Forwarded-For": "203.0.113.7"}
    )
    assert any(name == "tracker_postback_attempts_total" for name, _ in samples)
    wrong = {"Authorization": f"Bearer {TOKEN}x", "X-Forwarded-For": "203.0.113.7"}
    assert request(server_port, headers=wrong)[0] == 404


def test_an_address_outside_metrics_allowed_ips_is_refused_without_the_token():
    with metrics_server(METRICS_ALLOWED_IPS="10.9.0.0/16", METRICS_TOKEN=TOKEN) as (_, port):
        assert request(port)[0] == 404
        assert request(port, headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200


# --- Anything else ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/metrics/", "/metricsx", "/admin/", "/../metrics"])
def test_any_other_path_is_not_found(server_port, path):
    assert request(server_port, path=path)[0] == 404


def test_a_query_string_is_ignored(server_port):
    assert request(server_port, path="/metrics?format=text")[0] == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_methods_other_than_get_and_head_are_not_allowed(server_port, method):
    status, headers, body = request(server_port, method=method)
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    assert b"tracker_" not in body


@pytest.mark.parametrize(
    ("data", "status"),
    [
        # Each exactly as much as the server reads before it refuses: nothing is left unread to
        # reset the connection before the answer arrives.
        (b"NONSENSE\r\n", b"400"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n", b"400"),  # TLS spoken to plain http
        (b"GET /metrics HTTP/x.y\r\n", b"400"),
        (b"GET /" + b"a" * (65537 - 5), b"414"),
        (b"GET /metrics HTTP/1.1\r\n" + b"X-Filler: a\r\n" * 101, b"431"),
    ],
)
def test_a_malformed_request_gets_a_client_error_and_the_server_keeps_answering(server_port, data, status):
    assert raw_answer(server_port, data).split()[1] == status
    assert request(server_port)[0] == 200


def test_a_stalled_client_holds_up_no_other_scrape(server_port):
    with socket.create_connection(("127.0.0.1", server_port), timeout=10) as stalled:
        stalled.sendall(b"GET /metrics HTTP/1.1\r\nHost: wor")
        started = time.monotonic()
        assert request(server_port)[0] == 200
        assert time.monotonic() - started < 5


def test_a_client_trickling_its_request_is_cut_off_at_the_deadline(server_port):
    with socket.create_connection(("127.0.0.1", server_port), timeout=30) as trickling:
        started = time.monotonic()
        closed = False
        for byte in b"GET /metrics HTTP/1.1\r\nHost: " + b"w" * 40:
            try:
                trickling.sendall(bytes([byte]))
            except OSError:  # the server closed it
                closed = True
                break
            time.sleep(0.5)  # each byte well within the read timeout
        if not closed:
            trickling.settimeout(30)
            assert trickling.recv(1024) == b""
        assert REQUEST_SECONDS <= time.monotonic() - started < REQUEST_SECONDS + 5


def test_connections_beyond_the_limit_are_closed_at_once_and_scrapes_go_on_after():
    with metrics_server() as (process, port):
        address = ("127.0.0.1", port)
        stalled = [socket.create_connection(address, timeout=10) for _ in range(MAX_CONNECTIONS)]
        try:
            for connection in stalled:
                connection.sendall(b"GET /metrics HTTP/1.1\r\n")
            time.sleep(0.5)  # all taken in
            with socket.create_connection(address, timeout=10) as one_more:
                one_more.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
                started = time.monotonic()
                assert one_more.recv(1024) == b""
                assert time.monotonic() - started < 5
        finally:
            for connection in stalled:
                connection.close()

        def scraped():
            # Refused at once while the threads of the closed connections are still finishing.
            with contextlib.suppress(OSError):
                return request(port)[0] == 200

        assert wait_until(scraped, timeout=10)
        # Clients that left before their answer are no error of the server's: nothing logged.
        assert "Traceback" not in "".join(process.output), "".join(process.output)


# --- Starting and stopping --------------------------------------------------------------------------


def test_sigterm_stops_it_promptly_even_with_a_stalled_client():
    with (
        metrics_server() as (process, port),
        socket.create_connection(("127.0.0.1", port), timeout=10) as stalled,
    ):
        stalled.sendall(b"GET /metrics HTTP/1.1\r\n")
        time.sleep(0.2)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        assert time.monotonic() - started < 5
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


@pytest.mark.parametrize(
    "bind", ["9108", "127.0.0.1:", "127.0.0.1:http", "::1:9108", "127.0.0.1:70000", ":9108"]
)
def test_a_malformed_address_stops_it_at_start_naming_the_variable(bind):
    result = subprocess.run(
        [sys.executable, "manage.py", "metrics_server"],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "true", "METRICS_SERVER_BIND": bind},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Environment variable METRICS_SERVER_BIND" in result.stderr and repr(bind) in result.stderr


def test_a_malformed_bind_option_is_named_in_the_error():
    result = subprocess.run(
        [sys.executable, "manage.py", "metrics_server", "--bind", "localhost"],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "--bind must be HOST:PORT" in result.stderr


def test_an_ipv6_address_is_listened_on_in_brackets():
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "manage.py", "metrics_server", "--bind", f"[::1]:{port}"]
    with running(command, f"metrics server listening on http://[::1]:{port}/metrics", 60, None):
        connection = http.client.HTTPConnection("::1", port, timeout=10)
        connection.request("GET", "/metrics")
        assert connection.getresponse().status == 200
        connection.close()
