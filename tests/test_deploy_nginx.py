"""The web tier's nginx (deploy/nginx-site.conf), rendered by deploy/nginx.py and run by Debian's
nginx in front of a live upstream that records every byte it receives: what gunicorn would get."""

import contextlib
import gzip
import http.client
import os
import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import RequestFactory

from deploy import nginx
from tests.processes import free_port
from tracking.client_ip import client_ip

TRACKING_PATHS = ["/click", "/postback", "/pixel", "/healthz"]


@pytest.fixture(scope="module")
def nginx_installed():
    if not Path(nginx.NGINX).exists() or not shutil.which("openssl"):
        if os.environ.get("CI"):
            raise RuntimeError(
                "The nginx tests need Debian's nginx and openssl: apt-get install nginx openssl"
            )
        pytest.skip("needs Debian's nginx and openssl (apt-get install nginx openssl)")


@dataclass
class Request:
    head: str
    headers: dict[str, str]
    body: bytes

    @property
    def target(self) -> str:
        return self.head.split(" ")[1]


class Upstream:
    """An HTTP/1.1 server on 127.0.0.1 standing in for gunicorn: it records the bytes of each
    connection as they arrive, and answers each complete request 200, keeping the connection open."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections: list[bytearray] = []
        self.requests: list[Request] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.listener.accept()
                received = bytearray()
                with self.changed:
                    self.connections.append(received)
                threading.Thread(target=self._serve, args=(connection, received), daemon=True).start()

    def _serve(self, connection, received):
        pending = b""
        with connection, contextlib.suppress(OSError):
            while chunk := connection.recv(65536):
                with self.changed:
                    received.extend(chunk)
                    self.changed.notify_all()
                pending += chunk
                while b"\r\n\r\n" in pending:
                    head, rest = pending.split(b"\r\n\r\n", 1)
                    lines = head.decode("latin-1").split("\r\n")
                    headers = {
                        name.strip().lower(): value.strip()
                        for name, value in (line.split(":", 1) for line in lines[1:])
                    }
                    length = int(headers.get("content-length", "0"))
                    if len(rest) < length:
                        break
                    pending = rest[length:]
                    with self.changed:
                        self.requests.append(Request(lines[0], headers, rest[:length]))
                        self.changed.notify_all()
                    connection.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
                    )

    def request_to(self, target_start: str, timeout: float = 10) -> Request:
        with self.changed:
            found = self.changed.wait_for(
                lambda: next((r for r in self.requests if r.target.startswith(target_start)), None), timeout
            )
        assert found, f"the upstream received no request for {target_start}"
        return found

    def received(self, text: bytes) -> bool:
        with self.changed:
            return any(text in connection for connection in self.connections)

    def close(self):
        self.listener.close()


@dataclass
class Proxy:
    upstream: Upstream
    http_port: int
    https_port: int
    access_log: Path

    def get(self, target: str, headers: dict | None = None, *, tls: bool = False) -> http.client.HTTPResponse:
        if tls:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = (
                False,
                ssl.CERT_NONE,
            )  # a certificate of the test's own
            connection = http.client.HTTPSConnection(
                "127.0.0.1", self.https_port, timeout=10, context=context
            )
        else:
            connection = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        connection.request("GET", target, headers=headers or {})
        response = connection.getresponse()
        response.body = response.read()
        connection.close()
        return response

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.http_port), timeout=10)


@contextlib.contextmanager
def running_nginx(directory: Path, **site):
    """Debian's nginx, as its own process, on the site rendered with `site`, in front of an Upstream."""
    upstream = Upstream()
    http_port, https_port = free_port(), free_port()
    error_log, access_log = directory / "error.log", directory / "access.log"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"]
        + ["-keyout", str(directory / "key.pem"), "-out", str(directory / "certificate.pem")],
        check=True,
        capture_output=True,
    )
    nginx.write_standalone(
        nginx.Site(
            upstreams=[upstream.address],
            http_listen=[f"127.0.0.1:{http_port}"],
            https_listen=[f"127.0.0.1:{https_port}"],
            certificate=str(directory / "certificate.pem"),
            certificate_key=str(directory / "key.pem"),
            access_log=str(access_log),
            **site,
        ),
        directory / "nginx",
        error_log=error_log,
    )
    try:
        with nginx_serving(directory, error_log=error_log, http_port=http_port):
            yield Proxy(upstream, http_port, https_port, access_log)
    finally:
        upstream.close()


