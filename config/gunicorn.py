"""gunicorn settings of the web process (Procfile); the command line adds the address and workers."""

# The access log leaves out query strings: advertisers' postbacks carry their secure code there.
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s'
