"""What the browser tests of the pages share: the two screen sizes, where screenshots go, a page
that notes every script error, console error and failed request, and a logged-in screen that checks
what every page must be: no sideways scrolling, no errors, every form control labelled and every
status badge readable."""

from pathlib import Path

from django.conf import settings

from tests.conftest import log_in

SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
SCREENS = Path(settings.BASE_DIR) / "var" / "screens"
MINIMUM_CONTRAST = 4.5  # WCAG 2 AA for normal text

# The form controls a person fills in (shown, or inside a closed disclosure) that nothing names: no
# label (for it or around it) with text, an image's alt text or a part's aria-label, no aria-label,
# aria-labelledby or title; each as its tag, type and name.
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter((control) => !['hidden', 'submit', 'button', 'reset', 'image'].includes(control.type))
  .filter((control) => control.getClientRects().length > 0 || control.closest('details:not([open])'))
  .filter((control) => {
    const names = (element) => !!element && (
      element.textContent.trim() !== ''
      || [...element.querySelectorAll('img[alt], [aria-label]')]
        .some((part) => (part.getAttribute('alt') || part.getAttribute('aria-label') || '').trim())
    );
    return !(
      [...control.labels].some(names)
      || (control.getAttribute('aria-label') || '').trim()
      || (control.getAttribute('aria-labelledby') || '').split(/\\s+/)
        .some((id) => names(document.getElementById(id)))
      || (control.getAttribute('title') || '').trim()
    );
  })
  .map((control) => `${control.tagName.toLowerCase()}[type=${control.type}][name=${control.name}]`)"""

# Each shown status badge with its text, text colour and effective background: its own background
# over those of its ancestors (half-transparent ones blended in), white below them all.
BADGES = """() => {
  const rgba = (value) => {
    const [r, g, b, a = 1] = value.match(/[\\d.]+/g).map(Number);
    return [r, g, b, a];
  };
  const over = (top, below) => top.slice(0, 3).map((c, i) => c * top[3] + below[i] * (1 - top[3]));
  return [...document.querySelectorAll('.badge')]
    .filter((badge) => badge.getClientRects().length > 0)
    .map((badge) => {
      const layers = [];
      for (let box = badge; box; box = box.parentElement) {
        const colour = rgba(getComputedStyle(box).backgroundColor);
        if (colour[3] > 0) layers.push(colour);
        if (colour[3] === 1) break;
      }
      const background = layers.reverse().reduce((below, top) => over(top, below), [255, 255, 255]);
      const text = over(rgba(getComputedStyle(badge).color), background);
      return [badge.innerText.trim(), text, background];
    });
}"""


def luminance(rgb) -> float:
    linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one, other) -> float:
    """The WCAG contrast ratio of two colours given as (red, green, blue), 0 to 255."""
    lighter, darker = sorted([luminance(one), luminance(other)], reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


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
        """Opens `path` and answers the response of its document."""
        return self.page.goto(f"{self.base}{path}")

    def follow(self, selector: str):
        """Clicks a link or a form's button and waits for the page it leads to."""
        with self.page.expect_navigation():
            self.page.click(selector)

    def check(self, name: str) -> str:
        """Saves the screenshot, checks the page fits its width, logged no error, labels every
        form control and shows its badges readably, and answers its text."""
        SCREENS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENS / f"{name}-{self.size}.png"), full_page=True)
        widths = self.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"{name} at {self.size} scrolls sideways: {widths}"
        assert self.errors == []
        unlabelled = self.page.evaluate(UNLABELLED)
        assert unlabelled == [], f"{name}: form controls without a label: {unlabelled}"
        faint = [
            (text, f"{contrast(colour, background):.2f}:1")
            for text, colour, background in self.page.evaluate(BADGES)
            if contrast(colour, background) < MINIMUM_CONTRAST
        ]
        assert faint == [], f"{name} at {self.size}: badges under {MINIMUM_CONTRAST}:1: {faint}"
        return self.page.inner_text("body")

    def close(self):
        self.context.close()