@contextlib.contextmanager
def nginx_serving(directory: Path, *, error_log: Path, http_port: int):
    """nginx started from the configuration written in `directory` / nginx, once it takes
    connections on `http_port`; stopped at the end."""
    process = subprocess.Popen(
        nginx.command(directory / "nginx", error_log=error_log), start_new_session=True
    )
    try:
        for _ in range(100):
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited at start:\n{error_log.read_text()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", http_port), timeout=1):
                break
            threading.Event().wait(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def static_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("staticfiles")
    (root / "css").mkdir()
    (root / "css" / "app.css").write_text("body { color: black }")
    (root / "css" / "app.0123456789ab.css").write_text("body { color: black }")
    (root / "css" / "app.0123456789ab.css.gz").write_bytes(gzip.compress(b"body { color: black }"))
    return root


@pytest.fixture(scope="module")
def proxy(nginx_installed, tmp_path_factory, static_root):
    with running_nginx(tmp_path_factory.mktemp("nginx"), static_root=str(static_root)) as proxy:
        yield proxy


def test_the_rendered_site_passes_nginx_own_check(nginx_installed, tmp_path):
    error_log = tmp_path / "error.log"
    nginx.write_standalone(
        nginx.Site(
            server_names=["track.example.com"],
            http_listen=["127.0.0.1:8080"],
            trusted_proxies=["10.0.0.0/8", "192.0.2.1"],
            access_log=str(tmp_path / "access.log"),
        ),
        tmp_path / "nginx",
        error_log=error_log,
    )
    checked = subprocess.run(
        nginx.command(tmp_path / "nginx", error_log=error_log, test=True), capture_output=True
    )

    assert checked.returncode == 0, checked.stderr.decode()


def test_a_value_that_would_add_nginx_directives_is_refused():
    with pytest.raises(ValueError, match="server_names"):
        nginx.render(nginx.Site(server_names=["track.example.com; return 200"]))
    with pytest.raises(ValueError, match="certificate"):
        nginx.render(nginx.Site(certificate="/etc/ssl/tracker.pem"))


def test_the_upstream_gets_the_visitors_address_not_the_one_the_client_claims(proxy, settings):
    response = proxy.get(
        "/click?visitor=claims", {"X-Real-IP": "203.0.113.7", "X-Forwarded-For": "203.0.113.8"}
    )

    assert response.status == 200
    received = proxy.upstream.request_to("/click?visitor=claims")
    assert received.headers["x-real-ip"] == "127.0.0.1"
    assert received.headers["x-forwarded-for"] == "127.0.0.1"
    for header in ("X-Real-IP", "X-Forwarded-For"):
        settings.CLIENT_IP_HEADER = header
        request = RequestFactory().get(
            "/click",
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_REAL_IP=received.headers["x-real-ip"],
            HTTP_X_FORWARDED_FOR=received.headers["x-forwarded-for"],
        )
        assert client_ip(request) == "127.0.0.1"


def test_behind_a_trusted_load_balancer_the_visitor_is_the_address_it_forwarded(nginx_installed, tmp_path):
    with running_nginx(tmp_path, trusted_proxies=["127.0.0.1"]) as proxy:
        proxy.get("/click?behind=balancer", {"X-Forwarded-For": "198.51.100.20, 198.51.100.4"})
        # Through two trusted hops, the address before the first of them.
        proxy.get("/click?behind=two", {"X-Forwarded-For": "198.51.100.20, 198.51.100.5, 127.0.0.1"})

        received = proxy.upstream.request_to("/click?behind=balancer")
        through_two = proxy.upstream.request_to("/click?behind=two")
    assert received.headers["x-real-ip"] == "198.51.100.4"
    assert received.headers["x-forwarded-for"] == "198.51.100.4"
    assert through_two.headers["x-real-ip"] == "198.51.100.5"


def test_a_header_sent_slowly_reaches_the_upstream_only_once_complete(proxy):
    slow = proxy.connect()
    for byte in b"GET /click?slow=header HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: s":
        slow.send(bytes([byte]))
    # A visitor arriving after the slow one is served meanwhile.
    assert proxy.get("/healthz?while=slow-header").status == 200
    proxy.upstream.request_to("/healthz?while=slow-header")
    assert not proxy.upstream.received(b"slow=header")

    slow.sendall(b"low\r\n\r\n")
    answer = slow.recv(65536)
    slow.close()

    assert answer.startswith(b"HTTP/1.1 200")
    assert proxy.upstream.request_to("/click?slow=header").headers["user-agent"] == "slow"


def test_a_body_sent_slowly_reaches_the_upstream_only_once_complete(proxy):
    body = b"clickid=abc&status=1&sum=12.50"
    slow = proxy.connect()
    slow.sendall(
        b"POST /postback?slow=body HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body[:10]
    )
    assert proxy.get("/healthz?while=slow-body").status == 200
    proxy.upstream.request_to("/healthz?while=slow-body")
    assert not proxy.upstream.received(b"slow=body")

    slow.sendall(body[10:])
    answer = slow.recv(65536)
    slow.close()

    assert answer.startswith(b"HTTP/1.1 200")
    assert proxy.upstream.request_to("/postback?slow=body").body == body


def test_connections_to_the_upstream_are_kept_open_between_requests(proxy):
    for number in range(5):
        proxy.get(f"/click?kept=alive-{number}")
    proxy.upstream.request_to("/click?kept=alive-4")

    with_them = [c for c in proxy.upstream.connections if b"kept=alive" in c]
    assert len(with_them) == 1
    received = proxy.upstream.request_to("/click?kept=alive-0")
    assert received.head.endswith("HTTP/1.1")
    assert "connection" not in received.headers


def test_tracking_endpoints_are_answered_on_http_and_the_rest_redirected_to_https(proxy):
    for path in TRACKING_PATHS:
        response = proxy.get(f"{path}?over=http")
        assert response.status == 200, path
        assert proxy.upstream.request_to(f"{path}?over=http").headers["x-forwarded-proto"] == "http"
    for target in ["/", "/offers/?q=1", "/admin/", "/api/v1/offers/", "/static/css/app.css", "/clicks"]:
        response = proxy.get(target, {"Host": "track.example.com"})
        assert response.status == 301, target
        assert response.getheader("Location") == f"https://track.example.com{target}"

    assert proxy.get("/offers/?over=https", tls=True).status == 200
    assert proxy.upstream.request_to("/offers/?over=https").headers["x-forwarded-proto"] == "https"


def test_an_oversized_tracking_body_is_refused_with_a_json_answer_before_the_upstream(proxy):
    body = b"x" * (65 * 1024)
    connection = http.client.HTTPConnection("127.0.0.1", proxy.http_port, timeout=10)
    connection.request("POST", "/postback?too=large", body=body)
    response = connection.getresponse()

    assert response.status == 413
    assert response.getheader("Content-Type") == "application/json"
    assert response.read() == b'{"status": 2, "message": "Invalid request: body larger than 64 KB"}'
    assert not proxy.upstream.received(b"too=large")


def test_static_files_are_served_from_disk_hashed_names_cached_for_a_year(proxy):
    hashed = proxy.get("/static/css/app.0123456789ab.css", {"Accept-Encoding": "gzip"}, tls=True)
    plain = proxy.get("/static/css/app.css", tls=True)

    assert hashed.status == 200
    assert hashed.getheader("Content-Encoding") == "gzip"
    assert gzip.decompress(hashed.body) == b"body { color: black }"
    assert hashed.getheader("Cache-Control") == "public, max-age=31536000, immutable"
    assert plain.body == b"body { color: black }"
    assert plain.getheader("Cache-Control") == "public, max-age=60"
    assert not proxy.upstream.received(b"/static/")


def test_the_access_log_leaves_out_query_strings(proxy):
    proxy.get("/postback?clickid=abc&secure=advertiser-secret-code")

    proxy.upstream.request_to("/postback?clickid=abc")
    log = proxy.access_log.read_text()
    assert "/postback" in log
    assert "advertiser-secret-code" not in log
