"""The pages of one affiliate and of one advertiser in a real browser, at a desktop and a phone
size, full of long values (URLs, offer titles, queries): no sideways scroll, no script or console
errors, no failed requests; screenshots are kept in var/screens/. Revoking a key is clicked
through as a manager would."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from api.services import api_key_issue
from conversions.models import ServerPostback
from offers.choices import ConversionStatus
from offers.targeting import TargetingRefusal
from postbacks.models import Delivery
from tests.factories import (
    AdvertiserFactory,
    DeliveryFactory,
    GoalFactory,
    OfferAccessFactory,
    OfferFactory,
    PostbackFactory,
    ServerPostbackFactory,
)
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
LONG_QUERY = (
    "clickid=9f2c41d07ab34e5f8c1d2e3f&action_id=ORDER-2026-000000000000123456789&goal=first_purchase_over_fifty"
    "&sum=129.99&status=1&secure=***&custom_field1=winter-sale-2026-campaign-with-a-long-name&currency=EUR"
)


@pytest.fixture
def network(affiliate):
    """An advertiser without protection and an offer with a long title and two currencies, an
    affiliate with traffic, postbacks (one disabled after failures), keys, refused clicks and
    failed deliveries, and refused advertiser postbacks with long queries."""
    affiliate.user.email = "media-buying-team-of-a-long-named-partner@example.com"
    affiliate.user.save()
    advertiser = AdvertiserFactory(name="Fit Corp International Holdings", secure_code="")
    offer = OfferFactory(advertiser=advertiser, title=TITLE, goals=[])
    install = GoalFactory(offer=offer, value="install", title="App install", payout=Decimal("12.5"))
    sale = GoalFactory(offer=offer, value="sale", title="Sale", currency="EUR", payout=Decimal("40"))
    now = timezone.now()
    write_clicks(
        *(click_row(offer=offer, affiliate=affiliate, ip=f"198.51.100.{n}") for n in range(40)),
        *(
            click_row(offer=offer, affiliate=affiliate, ip=f"198.51.100.{n}", at=now - timedelta(days=35))
            for n in range(20)
        ),
        *(
            click_row(
                offer=offer,
                affiliate=affiliate,
                refused=TargetingRefusal.COUNTRY.value,
                country="BR",
                ip=f"192.0.2.{n}",
                at=now - timedelta(minutes=n),
            )
            for n in range(12)
        ),
    )
    for status in ConversionStatus:
        convert(offer=offer, goal=install, affiliate=affiliate, status=status)
    convert(offer=offer, goal=sale, affiliate=affiliate, status=ConversionStatus.APPROVED)
    OfferAccessFactory(
        affiliate=affiliate, offer=OfferFactory(advertiser=advertiser, title="Private " + TITLE)
    )
    healthy = PostbackFactory(affiliate=affiliate, url=LONG_URL)
    disabled = PostbackFactory(
        affiliate=affiliate,
        offer=offer,
        goal=install,
        url=LONG_URL.replace("incoming", "failing"),
        enabled=False,
        failing_since=now - timedelta(days=4),
        disabled_reason="Disabled on 2026-01-02 10:00 UTC: every delivery failed for 3 days. Last error: "
        "Could not connect: [Errno 111] Connect call failed ('203.0.113.5', 8399)",
    )
    DeliveryFactory(
        affiliate=affiliate, postback=healthy, state=Delivery.State.SUCCEEDED, attempts=1, http_code=200
    )
    for minutes in range(3):
        DeliveryFactory(
            affiliate=affiliate,
            postback=disabled,
            url=LONG_URL.replace("{", "").replace("}", ""),
            state=Delivery.State.FAILED,
            attempts=9,
            http_code=0,
            error="Could not connect: [Errno 111] Connect call failed ('203.0.113.5', 8399)",
            created_at=now - timedelta(minutes=minutes),
        )
    api_key_issue(user=affiliate.user, name="Keitaro tracker of the media buying team")
    revoked, _ = api_key_issue(user=affiliate.user, name="old script")
    revoked.revoked_at = now
    revoked.save()
    for hours, message in enumerate(
        ["Access denied", "Goal not found", "Access denied", "Click session expired"]
    ):
        ServerPostbackFactory(
            conversion=None,
            offer=offer,
            outcome=ServerPostback.Outcome.REJECTED,
            http_status=403,
            message=message,
            query=LONG_QUERY,
            ip="2001:db8:85a3::8a2e:370:7334",
            received_at=now - timedelta(hours=hours),
        )
    return advertiser


@pytest.mark.parametrize("size", SIZES)
def test_the_affiliate_page_fits_the_screen_without_errors(screen, manager, affiliate, network, size):
    browser = screen(manager, size)
    browser.goto(f"/admin/network/affiliates/{affiliate.pid}/")
    text = browser.check("manager-affiliate")
    for heading in ["Who", "Performance", "Offers", "Postbacks", "API keys", "Recent refusals"]:
        assert browser.page.locator(f"h2:text-is('{heading}')").is_visible()
    assert "Disabled automatically" in text and "Connection refused" in text
    assert "Country not targeted: Brazil (BR)" in text


@pytest.mark.parametrize("size", SIZES)
def test_the_advertiser_page_fits_the_screen_without_errors(screen, manager, network, size):
    browser = screen(manager, size)
    browser.goto(f"/admin/network/advertisers/{network.pk}/")
    text = browser.check("manager-advertiser")
    assert browser.page.locator("#forgery-warning").is_visible()
    assert "Access denied" in text and "secure=***" in text


@pytest.mark.parametrize("size", SIZES)
def test_a_key_is_revoked_by_clicking_through_the_confirmation(screen, manager, affiliate, network, size):
    browser = screen(manager, size)
    browser.goto(f"/admin/network/affiliates/{affiliate.pid}/")
    browser.follow("#api-keys-table a:text-is('Revoke')")
    browser.check("manager-api-key-revoke")
    browser.follow("input[type=submit][value='Yes, revoke this key']")
    text = browser.check("manager-affiliate-revoked")
    assert "revoked" in text
    assert browser.page.locator("#api-keys-table a:text-is('Revoke')").count() == 0
