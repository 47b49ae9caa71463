import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections


@pytest.fixture
def connection_kept(db):
    """Requests sent to the real WSGI application (config.wsgi) see the test's data. Its handler
    closes the database connection after each request, which would end the test's transaction;
    Django's test client keeps the connection open the same way."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)
