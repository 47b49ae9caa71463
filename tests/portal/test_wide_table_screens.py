"""The portal's and the admin's widest tables in a real browser, at a desktop and a phone size, with
long URLs and a long offer title: the postback log, an offer's "Your Postbacks", the statistics by
offer and by goal, the conversion list, and the admin's conversions, deliveries and an offer's
goals. At the desktop size every column is on screen without scrolling; on a phone the page never
scrolls sideways, a table either turns into cards (a `label: value` line per cell) or scrolls in
its own box under a "scroll for more" hint. No script or console errors, no failed requests;
screenshots are kept in var/screens/."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from offers.choices import ConversionStatus
from postbacks.models import Delivery
from tests.factories import DeliveryFactory, GoalFactory, OfferFactory, PostbackFactory
from tests.portal.screens import SIZES
from tests.stats.rollup import click_row, convert, write_clicks

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("direct_writes"),
]

TITLE = "Fitness App Install for iOS and Android with a title long enough to wrap twice on a phone"
LONG_URL = (
    "https://tracker.partner-network.example.com/postback/conversions/incoming"
    "?click_id={sub1}&status={status}&payout={payout}&currency={currency}&goal={goal}"
    "&offer={offer_id}&transaction={conversion_id}&source=portal&campaign=winter-sale-2026"
)
SENT_URL = (
    "https://tracker.partner-network.example.com/postback/conversions/incoming"
    "?click_id=9f2c41d07ab34e5f8c1d2e3f4a5b6c7d&status=approved&payout=12.50&currency=USD&goal=install"
    "&offer=1001&transaction=5f0c3a9e8b7d6c5a4f3e2d1c&source=portal&campaign=winter-sale-2026"
)

# Where the header cells and the cells of the first row of a table end, and where they could be
# seen: the window's edge, or nearer, the edge of a box that clips or scrolls them; how much room
# the table has to spare; and whether each table that scrolls in its box has a visible hint above it.
MEASURE = """(table) => {
  const box = (cell) => cell.getBoundingClientRect();
  const seen = (cell) => {
    let edge = window.innerWidth;
    for (let box = cell.parentElement; box; box = box.parentElement) {
      if (getComputedStyle(box).overflowX !== 'visible') {
        edge = Math.min(edge, box.getBoundingClientRect().right);
      }
    }
    return edge;
  };
  const root = document.querySelector(table);
  const wraps = [...document.querySelectorAll('.table-wrap')].map((wrap) => {
    const hint = wrap.previousElementSibling;
    return {
      overflows: wrap.scrollWidth > wrap.clientWidth + 1,
      hinted: !!hint && hint.matches('.scroll-hint') && hint.offsetParent !== null,
    };
  });
  // How much narrower the box could be before the table would have to scroll in it.
  root.style.width = 'min-content';
  const spare = root.parentElement.clientWidth - box(root).width;
  root.style.width = '';
  return {
    spare,
    page: [document.documentElement.scrollWidth, window.innerWidth],
    headers: [...root.querySelectorAll('thead th')].map((th) => [
      th.innerText.trim(), box(th).right, seen(th),
    ]),
    cells: [...root.querySelectorAll('tbody tr:first-child > td')].map((td) => [
      td.dataset.label || td.innerText.trim().slice(0, 20),
      box(td).right, box(td).width, td.offsetParent !== null, seen(td),
    ]),
    wraps,
  };
}"""


@pytest.fixture
def network(affiliate):
    """An offer with a long title and two goals, clicks and conversions of every status today (in
    the statistics too), a postback with a long URL, and deliveries: one failed after many attempts
    to a long URL, one delivered, one being retried."""
    offer = OfferFactory(title=TITLE, goals=[])
    install = GoalFactory(offer=offer, value="install", title="App install", payout=Decimal("12.5"))
    GoalFactory(offer=offer, value="first_purchase_over_fifty", title="First purchase over 50 USD")
    statuses = [
        ConversionStatus.APPROVED,
        ConversionStatus.PENDING,
        ConversionStatus.HOLD,
        ConversionStatus.DECLINED,
    ]
    write_clicks(*(click_row(offer=offer, affiliate=affiliate, ip=f"198.51.100.{n}") for n in range(40)))
    conversions = [
        convert(offer=offer, goal=install, affiliate=affiliate, status=status) for status in statuses
    ]
    postback = PostbackFactory(affiliate=affiliate, offer=offer, url=LONG_URL)
    now = timezone.now()
    DeliveryFactory(
        affiliate=affiliate,
        postback=postback,
        conversion=conversions[0],
        url=SENT_URL,
        state=Delivery.State.FAILED,
        http_code=0,
        error="Could not connect: [Errno 111] Connect call failed ('203.0.113.7', 443)",
        attempts=9,
        next_attempt_at=None,
        created_at=now,
    )
    DeliveryFactory(
        affiliate=affiliate,
        postback=postback,
        conversion=conversions[1],
        state=Delivery.State.SUCCEEDED,
        http_code=200,
        attempts=1,
        next_attempt_at=None,
        created_at=now - timedelta(minutes=5),
    )
    DeliveryFactory(
        affiliate=affiliate,
        postback=postback,
        conversion=conversions[2],
        url=SENT_URL,
        state=Delivery.State.RETRYING,
        http_code=503,
        error="HTTP 503: a postback needs a 2xx answer",
        attempts=3,
        created_at=now - timedelta(minutes=9),
    )
    return offer


def measured(browser, path: str, name: str, table: str) -> dict:
    browser.goto(path)
    browser.check(name)  # the screenshot, no sideways scroll, no errors
    return browser.page.evaluate(MEASURE, table)


def assert_fits(found: dict, size: str, phone_fields: list[str] = ()):
    """At the desktop size every header cell and every cell of the first row can be seen without
    scrolling, with room to spare; on a phone the page does not scroll sideways, a table that
    scrolls in its box has a visible hint, and `phone_fields` are on screen."""
    width = found["page"][1]
    assert found["page"][0] <= width
    if size == "desktop":
        hidden = [(text, right, edge) for text, right, edge in found["headers"] if right > edge + 1]
        assert hidden == [], f"header cells past the edge: {hidden}"
        # Longer values than these (bigger amounts, other states) still fit.
        assert found["spare"] >= 48, f"only {found['spare']} px to spare"
        assert all(right <= edge + 1 for _, right, _, _, edge in found["cells"]), found["cells"]
    else:
        assert all(wrap["hinted"] for wrap in found["wraps"] if wrap["overflows"]), found["wraps"]
        shown = {label: right <= edge + 1 and visible for label, right, _, visible, edge in found["cells"]}
        assert all(shown.get(field) for field in phone_fields), (phone_fields, found["cells"])


@pytest.mark.parametrize("size", SIZES)
def test_the_postback_log_fits_the_screen(screen, affiliate, network, size):
    browser = screen(affiliate.user, size)
    found = measured(browser, "/statistics/postbacks/", "wide-postback-log", "table.log")
    assert_fits(found, size, ["Postback URL", "Status", "What happened", "State", "Date (UTC)"])
    assert browser.page.locator("table.log button:has-text('Retry')").first.is_visible()


@pytest.mark.parametrize("size", SIZES)
def test_your_postbacks_fit_the_screen_with_a_long_url(screen, affiliate, network, size):
    browser = screen(affiliate.user, size)
    found = measured(
        browser, f"/offers/{network.offer_id}/postbacks/", "wide-your-postbacks", "table.postbacks"
    )
    assert_fits(found, size, ["URL", "Status", "Last delivery"])
    button = browser.page.locator("button:has-text('Send test postback')").bounding_box()
    assert button["x"] + button["width"] <= found["page"][1]


@pytest.mark.parametrize("group_by", ["offer", "goal"])
@pytest.mark.parametrize("size", SIZES)
def test_the_statistics_by_offer_and_goal_fit_the_screen(screen, affiliate, network, size, group_by):
    browser = screen(affiliate.user, size)
    found = measured(browser, f"/statistics/?group_by={group_by}", f"wide-stats-{group_by}", "table.report")
    assert_fits(found, size)
    if size == "desktop":
        name_width = found["cells"][0][2]
        assert name_width >= 200, f"the offer's name is squeezed into {name_width} px"


@pytest.mark.parametrize("size", SIZES)
def test_the_conversion_list_shows_status_payout_offer_and_goal_at_every_size(
    screen, affiliate, network, size
):
    browser = screen(affiliate.user, size)
    found = measured(browser, "/statistics/conversions/", "wide-conversions", "table.conversions")
    assert_fits(found, size, ["Status", "Payout", "Offer", "Goal"])


@pytest.mark.parametrize(
    "path, name, table",
    [
        ("/admin/conversions/conversion/", "admin-conversions", "#result_list"),
        ("/admin/postbacks/delivery/", "admin-deliveries", "#result_list"),
    ],
)
def test_the_admin_lists_show_every_column_on_a_desktop(screen, manager, network, path, name, table):
    browser = screen(manager, "desktop")
    assert_fits(measured(browser, path, name, table), "desktop")


def test_an_offers_goals_fit_its_admin_page_on_a_desktop(screen, manager, network):
    browser = screen(manager, "desktop")
    found = measured(
        browser, f"/admin/offers/offer/{network.pk}/change/", "admin-offer-goals", "#goals-group table"
    )
    assert_fits(found, "desktop")
