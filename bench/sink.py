"""An affiliate's server for the delivery benchmark, on aiohttp.web's low-level server.

It answers 200 "ok" to every request on its address, with keep-alive, and records each request's
arrival time, X-Postback-Id header and target. A second address accepts connections and never
answers (an affiliate whose server hangs). A third one answers the benchmark's questions:
`/stats` (counts, first and last arrival, most connections open at once), `/arrivals` (every
request recorded) and `/reset`.

    python -m bench.sink <host:port> <never-answering host:port> <control host:port>
"""

import asyncio
import sys
import time

from aiohttp import web


class Sink:
    """The server that records, and what it has recorded since the last reset."""

    def __init__(self):
        self.server = web.Server(self.record)
        self.reset()

    def reset(self):
        self.arrivals: list[tuple[float, str, str]] = []
        self.peak_connections = 0

    async def record(self, request: web.BaseRequest) -> web.Response:
        self.arrivals.append((time.time(), request.headers.get("X-Postback-Id", ""), request.raw_path))
        # Counted as requests arrive: every connection the sender opens carries one.
        self.peak_connections = max(self.peak_connections, len(self.server.connections))
        return web.Response(text="ok")

    def stats(self) -> dict:
        times = [arrival[0] for arrival in self.arrivals]
        return {
            "requests": len(self.arrivals),
            "distinct_ids": len({arrival[1] for arrival in self.arrivals if arrival[1]}),
            "first": min(times, default=None),
            "last": max(times, default=None),
            "peak_connections": self.peak_connections,
        }

    async def control(self, request: web.BaseRequest) -> web.Response:
        if request.path == "/reset":
            self.reset()
            return web.json_response({})
        if request.path == "/arrivals":
            return web.json_response(self.arrivals)
        return web.json_response(self.stats())


async def never_answer(request: web.BaseRequest):
    """Say nothing until the client gives up: its server cancels this when the connection closes."""
    await asyncio.Event().wait()


async def serve(address: str, never_address: str, control_address: str):
    sink = Sink()
    loop = asyncio.get_running_loop()
    servers = []
    for host_and_port, server in (
        (address, sink.server),
        (never_address, web.Server(never_answer, handler_cancellation=True)),
        (control_address, web.Server(sink.control)),
    ):
        host, port = host_and_port.rsplit(":", 1)
        servers.append(await loop.create_server(server, host, int(port), backlog=4096))
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    asyncio.run(serve(*sys.argv[1:4]))
