"""The postback writer: one process per web node that records the postbacks of all its web
processes together (`manage.py postback_writer`).

Each web process records the postbacks that reach it at the same moment in one transaction
(conversions.recording). A batch has a fixed cost (a click lookup, a few inserts, a commit), so
the larger the batches the less each postback costs; a web process only sees its own share of
the traffic, though. The writer sees all of it: web threads hand it their postbacks over a Unix
socket and wait for the answer, and it records whatever has arrived meanwhile as one batch.

A web process whose writer is not listening (not started, restarting) records its postbacks
itself, so the writer is an optimisation, never a dependency. A writer told to stop answers every
postback it was sent, and shuts its connections first so that no more arrive. A writer that dies
while it holds a postback leaves that postback's outcome unknown: the advertiser is told to
retry (503), which the uniqueness rules make safe.

Frames are a 4-byte length and a JSON document: a postback (conversions.intake.AdvertiserHit's
wire form) one way, its answer or why there is none the other. JSON, not pickle: whoever reached
the socket could only send postbacks. The socket file is open to its owner and group alone, which
is the writer's only authentication.
"""

import contextlib
import json
import logging
import os
import selectors
import signal
import socket
import struct
import threading
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections

from config.metrics import WRITER_BATCH_SECONDS, WRITER_BATCH_SIZE

logger = logging.getLogger(__name__)

# The framing is this module's own, not multiprocessing.connection's (Listener and Client, whose
# frames are the same length and bytes, with an authkey), which would change what the writer does:
# - Client() authenticates in a handshake without a timeout: a web thread connecting to a stopped
#   or stuck writer would wait for good (measured: still in Client() 5 s after connecting to a
#   SIGSTOPped Listener), where connect() and send return at once (0.15 ms) and the answer's wait
#   ends after ANSWER_TIMEOUT_SECONDS in a 503 the advertiser retries;
# - Listener.accept() runs that handshake inside the writer's one loop, three waits for each web
#   thread that connects, and offers no descriptor to wait on beside the connections;
# - Listener.close(), or else the interpreter's exit, removes the socket file even when another
#   writer has bound it since: an old writer stopping would remove the new one's (_remove_socket_file);
# - a Connection reads one whole message at a time, blocking: one web thread's half-sent postback
#   would hold up everyone's.
# Its round trips are slower too: 27 us against 18 us for a postback and its answer between two
# processes (the best of six rounds of 20,000; its authenticated connect, 46 us against 10 us).
HEADER = struct.Struct("!I")
# How long a web thread waits for its answer: far longer than any batch takes, short enough that
# a stuck writer turns into answers to retry rather than into hung advertisers' requests.
ANSWER_TIMEOUT_SECONDS = 30
# Far above any postback (its form body is limited by DATA_UPLOAD_MAX_MEMORY_SIZE).
MAX_FRAME_BYTES = 64 << 20
# A database connection that recorded a batch less than this long ago is trusted as it is.
CONNECTION_TRUSTED_SECONDS = 1.0


class WriterUnreachable(Exception):
    """Nothing was sent: the caller may record the postback itself."""


class WriterLost(OperationalError):
    """The writer went away holding the postback: its outcome is unknown, the caller must retry."""


# --- Web side ---------------------------------------------------------------------------------

_connections = threading.local()


def writer_submit(hit: dict):
    """Send `hit` (the wire form of a conversions.intake.AdvertiserHit) to the writer and return
    what it answers once the hit is recorded."""
    sock = getattr(_connections, "sock", None)
    try:
        if sock is None:
            raise BrokenPipeError("not connected yet")
        _send(sock, hit)
    except OSError:
        # Not connected, or connected to a writer that has stopped since (a Unix socket whose
        # other end is closed refuses what is sent): nothing was received, so try a new one.
        sock = _connect()
        try:
            _send(sock, hit)
        except OSError as exc:
            _disconnect(sock)
            raise WriterUnreachable(str(exc)) from exc
    try:
        kind, value = _receive(sock)
    except (OSError, EOFError, ValueError) as exc:
        _disconnect(sock)
        raise WriterLost(f"postback writer lost: {exc}") from exc
    if kind == "answer":
        return value
    if kind == "unavailable":
        raise OperationalError(value)
    raise RuntimeError(value)


def _connect() -> socket.socket:
    old = getattr(_connections, "sock", None)
    if old is not None:
        _disconnect(old)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(settings.POSTBACK_WRITER_SOCKET)
    except OSError as exc:
        sock.close()
        raise WriterUnreachable(str(exc)) from exc
    sock.settimeout(ANSWER_TIMEOUT_SECONDS)
    _connections.sock = sock
    return sock


def _disconnect(sock):
    _connections.sock = None
    sock.close()


def _send(sock, value):
    sock.sendall(_frame(value))


def _frame(value) -> bytes:
    payload = json.dumps(value).encode()
    return HEADER.pack(len(payload)) + payload


def _receive(sock):
    """The next frame's JSON, read in as few calls as it takes (an answer is one, mostly)."""
    data = bytearray()
    while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack_from(data)[0]:
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return json.loads(data[HEADER.size :])


# --- Writer side ------------------------------------------------------------------------------


