"""`manage.py metrics_server`: `GET /metrics` of a machine that runs no web process (README "Metrics").

A worker node's processes (the senders of affiliate postbacks, the click writer) count into the
machine's PROMETHEUS_MULTIPROC_DIR like every other process; with no web process there, this is
what serves those files. It answers their counters only: the shared state (deliveries due, the
click buffer) is read from PostgreSQL and Redis by the web nodes, which report it already. Who may
scrape and what the page says are decided by config.metrics, as for the web's page.
"""

import contextlib
import logging
import re
import signal
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.http import meta_key
from config.metrics import CONTENT_TYPE, metrics_text, scrape_allowed

logger = logging.getLogger(__name__)

ALLOWED_METHODS = ("GET", "HEAD")
# A connection not answered within this many seconds, however it trickles its bytes, is closed: a
# scrape takes milliseconds, and a client holding a thread is held to this.
REQUEST_SECONDS = 10
# Connections served at once; more are closed at once. Prometheus opens one per scrape.
MAX_CONNECTIONS = 64
# HOST:PORT, an IPv6 address in brackets ([::1]:9108).
HOST_AND_PORT = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:\[\]]+)):(?P<port>[0-9]{1,5})")


class Command(BaseCommand):
    help = (
        "Serve GET /metrics with the counters of this machine's processes, on a machine without a "
        "web process (Celery workers only). Never run it beside a web process: the same files "
        "would be counted twice."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--bind",
            metavar="HOST:PORT",
            help="Address to listen on (default: METRICS_SERVER_BIND, 127.0.0.1:9108). An IPv6 "
            "address goes in brackets: [::1]:9108.",
        )

    def handle(self, *args, bind=None, **options):
        if bind is None:
            bind, named = settings.METRICS_SERVER_BIND, "Environment variable METRICS_SERVER_BIND"
        else:
            named = "--bind"
        host, port = _host_and_port(bind, named)
        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        try:
            server = MetricsServer(host, port)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {_url_host(host)}:{port}: {exc}") from exc
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.stdout.write(f"metrics server listening on http://{_url_host(host)}:{port}/metrics")
        self.stdout.flush()  # the line says it is ready, also when stdout is a pipe
        stopping.wait()
        # Scrapes still being answered run in daemon threads: stopping never waits for a slow client.
        server.shutdown()
        server.server_close()


def _host_and_port(value: str, named: str) -> tuple[str, int]:
    match = HOST_AND_PORT.fullmatch(value)
    if not match or not 1 <= int(match["port"]) <= 65535:
        raise CommandError(f"{named} must be HOST:PORT, such as 127.0.0.1:9108 or [::1]:9108, not {value!r}.")
    return match["ipv6"] or match["host"], int(match["port"])


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class MetricsServer(ThreadingHTTPServer):
    """One thread per connection (daemon threads), so a slow or stalled client holds only its own,
    for REQUEST_SECONDS at most, and MAX_CONNECTIONS threads at most."""

    # Connections waiting to be taken in: room for the most served at once (the standard
    # library's 5 would leave later ones to the kernel's retries, in no order).
    request_queue_size = MAX_CONNECTIONS

    def __init__(self, host: str, port: int):
        self.address_family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        self.room = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__((host, port), ScrapeHandler)

    def process_request(self, request, client_address):
        if not self.room.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started to give the room back
            self.room.release()
            raise

    def handle_error(self, request, client_address):
        # A client that left before its answer (or was cut off) is no error of the server's.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            logger.exception("Metrics server: the request of %s failed", client_address[0])

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.room.release()


class ScrapeHandler(BaseHTTPRequestHandler):
    # A client that stops sending or reading for this long is dropped. HTTP/1.0 (the default): the
    # connection closes after each answer, so no idle connection keeps a thread.
    timeout = 10
    # The version of an answer to a request too malformed to name its own: with the standard
    # library's HTTP/0.9, its error would be a bare page without a status line.
    default_request_version = "HTTP/1.0"

    def setup(self):
        super().setup()
        self._deadline = threading.Timer(REQUEST_SECONDS, self._cut_off)
        self._deadline.daemon = True
        self._deadline.start()

    def finish(self):
        self._deadline.cancel()
        super().finish()

    def _cut_off(self):
        # A read or write under way then ends, and the handler with it.
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def parse_request(self):
        # A malformed request line, a line or header too long, too many headers: answered with a
        # 4xx by BaseHTTPRequestHandler itself.
        if not super().parse_request():
            return False
        if self.command not in ALLOWED_METHODS:
            allow = ", ".join(ALLOWED_METHODS)
            self._answer(HTTPStatus.METHOD_NOT_ALLOWED, b"Method Not Allowed\n", Allow=allow)
            return False
        return True

    def do_GET(self):
        # A refused scrape is told nothing, not even that the page exists.
        if urlsplit(self.path).path == "/metrics" and scrape_allowed(self._request_meta()):
            self._answer(HTTPStatus.OK, metrics_text(), content_type=CONTENT_TYPE)
        else:
            self._answer(HTTPStatus.NOT_FOUND, b"Not Found\n")

    do_HEAD = do_GET

    def _request_meta(self) -> dict:
        """The request as Django's request.META shows it, for config.metrics to judge: a header
        sent twice reads as its values joined by commas, as WSGI servers pass it on."""
        meta = {"REMOTE_ADDR": self.client_address[0]}
        for name, value in self.headers.items():
            key = meta_key(name)
            meta[key] = f"{meta[key]},{value}" if key in meta else value
        return meta

    def _answer(self, status: HTTPStatus, body: bytes, content_type="text/plain; charset=utf-8", **headers):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_request(self, code="-", size="-"):
        """No line per scrape: Prometheus asks every few seconds and shows a failed scrape's status
        on its targets page. What goes wrong here (a malformed request, a timeout) is still logged,
        control characters escaped."""
