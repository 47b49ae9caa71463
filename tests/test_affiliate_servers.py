"""The affiliates' servers that the benchmarks and the fault suite send postbacks to
(bench/sink.py, reliability/affiliate.py), run as those start them and called through the
postback sender's HTTP client: each answers as its name says and records what it received."""

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request

import aiohttp
import pytest

from postbacks import outbound
from reliability.affiliate import POISONED, SLOW_SECONDS, AffiliateServers
from tests.processes import ROOT, free_port, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def affiliates():
    servers = AffiliateServers(ROOT, sys.stderr)
    yield servers
    servers.stop()


def send(url: str, postback_id: str = "", method: str = "GET") -> outbound.Outcome:
    async def sending():
        async with outbound.new_session() as session:
            request = outbound.Request(
                method, url, "a=1" if method == "POST" else "", {"X-Postback-Id": postback_id}
            )
            return await outbound.send(session, request)

    return asyncio.run(sending())


def test_the_healthy_slow_and_redirecting_servers_answer_and_record_each_request(affiliates):
    started = time.monotonic()
    slow = send(affiliates.url("slow", "/healthy/slow?cid=1"), "id-slow")
    assert (slow.http_code, slow.excerpt) == (200, "ok")
    assert time.monotonic() - started >= SLOW_SECONDS
    ok = send(affiliates.url("ok", "/healthy/ok?cid=2&status=2"), "id-ok", method="POST")
    assert (ok.http_code, ok.excerpt) == (200, "ok")
    redirect = send(affiliates.url("redirects", "/healthy/redirects?cid=3"))
    assert redirect.http_code == 302
    assert affiliates.url("ok", "/healthy/redirects?cid=3") in redirect.error

    assert [arrival[1:] for arrival in affiliates.arrivals("/healthy/")] == [
        ["slow", "/healthy/slow?cid=1", "id-slow", 200],
        ["ok", "/healthy/ok?cid=2&status=2", "id-ok", 200],
        ["redirects", "/healthy/redirects?cid=3", "", 302],
    ]


def test_the_flaky_server_fails_each_postback_twice_then_answers_it(affiliates):
    codes = [send(affiliates.url("flaky", "/flaky/one"), "id-one").http_code for _ in range(3)]
    other = send(affiliates.url("flaky", "/flaky/other"), "id-other").http_code
    assert (codes, other) == ([500, 500, 200], 500)


def test_the_hanging_and_closing_servers_leave_requests_unanswered(affiliates, settings):
    settings.POSTBACK_TOTAL_TIMEOUT = 1
    hung = send(affiliates.url("hangs", "/unanswered/hangs"))
    closed = send(affiliates.url("closes", "/unanswered/closes"))
    assert (hung.http_code, hung.error) == (0, "Timed out: no complete answer in 1 s")
    assert (closed.http_code, closed.error) == (0, "ServerDisconnectedError: Server disconnected")
    # The HTTP client tries a request on a connection closed before any answer once more.
    assert {(arrival[1], arrival[4]) for arrival in affiliates.arrivals("/unanswered/")} == {
        ("hangs", 0),
        ("closes", 0),
    }


def test_each_poisoned_server_answers_the_status_the_fault_suite_expects_the_sender_to_read(affiliates):
    outcomes = {name: send(affiliates.url(name, f"/poisoned/{name}")) for name in POISONED}

    assert {name: outcome.http_code for name, outcome in outcomes.items()} == {
        name: status for name, (status, _) in POISONED.items()
    }
    assert outcomes["nul"].excerpt == "accepted\ufffd"
    assert outcomes["not-utf8"].excerpt == "ok \ufffd\ufffd \ufffd\ufffd\ufffd"
    assert outcomes["limited-superscript"].retry_after == "²"
    assert outcomes["busy-far-date"].retry_after == "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"
    assert outcomes["huge-header"].error.startswith("Invalid HTTP answer: Got more than")
    assert {arrival[1]: arrival[4] for arrival in affiliates.arrivals("/poisoned/")} == {
        name: status for name, (status, _) in POISONED.items()
    }


def test_the_not_utf8_server_writes_header_bytes_that_are_not_utf8(affiliates):
    with socket.create_connection(("127.0.0.1", affiliates.ports["not-utf8"])) as connection:
        connection.sendall(b"GET /raw/not-utf8 HTTP/1.1\r\nHost: affiliate\r\n\r\n")
        received = b""
        while data := connection.recv(65536):
            received += data
    assert b"\r\nX-Note: \xff\xfe\r\n" in received
    assert received.endswith(b"\r\n\r\nok \xff\xfe \xed\xa0\x80")


def test_the_benchmark_sink_records_every_request_and_the_connections_open_at_once():
    sink, never, control = (f"{host}:{free_port(host)}" for host in ("127.0.0.1", "127.0.0.2", "127.0.0.1"))
    process = subprocess.Popen([sys.executable, "-m", "bench.sink", sink, never, control], cwd=ROOT)

    def ask(path):
        with urllib.request.urlopen(f"http://{control}{path}", timeout=10) as answer:
            return json.loads(answer.read())

    async def requests(count: int, connections: int):
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:

            async def request(number):
                async with session.get(
                    f"http://{sink}/postback?n={number}", headers={"X-Postback-Id": str(number)}
                ) as answer:
                    return answer.status, await answer.text()

            return await asyncio.gather(*(request(number) for number in range(count)))

    async def unanswered():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
            with pytest.raises(TimeoutError):
                await session.get(f"http://{never}/postback")

    try:
        assert wait_until(lambda: _answers(control), timeout=10)
        assert asyncio.run(requests(40, connections=4)) == [(200, "ok")] * 40
        stats = ask("/stats")
        assert (stats["requests"], stats["distinct_ids"], stats["peak_connections"]) == (40, 40, 4)
        assert stats["first"] <= stats["last"]
        assert sorted(target for _, _, target in ask("/arrivals")) == sorted(
            f"/postback?n={n}" for n in range(40)
        )
        asyncio.run(unanswered())
        assert ask("/reset") == {} and ask("/stats")["requests"] == 0
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(address: str) -> bool:
    try:
        urllib.request.urlopen(f"http://{address}/stats", timeout=1).close()
    except OSError:
        return False
    return True
