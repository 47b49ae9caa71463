"""The login page and the password reset, in a real browser at a desktop and a phone size: from
"Forgot password?" to the emailed link and the new password. On every page no sideways
scrolling, no console error and no failed request, the site's icon included; screenshots are
kept in var/screens/."""

import pytest
from django.core import mail

from tests.portal.screens import SCREENS, SIZES
from tests.portal.test_password_reset import NEW_PASSWORD, reset_link

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("tasks_run_at_once"),
]


class Watched:
    """A browser tab that notes every console error, script error and failed request."""

    def __init__(self, browser, size: str):
        self.size = size
        self.context = browser.new_context(viewport=SIZES[size])
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on(
            "console",
            lambda message: (
                self.problems.append(f"console: {message.text}") if message.type == "error" else None
            ),
        )
        self.page.on("pageerror", lambda error: self.problems.append(f"script: {error}"))
        # A request the browser itself gives up on as the tab moves to the next page (the icon of
        # the page left, say) is no failure of the site.
        self.page.on(
            "requestfailed",
            lambda request: (
                self.problems.append(f"failed: {request.url} {request.failure}")
                if request.failure != "net::ERR_ABORTED"
                else None
            ),
        )
        self.page.on(
            "response",
            lambda response: (
                self.problems.append(f"{response.status} {response.url}") if response.status >= 400 else None
            ),
        )

    def check(self, name: str, heading: str) -> None:
        """The page is `heading`'s, fits the screen's width, and loaded its icon and everything else."""
        page = self.page
        page.wait_for_load_state("load")
        SCREENS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENS / f"{name}-{self.size}.png"), full_page=True)
        assert page.inner_text("h1") == heading
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"{name} at {self.size} scrolls sideways: {widths}"
        # Headless Chromium draws no tab, so it may not fetch the icon: fetched here as a tab would.
        icon = page.evaluate(
            """async () => {
                const answer = await fetch(document.querySelector("link[rel=icon]").href);
                return [answer.status, answer.headers.get("content-type")];
            }"""
        )
        assert icon == [200, "image/svg+xml"], f"{name}: the icon answers {icon}"
        assert self.problems == [], f"{name} at {self.size}: {self.problems}"


@pytest.mark.parametrize("size", SIZES)
def test_a_user_resets_a_forgotten_password_from_the_login_page(browser, live_server, affiliate, size):
    tab = Watched(browser, size)
    page = tab.page
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        tab.check("login", "Log in")

        page.click("text=Forgot password?")
        page.wait_for_url("**/accounts/password/reset/")
        tab.check("password-reset-request", "Reset your password")

        page.fill("input[name=email]", affiliate.user.email)
        page.click("button[type=submit]")
        page.wait_for_url("**/accounts/password/reset/sent/")
        tab.check("password-reset-done", "Check your email")

        page.goto(reset_link(mail.outbox[-1]))
        page.wait_for_url("**/set-password/")
        tab.check("password-reset-confirm", "Choose a new password")

        page.fill("input[name=new_password1]", NEW_PASSWORD)
        page.fill("input[name=new_password2]", NEW_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/accounts/password/reset/done/")
        tab.check("password-reset-complete", "Password set")

        icon = page.evaluate("fetch('/favicon.ico').then(answer => [answer.status, answer.redirected])")
        assert icon == [200, True]
    finally:
        tab.context.close()
