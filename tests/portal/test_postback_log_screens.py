"""The postback log in a real browser, at a desktop and a phone size, with a failed delivery: what
happened reads in words, the raw error opens with one click, the page does not scroll sideways and
logs no error. Screenshots are kept in var/screens/."""

import pytest

from postbacks.models import Delivery
from tests.conftest import log_in
from tests.factories import DeliveryFactory
from tests.portal.screens import SCREENS, SIZES, watch

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ERROR = "Could not connect: [Errno 111] Connect call failed ('127.0.0.1', 8399)"


@pytest.fixture
def failed_delivery(affiliate):
    return DeliveryFactory(
        affiliate=affiliate,
        url="http://127.0.0.1:8399/pb?click=9f2c41d07ab34e5f8c1d2e3f4a5b6c7d&status=approved&sum=1.50",
        state=Delivery.State.FAILED,
        http_code=0,
        error=ERROR,
        attempts=9,
        next_attempt_at=None,
    )


@pytest.mark.parametrize("size", SIZES)
def test_the_postback_log_explains_a_failed_delivery_in_words_at_every_size(
    browser, live_server, affiliate, failed_delivery, size
):
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    errors = watch(page)
    SCREENS.mkdir(parents=True, exist_ok=True)
    try:
        log_in(page, live_server.url, affiliate.user.username)
        page.goto(f"{live_server.url}/statistics/postbacks/")
        explanation = page.locator(".explanation")
        title = explanation.locator("strong").inner_text()
        words = explanation.locator("p").inner_text()
        raw = explanation.locator("details code")
        hidden_at_first = not raw.is_visible()
        page.screenshot(path=str(SCREENS / f"postback-log-{size}.png"), full_page=True)
        explanation.locator("summary").click()
        shown_on_click = raw.is_visible() and raw.inner_text() == ERROR
        page.screenshot(path=str(SCREENS / f"postback-log-detail-{size}.png"), full_page=True)
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    finally:
        context.close()

    assert title == "Connection refused"
    assert "Is your server running and listening on port 8399?" in words
    assert hidden_at_first and shown_on_click
    assert widths[0] <= widths[1], f"the postback log at {size} scrolls sideways: {widths}"
    assert errors == []