def serve(path: str, record, *, max_batch: int, ready=None):
    """Answer web processes on the Unix socket `path` until SIGTERM or SIGINT: every round
    records all the postbacks that have arrived, `max_batch` at a time, with `record(hits)`.
    Calls `ready()` once it listens."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    if os.path.exists(path):  # left by a writer that did not stop cleanly
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o660)
    socket_file = os.stat(path).st_ino
    listener.listen(1024)
    listener.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    buffers: dict[socket.socket, bytearray] = {}
    recorded = batches = 0
    trusted_until = 0.0

    def record_all(arrived: list):
        nonlocal recorded, batches, trusted_until
        for start in range(0, len(arrived), max_batch):
            if time.monotonic() > trusted_until:
                # As at the start of a web request: a connection that the database closed is
                # replaced. Not before every batch: its check is a round trip.
                close_old_connections()
            batch, started = arrived[start : start + max_batch], time.monotonic()
            reached_database = _answer(batch, record)
            WRITER_BATCH_SECONDS.observe(time.monotonic() - started)
            WRITER_BATCH_SIZE.observe(len(batch))
            trusted_until = time.monotonic() + CONNECTION_TRUSTED_SECONDS if reached_database else 0.0
            batches += 1
        recorded += len(arrived)

    if ready:
        ready()
    try:
        while not stopping.is_set():
            arrived = []
            for key, _ in selector.select(timeout=0.5):
                if key.fileobj is listener:
                    _accept(listener, selector, buffers)
                else:
                    arrived += _read_frames(key.fileobj, buffers, selector)
            record_all(arrived)
        # Stopping. A web thread that sends from now on finds no writer and records its postback
        # itself; what was sent before is recorded and answered: a restart asks nobody to retry.
        _remove_socket_file(path, socket_file)
        while _accept(listener, selector, buffers):
            pass
        record_all(_drain(buffers))
    finally:
        _remove_socket_file(path, socket_file)
        selector.close()
        listener.close()
        for conn in buffers:
            conn.close()
        logger.info("Postback writer stopped: %d postbacks recorded in %d batches", recorded, batches)


def _remove_socket_file(path: str, inode: int):
    """Remove the socket file this writer bound, unless a writer started since has replaced it
    (a restart that starts the new writer before it stops the old one)."""
    with contextlib.suppress(FileNotFoundError):
        if os.stat(path).st_ino == inode:
            os.unlink(path)


def _accept(listener, selector, buffers) -> bool:
    """Take the next connection waiting on `listener`; False if there is none."""
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return False
    conn.setblocking(False)
    selector.register(conn, selectors.EVENT_READ)
    buffers[conn] = bytearray()
    return True


def _read_frames(conn, buffers, selector) -> list:
    """The postbacks `conn` has sent in full. A connection that closes, or sends anything but
    frames of JSON, is closed: its web thread, if any, is told to retry."""
    try:
        data = conn.recv(1 << 16)
    except BlockingIOError:
        return []
    except OSError:
        data = b""
    buffers[conn] += data
    try:
        frames = [(conn, frame) for frame in _complete_frames(buffers[conn])]
    except ValueError as exc:
        logger.error("Closed a connection that sent what is not a postback: %s", exc)
        data, frames = b"", []
    if not data:
        selector.unregister(conn)
        del buffers[conn]
        conn.close()
    return frames


def _drain(buffers) -> list:
    """Shut every connection for what web threads send next (their send fails, so they record
    their postbacks themselves), and return the postbacks sent before, still to be answered."""
    frames = []
    for conn, buffer in buffers.items():
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RD)
        while True:
            try:
                data = conn.recv(1 << 16)
            except OSError:  # nothing more to read, or the web process has gone
                break
            if not data:
                break
            buffer += data
        try:
            frames += [(conn, frame) for frame in _complete_frames(buffer)]
        except ValueError as exc:
            logger.error("Ignored what a connection sent that is not a postback: %s", exc)
    return frames


def _complete_frames(buffer: bytearray) -> list:
    """Take the complete frames off the front of `buffer`, parsed. ValueError if it holds
    something else than frames of JSON."""
    frames = []
    while len(buffer) >= HEADER.size:
        size = HEADER.unpack_from(buffer)[0]
        if size > MAX_FRAME_BYTES:
            raise ValueError(f"a frame of {size} bytes")
        if len(buffer) < HEADER.size + size:
            break
        frames.append(json.loads(buffer[HEADER.size : HEADER.size + size]))
        del buffer[: HEADER.size + size]
    return frames


def _answer(arrived: list, record) -> bool:
    """Record `arrived` and answer each web thread. False if the database could not be reached."""
    try:
        outcomes = record([hit for _, hit in arrived])
    except Exception as exc:
        outcomes = [exc] * len(arrived)
    for (conn, _), outcome in zip(arrived, outcomes, strict=True):
        try:
            _send_answer(conn, _reply(outcome))
        except OSError:
            logger.warning("A web process left before its postback's answer")
    return not any(isinstance(outcome, OperationalError | InterfaceError) for outcome in outcomes)


def _send_answer(conn, value):
    """Send an answer on a connection the writer keeps non-blocking. An answer is small, so it
    goes out in one call; only when the web process's socket buffer is full does the writer wait."""
    frame = _frame(value)
    try:
        sent = conn.send(frame)
    except BlockingIOError:
        sent = 0
    if sent < len(frame):
        conn.setblocking(True)
        try:
            conn.sendall(frame[sent:])
        finally:
            conn.setblocking(False)


def _reply(outcome):
    if isinstance(outcome, OperationalError | InterfaceError):
        return "unavailable", str(outcome)
    if isinstance(outcome, Exception):
        logger.error("Postback failed", exc_info=outcome)
        return "error", repr(outcome)
    return "answer", outcome
