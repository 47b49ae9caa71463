"""The network dashboard in a real browser, at a desktop and a phone size, with two currencies and
long names: no sideways scrolling, no script or console errors, the four charts drawn (a profit
line per currency among them), the comparisons on screen, and the wide tables either whole on a
desktop or scrolling in their own box under a visible hint on a phone. Screenshots are kept in
var/screens/."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from offers.choices import ConversionStatus
from tests.factories import AffiliateFactory, OfferFactory
from tests.portal.screens import SIZES
from tests.stats.rollup import click_row, convert, write_clicks

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("direct_writes"),
]

TITLE = "Fitness App Install for iOS and Android with a title long enough to wrap twice on a phone"

# Each table in a box that scrolls: whether it has more than it shows, and whether the hint above
# it can be seen; and where every table ends against the window.
MEASURE = """() => ({
  page: [document.documentElement.scrollWidth, window.innerWidth],
  wraps: [...document.querySelectorAll('.dashboard .table-wrap')].map((wrap) => {
    const hint = wrap.previousElementSibling;
    return {
      table: wrap.querySelector('table').id,
      overflows: wrap.scrollWidth > wrap.clientWidth + 1,
      hinted: !!hint && hint.matches('.scroll-hint') && hint.offsetParent !== null,
    };
  }),
  tables: [...document.querySelectorAll('.dashboard table')].map((table) => [
    table.id, table.getBoundingClientRect().right,
  ]),
})"""


@pytest.fixture
def network():
    """Today and the day before, in two currencies, on offers with long titles, by affiliates
    with long names; the same 30 days earlier, for the previous period."""
    today = timezone.now()
    for n in range(3):
        affiliate = AffiliateFactory(user__username=f"affiliate-with-a-long-company-name-{n}")
        offer = OfferFactory(title=f"{TITLE} {n}")
        for days_ago in (0, 1, 30):
            moment = today - timedelta(days=days_ago)
            write_clicks(
                *(
                    click_row(offer=offer, affiliate=affiliate, ip=f"198.51.100.{k}", at=moment)
                    for k in range(5)
                )
            )
            for status, currency in [
                (ConversionStatus.APPROVED, "USD"),
                (ConversionStatus.APPROVED, "EUR"),
                (ConversionStatus.PENDING, "USD"),
                (ConversionStatus.DECLINED, "USD"),
            ]:
                convert(
                    offer=offer,
                    affiliate=affiliate,
                    status=status,
                    currency=currency,
                    revenue=Decimal("12345.5") * (n + 1),
                    payout=Decimal("9876.25") * (n + 1),
                    created_at=moment,
                )


@pytest.mark.parametrize("size", SIZES)
def test_the_network_dashboard_fits_the_screen_and_draws_its_charts(screen, manager, network, size):
    browser = screen(manager, size)
    browser.goto("/admin/dashboard/")
    charts = browser.page.locator("#dashboard-charts")
    charts.wait_for(state="visible")
    assert charts.get_attribute("data-charts") == "4"
    profit = browser.page.evaluate("Chart.getChart('chart-profit').data.datasets.map((set) => set.label)")
    assert profit == ["Profit EUR", "Profit USD"]
    text = browser.check("manager-dashboard")  # the screenshot, no sideways scroll, no errors

    assert "Money in USD" in text and "Money in EUR" in text and "Top affiliates by profit" in text
    found = browser.page.evaluate(MEASURE)
    width = found["page"][1]
    assert found["page"][0] <= width
    if size == "desktop":
        assert all(right <= width for _, right in found["tables"]), found["tables"]
        assert not any(wrap["overflows"] for wrap in found["wraps"]), found["wraps"]
    else:
        assert all(wrap["hinted"] for wrap in found["wraps"] if wrap["overflows"]), found["wraps"]
        assert any(wrap["overflows"] for wrap in found["wraps"])  # the case the hint is for
    # The comparison tables themselves never need a scroll: they fit as they are.
    comparison = browser.page.locator("#money-USD").bounding_box()
    assert comparison["x"] + comparison["width"] <= width


def test_a_number_leads_to_the_rows_it_counts(screen, manager, network):
    browser = screen(manager, "desktop")
    browser.goto("/admin/dashboard/")
    approved = browser.page.locator("#counts tr:has-text('Approved') td a").first
    count = approved.inner_text()
    browser.follow("#counts tr:has-text('Approved') td a >> nth=0")
    assert "/admin/conversions/conversion/" in browser.page.url
    assert browser.page.locator("#result_list tbody tr").count() == int(count) == 12
    browser.check("manager-dashboard-approved-list")
