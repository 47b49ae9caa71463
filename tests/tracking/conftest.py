import os

import pytest
import redis
from django.test import override_settings

from tracking import buffer

TEST_REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def _clear_buffer(client):
    client.delete(buffer.STREAM)
    for key in client.scan_iter(buffer.PENDING_KEY + "*", count=1000):
        client.delete(key)


@pytest.fixture
def direct_writes():
    """Clicks written straight to the database, as without Redis."""
    with override_settings(CLICK_BUFFER_REDIS_URL=""):
        yield


@pytest.fixture
def buffered_writes():
    """Clicks go through the Redis write buffer. Needs a Redis server (CI has one)."""
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"the click buffer needs Redis at {TEST_REDIS_URL}")
    _clear_buffer(client)
    with override_settings(CLICK_BUFFER_REDIS_URL=TEST_REDIS_URL):
        yield client
        buffer.drain()
    _clear_buffer(client)


@pytest.fixture(params=["direct_writes", "buffered_writes"])
def either_write_path(request):
    """Runs a test once with direct writes and once through the buffer."""
    return request.getfixturevalue(request.param)
