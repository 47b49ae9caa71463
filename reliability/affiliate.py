"""The affiliates' servers: one process, one port per way of answering, and every request recorded.

    python -m reliability.affiliate

Behaviours, each on a port of its own (the postback sender tells hosts apart by host and port):
`ok` answers 200; `slow` answers 200 after half a second; `flaky` answers 500 to the first
FLAKY_FAILURES requests carrying an X-Postback-Id, then 200; `hangs` never answers; `redirects`
answers 302 to the `ok` server; `closes` reads the request and closes the connection. The
poisoned ones (POISONED) answer what no well-behaved server writes: `nul` a 200 with a NUL byte in
its body, `not-utf8` a 200 whose body and header are not UTF-8, `limited-superscript` a 429 with
`Retry-After: ²`, `busy-far-date` a 503 with a Retry-After date out of any calendar's range,
`huge-header` a 200 with a 64 KiB header, more than any client reads.

The process prints one JSON line with the port of each behaviour and of `control`, where
`/arrivals?prefix=/path` returns the requests recorded on paths starting with that prefix:
`[time, behaviour, target, X-Postback-Id, status answered (0: none)]`.
"""

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from urllib.parse import parse_qs, urlsplit

SLOW_SECONDS = 0.5
FLAKY_FAILURES = 2


def _raw_answer(status: bytes, body: bytes, *headers: bytes) -> bytes:
    """An answer of any bytes, that closes its connection."""
    head = [b"HTTP/1.1 " + status, b"Connection: close", b"Content-Length: %d" % len(body), *headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


# behaviour -> (the status the sender can read, 0 for none; the answer)
POISONED = {
    "nul": (200, _raw_answer(b"200 OK", b"accepted\x00")),
    "not-utf8": (200, _raw_answer(b"200 OK", b"ok \xff\xfe \xed\xa0\x80", b"X-Note: \xff\xfe")),
    "limited-superscript": (429, _raw_answer(b"429 Too Many Requests", b"", "Retry-After: ²".encode())),
    "busy-far-date": (
        503,
        _raw_answer(b"503 Busy", b"", b"Retry-After: Mon, 01 Jan 99999999999999999999 00:00:00 GMT"),
    ),
    "huge-header": (0, _raw_answer(b"200 OK", b"ok", b"X-Filler: " + b"a" * 65536)),
}
BEHAVIOURS = ["ok", "slow", "flaky", "hangs", "redirects", "closes", *POISONED]


class Affiliates:
    def __init__(self):
        self.arrivals: list[list] = []
        self.flaky_seen: Counter = Counter()
        self.ports: dict[str, int] = {}

    async def serve(self):
        servers = []
        for name in [*BEHAVIOURS, "control"]:
            server = await asyncio.start_server(
                lambda reader, writer, name=name: self.connection(name, reader, writer),
                "127.0.0.1",
                0,
                backlog=1024,
            )
            self.ports[name] = server.sockets[0].getsockname()[1]
            servers.append(server)
        print(json.dumps(self.ports), flush=True)
        await asyncio.gather(*(server.serve_forever() for server in servers))

    async def connection(self, name, reader, writer):
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                request_line, *lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines:
                    key, _, value = line.partition(":")
                    headers[key.strip().lower()] = value.strip()
                await reader.readexactly(int(headers.get("content-length") or 0))
                target = request_line.split(" ")[1]
                if name == "control":
                    await self.answer(writer, 200, self.control(target))
                    continue
                arrival = [time.time(), name, target, headers.get("x-postback-id", ""), 0]
                self.arrivals.append(arrival)
                if not await self.behave(name, arrival, reader, writer):
                    return
        finally:
            writer.close()

    async def behave(self, name, arrival, reader, writer) -> bool:
        """Answer as the behaviour says; False when the connection is to be closed."""
        status, headers = 200, {}
        if name == "slow":
            await asyncio.sleep(SLOW_SECONDS)
        elif name == "flaky":
            self.flaky_seen[arrival[3]] += 1
            if self.flaky_seen[arrival[3]] <= FLAKY_FAILURES:
                status = 500
        elif name == "hangs":
            await reader.read()  # until the sender gives up and closes
            return False
        elif name == "redirects":
            status, headers = 302, {"Location": f"http://127.0.0.1:{self.ports['ok']}{arrival[2]}"}
        elif name == "closes":
            return False
        elif name in POISONED:
            arrival[4], answer = POISONED[name]
            with contextlib.suppress(ConnectionError):  # the sender may stop reading first
                writer.write(answer)
                await writer.drain()
            return False
        await self.answer(writer, status, b"ok" if status == 200 else b"not now", headers)
        arrival[4] = status
        return True

    async def answer(self, writer, status: int, body: bytes, headers=None):
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
        lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()

    def control(self, target: str) -> bytes:
        parts = urlsplit(target)
        prefix = parse_qs(parts.query).get("prefix", [""])[0]
        return json.dumps([arrival for arrival in self.arrivals if arrival[2].startswith(prefix)]).encode()


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
