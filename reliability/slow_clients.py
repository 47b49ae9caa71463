"""Clients that send a request header a byte every few seconds and never finish it, on hundreds of
connections at once: what holds every thread of a server that reads request headers in its
threads. Bounded: loopback only, at most MAX_CONNECTIONS, for a given time, then all closed."""

import asyncio
import ipaddress
import resource
from dataclasses import dataclass

MAX_CONNECTIONS = 1000


@dataclass
class SlowClients:
    host: str
    port: int
    target: str  # the request's path and query
    connections: int = 400
    interval: float = 3.0  # seconds between two bytes of the header
    opened: int = 0  # connections opened, in all
    cut_off: int = 0  # connections the server closed (or reset) before the suite did
    answered: int = 0  # of those, connections the server answered something before closing
    open_now: int = 0
    most_open: int = 0  # the most connections open at once

    def __post_init__(self):
        if not ipaddress.ip_address(self.host).is_loopback:
            raise ValueError("slow clients are for the suite's own servers, on loopback only")
        if not 0 < self.connections <= MAX_CONNECTIONS:
            raise ValueError(f"between 1 and {MAX_CONNECTIONS} slow connections")

    async def hold(self, seconds: float):
        """Keep `connections` slow connections open for `seconds`, opening a new one for each the
        server closes, then close them all."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = self.connections + 1024  # and the suite's own connections
        if soft < wanted and (hard == resource.RLIM_INFINITY or hard >= wanted):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        deadline = asyncio.get_running_loop().time() + seconds
        await asyncio.gather(*(self._client(deadline) for _ in range(self.connections)))

    async def _client(self, deadline: float):
        loop = asyncio.get_running_loop()
        while (left := deadline - loop.time()) > 0:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(min(self.interval, left))
                continue
            self.opened += 1
            self.open_now += 1
            self.most_open = max(self.most_open, self.open_now)
            try:
                writer.write(f"GET {self.target} HTTP/1.1\r\nHost: {self.host}\r\nX-Slow: ".encode())
                while (left := deadline - loop.time()) > 0:
                    await writer.drain()
                    try:
                        # Anything read, or the end of the stream: the server is done with it.
                        if await asyncio.wait_for(reader.read(4096), min(self.interval, left)):
                            self.answered += 1
                        self.cut_off += 1
                        break
                    except TimeoutError:
                        writer.write(b"s")
            except OSError:  # reset by the server
                self.cut_off += 1
            finally:
                self.open_now -= 1
                writer.close()
