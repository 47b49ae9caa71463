"""gunicorn settings of the web process (Procfile); the command line adds the address and workers."""

import os

# Each worker process serves up to `threads` requests at once: advertiser postbacks arriving
# together in one process are then written in one transaction (conversions.services), and
# clients keep their connections alive between requests. Every thread holds its own database
# connection, so PostgreSQL needs max_connections above workers x threads for the web alone.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "16"))

# The access log leaves out query strings: advertisers' postbacks carry their secure code there.
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s'
