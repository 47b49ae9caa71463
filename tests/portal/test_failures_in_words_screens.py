"""Failures said in words on screen, in a real browser at a desktop and a phone size: a postback
the platform disabled (its list in the portal, its page in the admin) and the admin's delivery list
and page. The raw error is hidden until "Technical detail" is opened. No sideways scrolling, no
script errors; screenshots are kept in var/screens/."""

import pytest

from tests.factories import OfferFactory, PostbackFactory, failed_delivery_with_attempt
from tests.portal.screens import SIZES

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("direct_writes"),
]

REFUSED = "Could not connect: [Errno 111] Connect call failed ('127.0.0.1', 8399)"
DISABLED = f"Disabled on 2026-01-02 03:04 UTC: every delivery failed for 3 days. Last error: {REFUSED}"


@pytest.fixture
def disabled(affiliate):
    offer = OfferFactory(goals=[{"value": "sale", "title": "Sale"}])
    return PostbackFactory(
        affiliate=affiliate,
        offer=offer,
        url="http://127.0.0.1:8399/pb?c={clickid}",
        enabled=False,
        disabled_reason=DISABLED,
    )


def open_detail_and_read(browser, scope: str) -> tuple[str, str]:
    """The text of `scope` before and after opening its first "Technical detail"."""
    before = browser.page.inner_text(scope)
    browser.page.locator(f"{scope} summary:has-text('Technical detail')").first.click()
    return before, browser.page.inner_text(scope)


@pytest.mark.parametrize("size", SIZES)
def test_a_disabled_postback_says_why_in_the_portal(screen, affiliate, disabled, size):
    browser = screen(affiliate.user, size)

    browser.goto(f"/offers/{disabled.offer.offer_id}/postbacks/")
    browser.check("disabled-reason-portal")

    before, after = open_detail_and_read(browser, "table.postbacks")
    assert "Connection refused" in before and "Is your server running" in before
    assert "Errno 111" not in before and REFUSED in after
    browser.check("disabled-reason-portal-detail")


@pytest.mark.parametrize("size", SIZES)
def test_a_disabled_postback_says_why_in_the_admin(screen, manager, disabled, size):
    browser = screen(manager, size)

    browser.goto(f"/admin/postbacks/postback/{disabled.pk}/change/")
    browser.check("disabled-reason-admin")

    before, after = open_detail_and_read(browser, "#content")
    assert "Connection refused" in before and "Errno 111" not in before and REFUSED in after


@pytest.fixture
def failed_delivery(affiliate):
    return failed_delivery_with_attempt(affiliate=affiliate, error=REFUSED)


@pytest.mark.parametrize("size", SIZES)
def test_the_admins_deliveries_say_what_happened(screen, manager, failed_delivery, size):
    browser = screen(manager, size)

    browser.goto("/admin/postbacks/delivery/")
    browser.check("delivery-list-in-words")
    before, after = open_detail_and_read(browser, "#result_list")
    assert "Connection refused" in before and "Errno 111" not in before and REFUSED in after

    browser.goto(f"/admin/postbacks/delivery/{failed_delivery.pk}/change/")
    browser.check("delivery-page-in-words")
    before, after = open_detail_and_read(browser, "#content")
    assert before.count("Connection refused") == 2 and "Errno 111" not in before and REFUSED in after
