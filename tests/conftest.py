import os
from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from api.services import api_key_issue
from tests.factories import PASSWORD, AffiliateFactory, ManagerFactory
from tracking import lookups


def api_client_for(user) -> APIClient:
    client = APIClient()
    _, raw_key = api_key_issue(user=user)
    client.credentials(HTTP_API_KEY=raw_key)
    return client


@pytest.fixture(autouse=True)
def empty_cache():
    """Throttle counters and cached lookups must not leak from one test into the next."""
    cache.clear()
    lookups.clear()


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


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright (its own browser download is not used)."""
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


def log_in(page, base_url, username, password=PASSWORD):
    page.goto(base_url + "/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
