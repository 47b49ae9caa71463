"""The affiliates' servers: one process, one port per way of answering, and every request recorded.

    python -m reliability.affiliate

Behaviours, each on a port of its own (the postback sender tells hosts apart by host and port):
`ok` answers 200; `slow` answers 200 after half a second; `flaky` answers 500 to the first
FLAKY_FAILURES requests carrying an X-Postback-Id, then 200; `hangs` never answers; `redirects`
answers 302 to the `ok` server; `closes` reads the request and closes the connection. The
poisoned ones (POISONED) answer what no well-behaved server writes: `nul` a 200 with a NUL byte in
its body, `not-utf8` a 200 whose body and header are not UTF-8, `limited-superscript` a 429 with
`Retry-After: ²`, `busy-far-date` a 503 with a Retry-After date out of any calendar's range,
`huge-header` a 200 with a 64 KiB header, more than any client reads. Each server is aiohttp.web's
low-level server.

The process prints one JSON line with the port of each behaviour and of `control`, where
`/arrivals?prefix=/path` returns the requests recorded on paths starting with that prefix:
`[time, behaviour, target, X-Postback-Id, status answered (0: none)]`.
"""

import asyncio
import functools
import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable

from aiohttp import web

SLOW_SECONDS = 0.5
FLAKY_FAILURES = 2

Answer = Callable[[web.BaseRequest], web.Response]


def _closing(status: int, reason: str, body: bytes, headers=None) -> Answer:
    """An answer that closes its connection."""

    def answer(request: web.BaseRequest) -> web.Response:
        response = web.Response(status=status, reason=reason, body=body, headers=headers)
        response.force_close()
        return response

    return answer


def _not_utf8(request: web.BaseRequest) -> web.Response:
    """A 200 whose body and header are not UTF-8, that closes its connection."""
    # Written to the connection itself: aiohttp.web writes every header value as UTF-8.
    body = b"ok \xff\xfe \xed\xa0\x80"
    head = [b"HTTP/1.1 200 OK", b"Connection: close", b"Content-Length: %d" % len(body), b"X-Note: \xff\xfe"]
    request.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
    return _unanswered(request)


def _unanswered(request: web.BaseRequest) -> web.Response:
    """Close the connection without (another) answer."""
    # aiohttp.web answers every request it hands a handler: only closing the transport leaves one
    # unanswered. The response returned is never written, the connection being closed.
    request.transport.close()
    return web.Response()


# behaviour -> (the status the sender can read, 0 for none; its answer)
POISONED = {
    "nul": (200, _closing(200, "OK", b"accepted\x00")),
    "not-utf8": (200, _not_utf8),
    "limited-superscript": (429, _closing(429, "Too Many Requests", b"", {"Retry-After": "²"})),
    "busy-far-date": (
        503,
        _closing(503, "Busy", b"", {"Retry-After": "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"}),
    ),
    "huge-header": (0, _closing(200, "OK", b"ok", {"X-Filler": "a" * 65536})),
}
BEHAVIOURS = ["ok", "slow", "flaky", "hangs", "redirects", "closes", *POISONED]


class Affiliates:
    def __init__(self):
        self.arrivals: list[list] = []
        self.flaky_seen: Counter = Counter()
        self.ports: dict[str, int] = {}

    async def serve(self):
        loop = asyncio.get_running_loop()
        servers = []
        for name in [*BEHAVIOURS, "control"]:
            handler = self.control if name == "control" else functools.partial(self.behave, name)
            # Cancelling a handler whose client has closed the connection is how `hangs` stops waiting.
            server = web.Server(handler, handler_cancellation=True)
            listening = await loop.create_server(server, "127.0.0.1", 0, backlog=1024)
            self.ports[name] = listening.sockets[0].getsockname()[1]
            servers.append(listening)
        print(json.dumps(self.ports), flush=True)
        await asyncio.gather(*(server.serve_forever() for server in servers))

    async def behave(self, name: str, request: web.BaseRequest) -> web.StreamResponse:
        """Record the request and answer as the behaviour says."""
        await request.read()
        arrival = [time.time(), name, request.raw_path, request.headers.get("X-Postback-Id", ""), 0]
        self.arrivals.append(arrival)
        status, headers = 200, {}
        if name == "slow":
            await asyncio.sleep(SLOW_SECONDS)
        elif name == "flaky":
            self.flaky_seen[arrival[3]] += 1
            if self.flaky_seen[arrival[3]] <= FLAKY_FAILURES:
                status = 500
        elif name == "hangs":
            await asyncio.Event().wait()  # until the sender gives up and closes
        elif name == "redirects":
            status, headers = 302, {"Location": f"http://127.0.0.1:{self.ports['ok']}{arrival[2]}"}
        elif name == "closes":
            return _unanswered(request)
        elif name in POISONED:
            arrival[4], answer = POISONED[name]
            return answer(request)
        response = web.Response(status=status, body=b"ok" if status == 200 else b"not now", headers=headers)
        await response.prepare(request)
        await response.write_eof()
        arrival[4] = status
        return response

    async def control(self, request: web.BaseRequest) -> web.Response:
        prefix = request.query.get("prefix", "")
        return web.json_response([arrival for arrival in self.arrivals if arrival[2].startswith(prefix)])


class AffiliateServers:
    """The affiliates' server process, seen from the suite."""

    def __init__(self, cwd, log):
        self._process = subprocess.Popen(
            [sys.executable, "-m", "reliability.affiliate"],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        self.ports = json.loads(self._process.stdout.readline())

    def url(self, behaviour: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[behaviour]}{path}"

    def arrivals(self, prefix: str) -> list[list]:
        address = f"http://127.0.0.1:{self.ports['control']}/arrivals?prefix={prefix}"
        with urllib.request.urlopen(address, timeout=30) as answer:
            return json.loads(answer.read())

    def stop(self):
        self._process.terminate()
        self._process.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(Affiliates().serve())
