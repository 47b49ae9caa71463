"""A local HTTP server that answers every request with the bytes it is given, exactly, and keeps
every request exactly as it arrived (request line, headers, body): an affiliate's endpoint seen
from the socket, where answers no well-behaved server library would write can be made."""

import contextlib
import socket
import threading
from dataclasses import dataclass


@dataclass
class RawRequest:
    request_line: bytes
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def method(self) -> str:
        return self.request_line.split(b" ")[0].decode("ascii")

    @property
    def target(self) -> str:
        """The request target, as in the request line."""
        return self.request_line.split(b" ")[1].decode("ascii")


def http_answer(status: str, body: bytes, *headers: bytes) -> bytes:
    """`status` ("200 OK") with `body` and raw header lines, any bytes in them."""
    head = [b"HTTP/1.1 " + status.encode(), b"Content-Length: %d" % len(body), b"Connection: close", *headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def read_head(connection) -> bytes | None:
    """What a client sent up to the end of its request head (and whatever came with it), or None
    when it closed the connection first."""
    received = b""
    while b"\r\n\r\n" not in received:
        data = connection.recv(65536)
        if not data:
            return None
        received += data
    return received


class TcpServer:
    """A TCP server on a free port of `host`, each connection handled in a thread of its own by
    `_handle`, which subclasses write."""

    def __init__(self, host: str = "127.0.0.1"):
        self._listener = socket.create_server((host, 0))
        self.address = f"{host}:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self):
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread waiting in accept()
        self._listener.close()

    def _serve(self):
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection):
        raise NotImplementedError


class RawServer(TcpServer):
    def __init__(self, answer: bytes = http_answer("200 OK", b"ok"), host: str = "127.0.0.1"):
        self.answer = answer
        self.requests: list[RawRequest] = []
        super().__init__(host)
        self.origin = f"http://{self.address}"

    def _handle(self, connection):
        with connection, contextlib.suppress(OSError):
            received = read_head(connection)
            if received is None:
                return
            head, body = received.split(b"\r\n\r\n", 1)
            request_line, *lines = head.split(b"\r\n")
            headers = {}
            for line in lines:
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            while len(body) < int(headers.get("content-length") or 0):
                body += connection.recv(65536)
            self.requests.append(RawRequest(request_line, headers, body))
            connection.sendall(self.answer)
