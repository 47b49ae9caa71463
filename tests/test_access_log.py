"""The web process as gunicorn runs it: every line it logs for a request is one line, whatever the
request's path holds, and it reads request lines as long as nginx passes on."""

import socket
import sys

import pytest

from tests.processes import free_port, running, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def send(port: int, target: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return b"".join(iter(lambda: connection.recv(65536), b""))


@pytest.fixture
def gunicorn():
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi",
        "--config",
        "config/gunicorn.py",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
    ]
    with running(command, "Booting worker", timeout=60, env={"WEB_THREADS": "2"}) as process:
        yield port, process.output


def test_a_path_with_encoded_line_breaks_cannot_forge_a_line_in_the_access_log(gunicorn):
    port, output = gunicorn
    forged = '127.0.0.1 [01/Jan/2030:00:00:00 +0000] "GET /admin/ HTTP/1.1" 200'
    target = b"/healthz-nope%0d%0a" + forged.replace(" ", "%20").encode() + b"%0b%1b%5b31m%7f%c2%85"

    assert send(port, target).startswith(b"HTTP/1.1 404")
    assert send(port, b"/p%C3%A4ge-%FF").startswith(b"HTTP/1.1 404")

    # The path as the application read it: UTF-8, an invalid byte kept percent-encoded.
    assert wait_until(lambda: sum('"GET /p\u00e4ge-%FF HTTP/1.1" 404' in line for line in output) == 1)
    text = "".join(output)
    assert not any(line.startswith("127.0.0.1 [01/Jan/2030") for line in text.splitlines())
    access = next(line for line in text.splitlines() if "/healthz-nope" in line and '" 404 ' in line)
    # gunicorn escapes the quotes itself.
    shown = forged.replace('"', '\\"')
    assert "/healthz-nope\\x0d\\x0a" + shown + "\\x0b\\x1b[31m\\x7f\\x85 HTTP/1.1" in access


def test_a_tracking_link_as_long_as_nginx_passes_on_reaches_the_application(gunicorn):
    port, _ = gunicorn
    # An 8 KB request line, as deploy/nginx-site.conf lets through: answered by /click itself.
    target = b"/click?pid=1&offer_id=1&sub1=" + b"a" * (
        8190 - len(b"GET /click?pid=1&offer_id=1&sub1= HTTP/1.1") - 1
    )

    answer = send(port, target)

    assert answer.startswith(b"HTTP/1.1 400") and b"longer than 512 characters" in answer
