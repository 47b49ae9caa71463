import contextlib
import os
import socket
from pathlib import Path

import pytest
import redis
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from api.services import api_key_issue
from offers import access
from tests.factories import PASSWORD, AffiliateFactory, ManagerFactory
from tests.processes import free_port
from tracking import buffer


def api_client_for(user) -> APIClient:
    client = APIClient()
    _, raw_key = api_key_issue(user=user)
    client.credentials(HTTP_API_KEY=raw_key)
    return client


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Most tests make users with passwords; hashing them the production way (hundreds of
    milliseconds each) would be most of the suite's time. Production hashes stay readable."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]


@pytest.fixture(autouse=True)
def empty_cache():
    """Throttle counters and cached lookups must not leak from one test into the next."""
    cache.clear()
    access.clear()


@pytest.fixture
def affiliate(db):
    return AffiliateFactory()


@pytest.fixture
def other_affiliate(db):
    return AffiliateFactory()


@pytest.fixture
def manager(db):
    return ManagerFactory()


@pytest.fixture
def affiliate_api(affiliate):
    return api_client_for(affiliate.user)


@pytest.fixture
def manager_api(manager):
    return api_client_for(manager)


@pytest.fixture
def portal(client, affiliate):
    """A browser session logged into the portal as `affiliate`."""
    client.force_login(affiliate.user)
    return client


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright (its own browser download is not used).

    One per test module: while Playwright runs, its event loop is the current one in this
    thread, which later tests calling asyncio.run() must not find."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            raise RuntimeError("Browser tests need Debian's chromium package: apt-get install chromium")
        pytest.skip("browser tests need Debian's chromium package (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between browser steps are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    yield context.new_page()
    context.close()


@contextlib.contextmanager
def database_unreachable():
    """The database's address points at a closed port until the block ends (PostgreSQL)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = str(probe.getsockname()[1])
    saved = connection.settings_dict["HOST"], connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["HOST"], connection.settings_dict["PORT"] = "127.0.0.1", closed_port
    try:
        yield
    finally:
        connection.settings_dict["HOST"], connection.settings_dict["PORT"] = saved
        connection.close()


def log_in(page, base_url, username, password=PASSWORD):
    page.goto(base_url + "/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


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
def unreachable_buffer(settings):
    """The click buffer's Redis, on a port where nothing listens."""
    settings.CLICK_BUFFER_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"


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
    _clear_buffer(client)


@pytest.fixture(params=["direct_writes", "buffered_writes"])
def either_write_path(request):
    """Runs a test once with direct writes and once through the buffer."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def screen(browser, live_server):
    """Opens a logged-in screen (tests/portal/screens.py): `screen(user, "desktop")`; all are
    closed after the test."""
    from tests.portal.screens import Screen  # it reads this module's log_in

    opened = []

    def open_screen(user, size):
        opened.append(Screen(browser, live_server, user.username, size))
        return opened[-1]

    yield open_screen
    for one in opened:
        one.close()
