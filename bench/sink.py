"""An affiliate's server for the delivery benchmark: a minimal asyncio HTTP/1.1 server.

It answers 200 "ok" to every request on its address, with keep-alive, and records each request's
arrival time, X-Postback-Id header and target. A second address accepts connections and never
answers (an affiliate whose server hangs). A third one answers the benchmark's questions:
`/stats` (counts, first and last arrival, most connections open at once), `/arrivals` (every
request recorded) and `/reset`.

    python -m bench.sink <host:port> <never-answering host:port> <control host:port>
"""

import asyncio
import json
import sys
import time


class Recorder:
    def __init__(self):
        self.reset()

    def reset(self):
        self.arrivals: list[tuple[float, str, str]] = []
        self.connections = 0
        self.peak_connections = 0

    def opened(self):
        self.connections += 1
        self.peak_connections = max(self.peak_connections, self.connections)

    def closed(self):
        self.connections -= 1

    def stats(self) -> dict:
        times = [arrival[0] for arrival in self.arrivals]
        return {
            "requests": len(self.arrivals),
            "distinct_ids": len({arrival[1] for arrival in self.arrivals if arrival[1]}),
            "first": min(times, default=None),
            "last": max(times, default=None),
            "peak_connections": self.peak_connections,
        }


class Http(asyncio.Protocol):
    """HTTP/1.1 with keep-alive; `answer(target, headers)` gives the body of the 200 answer."""

    def __init__(self, answer, recorder=None):
        self.answer, self.recorder, self.buffer = answer, recorder, b""

    def connection_made(self, transport):
        self.transport = transport
        if self.recorder:
            self.recorder.opened()

    def connection_lost(self, exc):
        if self.recorder:
            self.recorder.closed()

    def data_received(self, data):
        self.buffer += data
        out = []
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            request_line, *lines = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                break
            self.buffer = self.buffer[end + 4 + length :]
            body = self.answer(request_line.split(" ")[1], headers)
            out.append(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body)
            )
            out.append(body)
        if out:
            self.transport.write(b"".join(out))


class NeverAnswers(asyncio.Protocol):
    """Takes the connection and the request, and says nothing until the client gives up."""

    def data_received(self, data):
        pass


async def serve(address: str, never_address: str, control_address: str):
    recorder = Recorder()

    def record(target, headers):
        recorder.arrivals.append((time.time(), headers.get("x-postback-id", ""), target))
        return b"ok"

    def control(target, headers):
        if target == "/reset":
            recorder.reset()
            return b"{}"
        if target == "/arrivals":
            return json.dumps(recorder.arrivals).encode()
        return json.dumps(recorder.stats()).encode()

    loop = asyncio.get_running_loop()
    servers = []
    for (host, port), factory in (
        (_split(address), lambda: Http(record, recorder)),
        (_split(never_address), NeverAnswers),
        (_split(control_address), lambda: Http(control)),
    ):
        servers.append(await loop.create_server(factory, host, port, backlog=4096))
    await asyncio.gather(*(server.serve_forever() for server in servers))


def _split(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


if __name__ == "__main__":
    asyncio.run(serve(*sys.argv[1:4]))
