"""The top bar's menus in a real browser, at a desktop and a phone size: one open at a time, closed
by Escape (focus back on its button) and by a click outside; no sideways scrolling, no script
errors, no failed requests. Screenshots are kept in var/screens/."""

import pytest

from tests.conftest import log_in
from tests.portal.screens import SCREENS, SIZES, watch

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STATISTICS = "details.menu:has(> summary:text-is('Statistics'))"
SETTINGS = "details.menu:has(> summary:text-is('Settings'))"


def _open_menus(page) -> list[str]:
    return page.eval_on_selector_all(
        "details.menu[open] > summary", "(summaries) => summaries.map((s) => s.textContent.trim())"
    )


@pytest.mark.parametrize("size", SIZES)
def test_one_menu_is_open_at_a_time_and_escape_or_a_click_outside_closes_it(
    browser, live_server, affiliate, size
):
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    errors = watch(page)
    SCREENS.mkdir(parents=True, exist_ok=True)
    try:
        log_in(page, live_server.url, affiliate.user.username)
        page.wait_for_url(live_server.url + "/")

        page.click(f"{STATISTICS} > summary")
        assert _open_menus(page) == ["Statistics"]
        page.click(f"{SETTINGS} > summary")
        assert _open_menus(page) == ["Settings"]
        page.screenshot(path=str(SCREENS / f"menu-settings-{size}.png"))
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")

        page.keyboard.press("Escape")
        assert _open_menus(page) == []
        assert page.evaluate("document.activeElement.textContent.trim()") == "Settings"

        page.click(f"{STATISTICS} > summary")
        assert _open_menus(page) == ["Statistics"]
        page.click("h1")
        assert _open_menus(page) == []
        page.screenshot(path=str(SCREENS / f"menu-closed-{size}.png"))

        # From the keyboard: Enter opens the focused menu; its links come next, then it closes.
        page.focus(f"{STATISTICS} > summary")
        page.keyboard.press("Enter")
        assert _open_menus(page) == ["Statistics"]
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent.trim()") == "Statistics"
        assert page.evaluate("document.activeElement.closest('.dropdown') !== null")
        for _ in range(page.locator(f"{STATISTICS} .dropdown a").count()):
            page.keyboard.press("Tab")
        assert _open_menus(page) == []  # tabbed past its last link, to the Settings button
        assert page.evaluate("document.activeElement.textContent.trim()") == "Settings"
    finally:
        context.close()
    assert widths[0] <= widths[1], f"the menus at {size} scroll sideways: {widths}"
    assert errors == []


def test_without_javascript_the_menus_still_open_and_close(browser, live_server, affiliate):
    context = browser.new_context(viewport=SIZES["desktop"], java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live_server.url, affiliate.user.username)
        page.wait_for_url(live_server.url + "/")
        page.click(f"{STATISTICS} > summary")
        assert page.is_visible("a:text-is('Conversions')")
        page.click(f"{STATISTICS} > summary")
        assert not page.is_visible("a:text-is('Conversions')")
    finally:
        context.close()
