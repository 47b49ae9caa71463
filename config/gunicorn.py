"""gunicorn settings of the web process (Procfile); the command line adds the address and workers."""

import os

# Each worker process serves up to `threads` requests at once, and clients keep their connections
# alive between requests. Threads mostly wait (on the postback writer, Redis, PostgreSQL); the
# more postbacks wait together, the larger the batches they are written in (conversions.writer).
# A thread that queries the database keeps its own connection, so PostgreSQL needs
# max_connections above workers x threads for the web alone.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "32"))

# The access log leaves out query strings: advertisers' postbacks carry their secure code there.
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s'
