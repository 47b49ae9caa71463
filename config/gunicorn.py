"""gunicorn settings of the web process (Procfile); the command line adds the address and workers."""

import os
from pathlib import Path

from gunicorn.glogging import Logger

from config.text import printable

# Each worker process serves up to `threads` requests at once, and clients keep their connections
# alive between requests. Threads mostly wait (on the postback writer, Redis, PostgreSQL); the
# more postbacks wait together, the larger the batches they are written in (conversions.writer).
# A thread that queries the database keeps its own connection, so PostgreSQL needs
# max_connections above workers x threads for the web alone.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "32"))

# Production runs gunicorn behind nginx (deploy/nginx-site.conf), which reads every request in full
# before passing it on: a slow client never holds a thread here. nginx keeps idle connections to
# gunicorn for up to 60 s; gunicorn keeps them longer, so that it never closes one just as nginx
# sends a request on it. An idle connection waits in the worker's poller, not in a thread.
keepalive = 75
# The request line nginx passes on (large_client_header_buffers 8k), gunicorn's own maximum: a
# tracking link with long sub values gets through both, or is refused by nginx alone.
limit_request_line = 8190


class AccessLogger(Logger):
    """gunicorn's logger, with the control characters of every value in an access log line
    escaped (NUL as `\\x00`): a path such as `/x%0d%0aforged` arrives percent-decoded, and would
    otherwise write a second, forged line into the log."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {name: printable(value) if isinstance(value, str) else value for name, value in atoms.items()}


# The access log leaves out query strings: advertisers' postbacks carry their secure code there.
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s'
logger_class = AccessLogger

# /metrics adds up the counters every process keeps in PROMETHEUS_MULTIPROC_DIR (config/metrics.py).
# The arbiter never loads the app, so it sets the directory itself, as config.settings does.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(Path(__file__).resolve().parent.parent / "var" / "metrics")
)


def child_exit(server, worker):
    """A worker that exited (rotated, killed) leaves its counters, which keep counting in the sums,
    and must leave no live gauge behind (postbacks in flight)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
