"""Every table that scrolls sideways in its own box on a phone says so, with the "Scroll sideways
for more columns" hint above it, like the statistics report: the dashboard's top offers and days,
an offer's payouts by country, the macro reference (on the postback settings, a postback's form and
the integration test), and the admin's confirmation pages. On a desktop the same tables fit, and
no hint shows. Screenshots are kept in var/screens/."""

from decimal import Decimal

import pytest

from api.services import api_key_issue
from offers.choices import ConversionStatus
from offers.services import goal_set_country_payouts
from tests.factories import GoalFactory, OfferFactory, PostbackFactory
from tests.portal.screens import SIZES
from tests.stats.rollup import click_row, convert, write_clicks

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("direct_writes"),
]

NO_PERCENT = {"payout_percent": Decimal(0), "revenue_percent": Decimal(0)}
TITLE = "Fitness App Install for iOS and Android with a title long enough to wrap twice on a phone"

# Each table box of the page: its table's id (or its first header), whether it scrolls sideways,
# and whether a shown hint stands right above it.
BOXES = """() => [...document.querySelectorAll('.table-wrap')].map((wrap) => {
  const hint = wrap.previousElementSibling;
  const table = wrap.querySelector('table');
  return {
    table: table.id || table.querySelector('th').textContent.trim(),
    overflows: wrap.scrollWidth > wrap.clientWidth + 1,
    hinted: !!hint && hint.matches('.scroll-hint') && hint.offsetParent !== null,
  };
})"""


@pytest.fixture
def offer(affiliate):
    """An offer with a long title, a goal with a long value and payouts by country, clicks and
    conversions today."""
    offer = OfferFactory(title=TITLE, goals=[])
    install = GoalFactory(
        offer=offer, value="first_purchase_over_fifty", title="First purchase over 50", payout=Decimal("12.5")
    )
    goal_set_country_payouts(
        goal=install,
        country_payouts=[
            {"country": "DE", "payout": Decimal("14.75"), "revenue": Decimal("20"), **NO_PERCENT},
            {"country": "BA", "payout": Decimal("3.10"), "revenue": Decimal("5"), **NO_PERCENT},
        ],
    )
    write_clicks(*(click_row(offer=offer, affiliate=affiliate, ip=f"198.51.100.{n}") for n in range(12)))
    convert(offer=offer, goal=install, affiliate=affiliate, status=ConversionStatus.APPROVED)
    return offer


def boxes(browser, path: str, name: str) -> list[dict]:
    browser.goto(path)
    browser.check(name)  # the screenshot, no sideways scroll of the page, no errors
    return browser.page.evaluate(BOXES)


def assert_hinted(found: list[dict], size: str, tables: set[str]):
    """`tables` are on the page; on a phone they have the hint (shown on small screens, as above
    every table that may scroll there) and so does each box that scrolls; on a desktop none
    scrolls and no hint shows."""
    assert tables <= {box["table"] for box in found}, found
    if size == "phone":
        assert all(box["hinted"] for box in found if box["table"] in tables), found
        assert [box for box in found if box["overflows"] and not box["hinted"]] == []
    else:
        assert [box for box in found if box["overflows"] or box["hinted"]] == []


@pytest.mark.parametrize("size", SIZES)
def test_the_dashboards_tables_say_they_scroll_on_a_phone(screen, affiliate, offer, size):
    found = boxes(screen(affiliate.user, size), "/", "hint-dashboard")
    assert_hinted(found, size, {"top-offers", "daily-figures"})


@pytest.mark.parametrize("size", SIZES)
def test_an_offers_payouts_by_country_say_they_scroll_on_a_phone(screen, affiliate, offer, size):
    found = boxes(screen(affiliate.user, size), f"/offers/{offer.offer_id}/", "hint-offer-payouts")
    assert_hinted(found, size, {"Goal"})


@pytest.mark.parametrize(
    "path, name",
    [
        ("/settings/postbacks/", "hint-macros-settings"),
        ("/settings/postbacks/add/", "hint-macros-postback-form"),
        ("/integration-test/", "hint-macros-integration-test"),
    ],
)
@pytest.mark.parametrize("size", SIZES)
def test_the_macro_reference_says_it_scrolls_on_a_phone(screen, affiliate, offer, size, path, name):
    PostbackFactory(affiliate=affiliate)
    found = boxes(screen(affiliate.user, size), path, name)
    assert_hinted(found, size, {"macro-reference"})


@pytest.mark.parametrize("size", SIZES)
def test_the_admins_confirmation_pages_say_their_table_scrolls_on_a_phone(screen, manager, affiliate, size):
    api_key, _ = api_key_issue(user=affiliate.user, name="tracker on the production server")
    browser = screen(manager, size)
    browser.goto("/admin/api/apikey/")
    browser.page.check(f"input[name=_selected_action][value='{api_key.pk}']")
    browser.page.select_option("select[name=action]", "revoke")
    browser.follow("button[name=index]")
    browser.check("hint-admin-revoke")

    found = browser.page.evaluate(BOXES)

    if size == "phone":
        assert found[0]["overflows"] and found[0]["hinted"], found
    else:
        assert found == [{"table": "Key", "overflows": False, "hinted": False}]
