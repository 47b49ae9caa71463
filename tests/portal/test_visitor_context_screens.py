"""The visitor context on screen, in a real browser at a desktop and a phone size: the offer page
with its targeting and payouts by country, and the statistics grouped by country, OS and device
type. No sideways scrolling, no script errors; screenshots are kept in var/screens/."""

from decimal import Decimal

import pytest

from offers.models import GoalCountryPayout
from tests.conftest import log_in
from tests.factories import OfferFactory
from tests.portal.screens import SCREENS, SIZES

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("direct_writes"),
]

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)


@pytest.fixture
def offer():
    offer = OfferFactory(
        title="Fitness App Install with a title long enough to wrap on a phone",
        target_countries=["US", "DE", "GB", "FR", "CA", "AU"],
        target_os_families=["iOS", "Android", "Windows"],
        target_device_types=["mobile", "desktop"],
    )
    goal = offer.goals.get()
    for country, payout in [("US", "5.00"), ("DE", "3.00")]:
        GoalCountryPayout.objects.create(
            goal=goal, country=country, payout=Decimal(payout), revenue=Decimal(8)
        )
    return offer


def visit(browser, live_server, affiliate, size: str, path: str, name: str) -> str:
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Every failed request by its address, the favicon's included.
    page.on(
        "response",
        lambda response: (
            errors.append(f"{response.status} {response.url}") if response.status >= 400 else None
        ),
    )
    try:
        log_in(page, live_server.url, affiliate.user.username)
        page.goto(f"{live_server.url}{path}")
        SCREENS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENS / f"{name}-{size}.png"), full_page=True)
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        text = page.inner_text("main") if page.locator("main").count() else page.inner_text("body")
    finally:
        context.close()
    assert widths[0] <= widths[1], f"{name} at {size} scrolls sideways: {widths}"
    assert errors == []
    return text


@pytest.mark.parametrize("size", SIZES)
def test_the_offer_page_shows_its_targeting_and_payouts_by_country(
    browser, live_server, affiliate, offer, size
):
    text = visit(browser, live_server, affiliate, size, f"/offers/{offer.offer_id}/", "offer-targeting")

    assert "United States (US)" in text and "Germany (DE)" in text
    assert "5.00" in text and "3.00" in text and "Other countries" in text


@pytest.mark.parametrize("size", SIZES)
def test_the_statistics_group_clicks_by_country_os_and_device(
    browser, live_server, client, affiliate, offer, size
):
    link = f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}"
    assert client.get(link, REMOTE_ADDR="8.8.8.8", HTTP_USER_AGENT=IPHONE).status_code == 302
    assert (
        client.get(link, REMOTE_ADDR="2a00:1450:4001:80b::200e", HTTP_USER_AGENT=WINDOWS).status_code == 302
    )
    assert client.get(link, REMOTE_ADDR="8.8.4.4", HTTP_USER_AGENT="").status_code == 403  # no device

    by_country = visit(
        browser, live_server, affiliate, size, "/statistics/?group_by=country", "stats-country"
    )
    by_os = visit(browser, live_server, affiliate, size, "/statistics/?group_by=os", "stats-os")

    assert "United States (US)" in by_country and "Germany (DE)" in by_country
    assert "iOS" in by_os and "Windows" in by_os
