"""What the browser tests of the pages share: the two screen sizes, where screenshots go, a page
that notes every script error, console error and failed request, and a logged-in screen."""

from pathlib import Path

from django.conf import settings

from tests.conftest import log_in

SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
SCREENS = Path(settings.BASE_DIR) / "var" / "screens"


def watch(page) -> list[str]:
    """The script errors, console errors and failed requests (by status and address) of `page`,
    noted as they happen."""
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on(
        "response",
        lambda response: (
            errors.append(f"{response.status} {response.url}") if response.status >= 400 else None
        ),
    )
    return errors


class Screen:
    """One browser context logged in as `username`, noting every script error, console error and
    failed request of the pages it opens."""

    def __init__(self, browser, live_server, username: str, size: str):
        self.base = live_server.url
        self.size = size
        self.context = browser.new_context(viewport=SIZES[size])
        self.page = self.context.new_page()
        self.errors = watch(self.page)
        log_in(self.page, self.base, username)

    def goto(self, path: str):
        self.page.goto(f"{self.base}{path}")

    def follow(self, selector: str):
        """Clicks a link or a form's button and waits for the page it leads to."""
        with self.page.expect_navigation():
            self.page.click(selector)

    def check(self, name: str) -> str:
        """Saves the screenshot, checks the page fits its width, and answers its text."""
        SCREENS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENS / f"{name}-{self.size}.png"), full_page=True)
        widths = self.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"{name} at {self.size} scrolls sideways: {widths}"
        assert self.errors == []
        return self.page.inner_text("body")

    def close(self):
        self.context.close()
