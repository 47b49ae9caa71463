"""The web tier's nginx (deploy/nginx-site.conf) in front of several web nodes, one of them down:
which requests it sends on to the next node, run by Debian's nginx against live stand-ins."""

import contextlib
import http.client
import socket
import threading
from pathlib import Path

import pytest

from deploy import nginx
from tests.processes import free_port
from tests.test_deploy_nginx import Upstream, nginx_installed, nginx_serving  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("nginx_installed")


class DyingNode:
    """A web node that dies with the request in hand: it reads each request whole, then closes
    the connection without an answer, as a gunicorn SIGKILLed mid-request does."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.targets: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.listener.accept()
                with connection:
                    received = b""
                    while b"\r\n\r\n" not in received and (chunk := connection.recv(65536)):
                        received += chunk
                    if received:
                        self.targets.append(received.split(b" ", 2)[1].decode())

    def close(self):
        self.listener.close()


def refused_address() -> str:
    """An address nothing listens on: a node whose processes are gone."""
    return f"127.0.0.1:{free_port()}"


@contextlib.contextmanager
def nginx_before(directory: Path, upstreams: list[str]):
    http_port, error_log = free_port(), directory / "error.log"
    nginx.write_standalone(
        nginx.Site(
            upstreams=upstreams,
            http_listen=[f"127.0.0.1:{http_port}"],
            access_log=str(directory / "access.log"),
        ),
        directory / "nginx",
        error_log=error_log,
    )
    with nginx_serving(directory, error_log=error_log, http_port=http_port):
        yield http_port


def send(port: int, method: str, target: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = b"clickid=abc&status=1" if method == "POST" else None
    connection.request(method, target, body=body)
    status = connection.getresponse().status
    connection.close()
    return status


@pytest.mark.parametrize(
    ("method", "target"),
    [("GET", "/click"), ("GET", "/postback"), ("POST", "/postback"), ("GET", "/pixel")],
)
def test_a_tracking_request_a_dying_node_dropped_is_answered_by_the_next_node(tmp_path, method, target):
    dying, alive = DyingNode(), Upstream()
    with nginx_before(tmp_path, [dying.address, alive.address]) as port:
        # Each node in turn: the dying node gets the first request, or the second.
        statuses = [send(port, method, f"{target}?n={n}") for n in range(2)]
    dying.close()
    alive.close()

    assert statuses == [200, 200]
    assert len(dying.targets) == 1
    assert [request.target for request in alive.requests].count(dying.targets[0]) == 1


def test_a_portal_post_a_dying_node_dropped_is_answered_502_never_sent_again(tmp_path):
    dying, alive = DyingNode(), Upstream()
    with nginx_before(tmp_path, [dying.address, alive.address]) as port:
        statuses = [send(port, "POST", f"/api/v1/offers/?n={n}") for n in range(2)]
    dying.close()
    alive.close()

    assert sorted(statuses) == [200, 502]
    assert len(dying.targets) == 1
    assert dying.targets[0] not in [request.target for request in alive.requests]


def test_a_node_that_refuses_connections_is_passed_over_for_every_request(tmp_path):
    alive = Upstream()
    with nginx_before(tmp_path, [refused_address(), alive.address]) as port:
        statuses = [
            send(port, method, target) for method in ("GET", "POST") for target in ("/click", "/api/v1/")
        ]
    alive.close()

    # Never sent to the node that is down: safe to send on, whatever the request.
    assert statuses == [200, 200, 200, 200]
    assert len(alive.requests) == 4


def test_a_tracking_request_goes_to_two_nodes_at_most(tmp_path):
    nodes = [DyingNode() for _ in range(3)]
    with nginx_before(tmp_path, [node.address for node in nodes]) as port:
        status = send(port, "GET", "/postback?clickid=abc")
    for node in nodes:
        node.close()

    assert status == 502
    assert sum(len(node.targets) for node in nodes) == 2
