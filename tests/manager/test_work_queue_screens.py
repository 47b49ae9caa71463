"""The work queue in a real browser, at a desktop and a phone size, with something waiting in every
section and the longest values a network has (offer titles, postback URLs, refusal messages): the
page never scrolls sideways, logs no error, labels its form controls; a manager approves,
rejects (after the confirmation page) and enables a postback again with the page's own buttons.
Screenshots are kept in var/screens/ (work-*)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversions.models import ServerPostback
from offers.models import OfferAccess
from postbacks.models import Delivery
from tests.factories import (
    AdvertiserFactory,
    AffiliateFactory,
    ConversionFactory,
    DeliveryFactory,
    OfferAccessFactory,
    OfferFactory,
    PostbackFactory,
    ServerPostbackFactory,
    UserFactory,
)
from tests.portal.screens import SIZES

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TITLE = "Fitness App Install for iOS and Android with a title long enough to wrap twice on a phone"
LONG_URL = (
    "https://tracker.partner-network-with-a-long-name.example.com/postback/conversions/incoming"
    "?click_id={sub1}&status={status}&payout={payout}&currency={currency}&goal={goal}&offer={offer_id}"
)
CONNECT_ERROR = "Could not connect: [Errno 111] Connect call failed ('203.0.113.7', 443)"


@pytest.fixture
def queue():
    """Two access requests, old pending conversions on an offer with a long title, a failing and a
    disabled postback with long URLs and failed deliveries, and refused advertiser postbacks with
    and without an offer."""
    now = timezone.now()
    advertiser = AdvertiserFactory(name="Northwind Mobile Subscriptions International Holdings")
    offer = OfferFactory(advertiser=advertiser, title=TITLE)
    affiliate = AffiliateFactory(user=UserFactory(username="affiliate-with-a-rather-long-login-name"))
    waiting = [OfferAccessFactory(affiliate=affiliate), OfferAccessFactory()]
    for days in (9, 12, 40):
        ConversionFactory(offer=offer, affiliate=affiliate, created_at=now - timedelta(days=days))
    failing = PostbackFactory(
        affiliate=affiliate, offer=offer, url=LONG_URL, failing_since=now - timedelta(hours=7)
    )
    disabled = PostbackFactory(
        affiliate=affiliate,
        url=LONG_URL,
        enabled=False,
        disabled_reason=f"Disabled: every delivery failed for 3 days. Last error: {CONNECT_ERROR}",
        failing_since=now - timedelta(days=4),
    )
    for postback in (failing, disabled):
        DeliveryFactory(
            affiliate=affiliate,
            postback=postback,
            conversion=ConversionFactory(offer=offer, affiliate=affiliate, status=1),
            state=Delivery.State.FAILED,
            attempts=9,
            http_code=0,
            error=CONNECT_ERROR,
            url=LONG_URL,
        )
    refused = {"conversion": None, "outcome": ServerPostback.Outcome.REJECTED, "http_status": 404}
    for _ in range(3):
        ServerPostbackFactory(offer=offer, message="Click not found", ip="198.51.100.20", **refused)
    ServerPostbackFactory(
        offer=offer,
        message="Parameter custom_field_with_a_long_name is longer than 255 characters",
        **refused,
    )
    ServerPostbackFactory(offer=offer, ip="198.51.100.20")
    for _ in range(5):
        ServerPostbackFactory(message="Click not found", ip="2001:db8:85a3::8a2e:370:7334", **refused)
    return waiting, disabled


@pytest.mark.parametrize("size", list(SIZES))
def test_the_work_queue_fits_the_screen_with_every_section_full(screen, manager, queue, size):
    browser = screen(manager, size)
    browser.goto("/admin/work/")
    text = browser.check("work-queue")
    assert "Access requests waiting (2)" in text
    assert "Conversions pending for more than 7 days (3)" in text
    assert "Affiliate postbacks failing or disabled (2)" in text
    assert "Advertiser postbacks refused in the last 24 hours (9)" in text
    assert "2001:db8:85a3::8a2e:370:7334" in text


@pytest.mark.parametrize("size", list(SIZES))
def test_a_bad_number_of_days_shows_its_error_on_the_page(screen, manager, size):
    browser = screen(manager, size)
    browser.goto("/admin/work/?days=%D9%A1%D9%A2")
    text = browser.check("work-queue-bad-days")
    assert "Enter a number of days in digits" in text


@pytest.mark.parametrize("size", list(SIZES))
def test_a_manager_decides_requests_and_enables_a_postback_with_the_pages_buttons(
    screen, manager, queue, size
):
    (first, second), disabled = queue
    browser = screen(manager, size)
    browser.goto("/admin/work/")

    browser.follow(f"form[action^='/admin/work/access/{first.pk}/approve/'] button")
    assert "is approved." in browser.check("work-approved")
    first.refresh_from_db()
    assert first.status == OfferAccess.Status.APPROVED

    browser.follow(f"a[href^='/admin/work/access/{second.pk}/reject/']")
    assert "Yes, reject this request" in browser.check("work-reject")
    browser.follow("#access-reject button[type=submit]")
    assert "is rejected." in browser.check("work-rejected")
    second.refresh_from_db()
    assert second.status == OfferAccess.Status.REJECTED

    browser.follow(f"form[action^='/admin/work/postbacks/{disabled.pk}/enable/'] button")
    text = browser.check("work-enabled")
    assert "is enabled again" in text and "Access requests waiting (0)" in text
    disabled.refresh_from_db()
    assert disabled.enabled


@pytest.mark.parametrize("size", list(SIZES))
def test_the_queues_links_open_admin_lists_showing_their_filters(screen, manager, queue, size):
    browser = screen(manager, size)
    for link, name, shown in [
        ("a:text('Review 3 in the admin')", "work-link-conversions", "Before "),
        ("#troubled-postbacks a:text('Deliveries')", "work-link-deliveries", "tracker.partner-network"),
        ("#refusals-by-advertiser td[data-label='Refused'] a", "work-link-refusals", "From "),
    ]:
        browser.goto("/admin/work/")
        browser.follow(link)
        text = browser.check(name)
        assert shown in text and "0 results" not in text
