"""Every status badge (a postback's state, a conversion's status, an integration test step's
result) reads at a WCAG contrast of at least 4.5:1 against its own background, in the portal's
stylesheet and in the admin's integration test. The colours are read from the CSS files, so a
changed colour is checked the day it changes."""

import re
from pathlib import Path

import pytest
from django.conf import settings

STYLESHEETS = [
    Path(settings.BASE_DIR) / "static" / "css" / "portal.css",
    Path(settings.BASE_DIR) / "static" / "css" / "admin-integration-test.css",
]
MINIMUM = 4.5  # WCAG 2 AA for normal text


def rules(css: str) -> list[tuple[str, dict[str, str]]]:
    """(selector, declarations) of every rule, one entry per selector of a group."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    found = []
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        declarations = dict(
            (name.strip(), value.strip())
            for name, _, value in (part.partition(":") for part in body.split(";"))
            if value.strip()
        )
        found += [(" ".join(selector.split()), declarations) for selector in selectors.split(",")]
    return found


def resolved(value: str, variables: dict[str, str]) -> str:
    """`value` with var(--name) or var(--name, fallback) replaced by what it names."""
    match = re.fullmatch(r"var\((--[\w-]+)\s*(?:,\s*(.+))?\)", value)
    if match is None:
        return value
    return resolved(variables.get(match[1], match[2] or ""), variables)


def luminance(colour: str) -> float:
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    lighter, darker = sorted([luminance(one), luminance(other)], reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def badges(path: Path) -> dict[str, tuple[str, str]]:
    """Each badge selector of a stylesheet with its text colour and background: a variant
    (`.badge.ok`) takes what it does not set from the plain badge of the same scope."""
    parsed = rules(path.read_text())
    variables = {
        name: value
        for selector, declarations in parsed
        if selector == ":root"
        for name, value in declarations.items()
        if name.startswith("--")
    }
    declared: dict[str, dict[str, str]] = {}
    for selector, declarations in parsed:
        if re.search(r"\.badge(\.[\w-]+)*$", selector):
            declared.setdefault(selector, {}).update(declarations)
    found = {}
    for selector, declarations in declared.items():
        plain = re.sub(r"(\.badge)(\.[\w-]+)+$", r"\1", selector)
        merged = {**declared.get(plain, {}), **declarations}
        background = merged.get("background-color", merged.get("background", ""))
        found[selector] = (resolved(merged.get("color", ""), variables), resolved(background, variables))
    return found


def test_the_contrast_ratio_is_computed_as_wcag_defines_it():
    assert contrast("#000", "#fff") == pytest.approx(21)
    assert contrast("#777", "#fff") == pytest.approx(4.48, abs=0.01)
    # The admin's "passed" badge of old: the admin's pale success green as text on white.
    assert contrast("#dfd", "#fff") < 1.2


def test_the_plain_and_variant_badges_of_each_stylesheet_are_found():
    assert set(badges(STYLESHEETS[0])) >= {".badge", ".badge.ok", ".badge.bad"}
    assert set(badges(STYLESHEETS[1])) >= {".wizard .badge.ok", ".wizard .badge.bad"}


@pytest.mark.parametrize("path", STYLESHEETS, ids=lambda path: path.name)
def test_every_badge_has_a_contrast_of_at_least_4_5_to_1(path):
    for selector, (colour, background) in badges(path).items():
        if not colour and not background:
            continue  # a badge that colours nothing is the page's own text on the page
        assert re.fullmatch(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?", colour), f"{selector}: colour {colour!r}"
        assert re.fullmatch(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?", background), (
            f"{selector}: a badge sets a background of its own, not {background!r}"
        )
        ratio = contrast(colour, background)
        assert ratio >= MINIMUM, f"{selector}: {colour} on {background} is {ratio:.2f}:1"


@pytest.mark.django_db
def test_the_admins_integration_test_page_uses_the_stylesheet_checked_here(client, manager):
    client.force_login(manager)
    page = client.get("/admin/integration-test/").content.decode()
    assert 'href="/static/css/admin-integration-test.css"' in page
