"""The manager console's page of one affiliate (`/admin/network/affiliates/<pid>/`) and of one
advertiser (`/admin/network/advertisers/<pk>/`): each section with real rows, nothing of another
partner, staff only, revoking an API key end to end, and links from the admin's own pages."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from api.services import api_key_issue
from conversions.models import ServerPostback
from offers.choices import ConversionStatus
from offers.models import Offer, OfferAccess
from offers.targeting import TargetingRefusal
from postbacks.models import Delivery, Postback
from tests.factories import (
    AdvertiserFactory,
    AffiliateFactory,
    DeliveryFactory,
    GoalFactory,
    OfferAccessFactory,
    OfferFactory,
    PostbackFactory,
    ServerPostbackFactory,
    UserFactory,
)
from tests.stats.rollup import click_row, convert, write_clicks

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

CONNECT_ERROR = "Could not connect: [Errno 111] Connect call failed ('203.0.113.5', 8399)"
DISABLED_REASON = (
    "Disabled on 2026-01-02 10:00 UTC: every delivery failed for 3 days. Last error: " + CONNECT_ERROR
)


def affiliate_url(affiliate) -> str:
    return reverse("admin-affiliate-overview", kwargs={"pid": affiliate.pid})


def advertiser_url(advertiser) -> str:
    return reverse("admin-advertiser-overview", kwargs={"pk": advertiser.pk})


def revoke_url(affiliate, api_key) -> str:
    return reverse("admin-affiliate-api-key-revoke", kwargs={"pid": affiliate.pid, "pk": api_key.pk})


@pytest.fixture
def staff(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def offer():
    return OfferFactory(
        title="Fitness app",
        goals=[
            {"value": "install", "title": "Install", "payout": "2", "revenue": "5"},
            {"value": "sale", "title": "Sale", "payout": "10", "revenue": "30", "currency": "EUR"},
        ],
    )


@pytest.fixture
def traffic(affiliate, other_affiliate, offer):
    """Today: 3 clicks of the affiliate (2 IPs), 1 refused by country, an approved install, a
    pending install and an approved sale in EUR. 40 days ago: 2 clicks and a declined install.
    The other affiliate: 5 clicks, an approved install and a refused click today."""
    now = timezone.now()
    before = now - timedelta(days=40)
    write_clicks(
        *(click_row(offer=offer, affiliate=affiliate, ip=f"198.51.100.{n % 2}") for n in range(3)),
        click_row(
            offer=offer,
            affiliate=affiliate,
            refused=TargetingRefusal.COUNTRY.value,
            country="FR",
            ip="192.0.2.77",
        ),
        *(click_row(offer=offer, affiliate=affiliate, ip=f"198.51.100.{n}", at=before) for n in range(2)),
        *(click_row(offer=offer, affiliate=other_affiliate, ip=f"203.0.113.{n}") for n in range(5)),
        click_row(
            offer=offer,
            affiliate=other_affiliate,
            refused=TargetingRefusal.OS.value,
            os_family="Symbian OS",
            ip="192.0.2.99",
        ),
    )
    install, sale = offer.goals.order_by("pk")
    convert(offer=offer, affiliate=affiliate, goal=install, status=ConversionStatus.APPROVED)
    convert(offer=offer, affiliate=affiliate, goal=install, status=ConversionStatus.PENDING)
    convert(offer=offer, affiliate=affiliate, goal=sale, status=ConversionStatus.APPROVED)
    convert(
        offer=offer, affiliate=affiliate, goal=install, status=ConversionStatus.DECLINED, created_at=before
    )
    convert(offer=offer, affiliate=other_affiliate, goal=install, status=ConversionStatus.APPROVED)


def lines(response) -> dict:
    return {line.label: line.texts for line in response.context["overview"].totals}


# --- The affiliate's page ---------------------------------------------------------------------


def test_the_page_says_who_the_affiliate_is_and_links_to_its_admin_page(staff, affiliate):
    affiliate.user.email = "partner@example.com"
    affiliate.user.save()
    response = staff.get(affiliate_url(affiliate))
    assert response.status_code == 200
    page = response.content.decode()
    assert f"<dd>{affiliate.pid}</dd>" in page
    assert affiliate.user.username in page and "partner@example.com" in page
    assert reverse("admin:offers_affiliate_change", args=[affiliate.pk]) in page
    assert "Active" in page


def test_a_blocked_affiliate_is_shown_blocked(staff, affiliate):
    affiliate.status = affiliate.Status.BLOCKED
    affiliate.save()
    assert "Blocked" in staff.get(affiliate_url(affiliate)).content.decode()


def test_performance_compares_the_last_30_days_with_the_30_before_from_the_statistics(
    staff, affiliate, traffic
):
    found = lines(staff.get(affiliate_url(affiliate)))
    assert found["Clicks"] == ("3", "2")
    assert found["Unique clicks"] == ("2", "2")
    assert found["Refused clicks (targeting)"] == ("1", "0")
    assert found["Conversions"] == ("3", "1")
    assert found["… approved"] == ("2", "0")
    assert found["… pending"] == ("1", "0")
    assert found["… declined"] == ("0", "1")
    assert found["CR"] == ("100.00%", "0.00%")
    # Each currency on its own; profit is the approved revenue less the approved payout.
    assert found["Payout, USD"] == ("2.00", "0.00")
    assert found["Revenue, USD"] == ("5.00", "0.00")
    assert found["Profit, USD"] == ("3.00", "0.00")
    assert found["Pending and hold payout, USD"] == ("2.00", "0.00")
    assert found["Payout, EUR"] == ("10.00", "0.00")
    assert found["Profit, EUR"] == ("20.00", "0.00")


def test_the_offers_it_ran_show_their_figures_and_its_access_requests_their_status(
    staff, affiliate, other_affiliate, offer, traffic
):
    private = OfferFactory(title="Private casino", visibility=Offer.Visibility.PRIVATE)
    OfferAccessFactory(affiliate=affiliate, offer=private, status=OfferAccess.Status.PENDING)
    OfferAccessFactory(affiliate=other_affiliate, offer=OfferFactory(title="Their private offer"))
    idle = OfferFactory(title="Idle offer")
    response = staff.get(affiliate_url(affiliate))
    overview = response.context["overview"]
    assert [line.offer for line in overview.offers] == [offer]
    line = overview.offers[0]
    assert (line.figures.clicks, line.figures.conversions) == (3, 3)
    assert [(amounts.currency, amounts.profit) for amounts in line.amounts] == [
        ("EUR", Decimal("20")),
        ("USD", Decimal("3")),
    ]
    page = response.content.decode()
    assert idle.title not in page
    assert [access.offer for access in overview.access_requests] == [private]
    assert "Private casino" in page and "Pending" in page
    assert "Their private offer" not in page


def test_postbacks_show_their_scope_filters_state_and_success_over_the_last_7_days(staff, affiliate, offer):
    install = offer.goals.get(value="install")
    healthy = PostbackFactory(affiliate=affiliate, url="https://tracker.example/global?c={sub1}")
    failing = PostbackFactory(
        affiliate=affiliate,
        offer=offer,
        url="https://tracker.example/failing?c={sub1}",
        status=Postback.StatusFilter.APPROVED,
        method=Postback.Method.POST,
        enabled=False,
        disabled_reason=DISABLED_REASON,
        failing_since=timezone.now() - timedelta(days=4),
    )
    by_hand = PostbackFactory(
        affiliate=affiliate, offer=offer, goal=install, url="https://tracker.example/off", enabled=False
    )
    now = timezone.now()
    for state in [Delivery.State.SUCCEEDED, Delivery.State.SUCCEEDED, Delivery.State.FAILED]:
        DeliveryFactory(affiliate=affiliate, postback=healthy, state=state, attempts=1, http_code=200)
    # Older than a week, or never tried: not counted.
    DeliveryFactory(
        affiliate=affiliate,
        postback=healthy,
        state=Delivery.State.FAILED,
        attempts=3,
        created_at=now - timedelta(days=8),
    )
    DeliveryFactory(affiliate=affiliate, postback=healthy, attempts=0)
    DeliveryFactory(
        affiliate=affiliate,
        postback=failing,
        state=Delivery.State.FAILED,
        attempts=9,
        http_code=0,
        error=CONNECT_ERROR,
        url="https://tracker.example:8399/failing?c=1",
    )

    response = staff.get(affiliate_url(affiliate))
    health = {line.postback: line for line in response.context["overview"].postbacks}
    assert list(health) == [healthy, failing, by_hand]  # global ones first
    assert (health[healthy].attempted, health[healthy].succeeded, health[healthy].rate) == (
        3,
        2,
        Decimal("66.7"),
    )
    assert health[healthy].scope == "Global" and health[healthy].state == "Enabled"
    assert health[failing].scope == "Offer" and health[failing].state == "Disabled automatically"
    assert health[failing].explanation.title == "Connection refused"
    assert health[by_hand].scope == "Offer and goal"
    assert health[by_hand].state == "Disabled by the affiliate or a manager"
    assert health[by_hand].rate is None
    page = response.content.decode()
    assert escape(DISABLED_REASON) in page
    assert "Last failure: Connection refused" in page
    assert "Status approved" in page and "POST" in page
    assert "66.7%" in page and "2 of 3" in page


def test_the_postbacks_section_reads_the_same_number_of_queries_for_one_postback_or_twelve(
    staff, affiliate, offer
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff.get(affiliate_url(affiliate)).status_code == 200
        return len(captured)

    failing = PostbackFactory(affiliate=affiliate, failing_since=timezone.now())
    DeliveryFactory(affiliate=affiliate, postback=failing, state=Delivery.State.RETRYING, attempts=2)
    one = queries()
    for n in range(11):
        postback = PostbackFactory(
            affiliate=affiliate, offer=offer, enabled=n % 2 == 0, failing_since=timezone.now()
        )
        DeliveryFactory(affiliate=affiliate, postback=postback, state=Delivery.State.FAILED, attempts=1)
        DeliveryFactory(affiliate=affiliate, postback=postback, state=Delivery.State.SUCCEEDED, attempts=1)
    assert queries() == one


def test_api_keys_are_listed_without_the_key_and_revoked_ones_say_when(staff, affiliate, other_affiliate):
    active, raw_key = api_key_issue(user=affiliate.user, name="tracker")
    revoked, _ = api_key_issue(user=affiliate.user, name="old script")
    revoked.revoked_at = timezone.now() - timedelta(days=2)
    revoked.save()
    theirs, _ = api_key_issue(user=other_affiliate.user, name="their integration")
    response = staff.get(affiliate_url(affiliate))
    assert response.context["overview"].api_keys == [active, revoked]
    page = response.content.decode()
    assert active.prefix in page and "tracker" in page and "old script" in page
    assert raw_key not in page and raw_key[8:] not in page
    assert "their integration" not in page and theirs.prefix not in page
    assert revoke_url(affiliate, active) in page
    assert revoke_url(affiliate, revoked) not in page


def test_revoking_a_key_from_the_page_stops_it_working_on_the_api(affiliate, manager):
    api_key, raw_key = api_key_issue(user=affiliate.user, name="tracker")
    api = Client(HTTP_API_KEY=raw_key)
    assert api.get("/api/v1/me/").status_code == 200
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(manager)
    page = browser.get(affiliate_url(affiliate)).content.decode()
    assert revoke_url(affiliate, api_key) in page

    confirmation = browser.get(revoke_url(affiliate, api_key))
    assert confirmation.status_code == 200
    assert "Yes, revoke this key" in confirmation.content.decode()
    api_key.refresh_from_db()
    assert api_key.revoked_at is None  # a GET changes nothing

    token = confirmation.cookies["csrftoken"].value
    answer = browser.post(revoke_url(affiliate, api_key), {"confirm": "yes", "csrfmiddlewaretoken": token})
    assert answer.status_code == 302
    assert answer["Location"] == affiliate_url(affiliate) + "#api-keys"
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert api.get("/api/v1/me/").status_code == 401
    assert "revoked" in browser.get(answer["Location"]).content.decode()


def test_a_revoke_without_confirmation_or_csrf_token_changes_nothing(affiliate, manager):
    api_key, _ = api_key_issue(user=affiliate.user)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(manager)
    token = browser.get(revoke_url(affiliate, api_key)).cookies["csrftoken"].value
    assert browser.post(revoke_url(affiliate, api_key), {"csrfmiddlewaretoken": token}).status_code == 400
    assert browser.post(revoke_url(affiliate, api_key), {"confirm": "yes"}).status_code == 403
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


def test_another_affiliates_key_cannot_be_revoked_through_this_affiliates_page(
    staff, affiliate, other_affiliate
):
    theirs, _ = api_key_issue(user=other_affiliate.user)
    assert staff.post(revoke_url(affiliate, theirs), {"confirm": "yes"}).status_code == 404
    assert staff.get(revoke_url(affiliate, theirs)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_staff_without_the_right_to_change_keys_see_no_revoke_link_and_cannot_revoke(client, affiliate):
    viewer = UserFactory(is_staff=True)
    client.force_login(viewer)
    api_key, _ = api_key_issue(user=affiliate.user)
    assert revoke_url(affiliate, api_key) not in client.get(affiliate_url(affiliate)).content.decode()
    assert client.post(revoke_url(affiliate, api_key), {"confirm": "yes"}).status_code == 403
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


def test_recent_refusals_are_newest_first_bounded_and_link_to_the_admin_lists(
    staff, affiliate, other_affiliate, offer
):
    now = timezone.now()
    write_clicks(
        *(
            click_row(
                offer=offer,
                affiliate=affiliate,
                refused=TargetingRefusal.COUNTRY.value,
                country="DE",
                at=now - timedelta(minutes=n),
            )
            for n in range(12)
        ),
        click_row(offer=offer, affiliate=affiliate, refused=TargetingRefusal.DEVICE.value, device_type="bot"),
        click_row(
            offer=offer, affiliate=other_affiliate, refused=TargetingRefusal.OS.value, os_family="Tizen"
        ),
    )
    postback = PostbackFactory(affiliate=affiliate)
    for minutes in range(12):
        DeliveryFactory(
            affiliate=affiliate,
            postback=postback,
            state=Delivery.State.FAILED,
            attempts=5,
            http_code=503,
            created_at=now - timedelta(minutes=minutes),
        )
    DeliveryFactory(affiliate=other_affiliate, state=Delivery.State.FAILED, attempts=1, http_code=500)
    DeliveryFactory(affiliate=affiliate, postback=postback, state=Delivery.State.SUCCEEDED, attempts=1)

    response = staff.get(affiliate_url(affiliate))
    overview = response.context["overview"]
    refused = overview.refused_clicks
    assert len(refused) == 10
    assert [row.created_at for row in refused] == sorted((row.created_at for row in refused), reverse=True)
    assert {row.affiliate_id for row in refused} == {affiliate.pk}
    assert refused[0].why == "Device type not targeted: Bot"
    assert refused[1].why == "Country not targeted: Germany (DE)"
    failed = overview.failed_deliveries
    assert len(failed) == 10 and {delivery.affiliate_id for delivery in failed} == {affiliate.pk}
    assert [row.created_at for row in failed] == sorted((row.created_at for row in failed), reverse=True)
    assert "Tizen" not in response.content.decode()

    page = response.content.decode()
    links = {
        "refused": reverse("admin:tracking_refusedclick_changelist")
        + f"?affiliate__id__exact={affiliate.pk}",
        "deliveries": reverse("admin:postbacks_delivery_changelist")
        + f"?affiliate__id__exact={affiliate.pk}&amp;state__exact=failed",
        "postbacks": reverse("admin:postbacks_postback_changelist") + f"?affiliate__id__exact={affiliate.pk}",
    }
    for link in links.values():
        assert link in page
    # The admin's lists take the filters, and list this affiliate's rows only.
    refused_list = staff.get(links["refused"])
    assert refused_list.status_code == 200
    assert refused_list.context["cl"].result_count == 13
    delivery_list = staff.get(links["deliveries"].replace("&amp;", "&"))
    assert delivery_list.status_code == 200
    assert {row.affiliate_id for row in delivery_list.context["cl"].result_list} == {affiliate.pk}


def test_nothing_of_another_affiliate_appears_on_the_page(staff, affiliate, other_affiliate, offer, traffic):
    PostbackFactory(affiliate=other_affiliate, url="https://their-tracker.example/pb")
    api_key_issue(user=other_affiliate.user, name="their key name")
    DeliveryFactory(affiliate=other_affiliate, state=Delivery.State.FAILED, attempts=2, http_code=404)
    page = staff.get(affiliate_url(affiliate)).content.decode()
    assert "their-tracker.example" not in page
    assert "their key name" not in page
    assert "Symbian" not in page
    assert other_affiliate.user.username not in page
    # The other affiliate's clicks and conversions are not in this one's figures.
    assert lines(staff.get(affiliate_url(affiliate)))["Clicks"] == ("3", "2")


def test_an_affiliate_without_anything_gets_a_page_that_says_so(staff, affiliate):
    page = staff.get(affiliate_url(affiliate)).content.decode()
    assert "No clicks or conversions in the last 30 days." in page
    assert "No postbacks" in page and "No API keys." in page and "No access requests" in page


@pytest.mark.parametrize("pid", ["0", "999999999", "123456"])
def test_an_unknown_pid_is_a_404(staff, affiliate, pid):
    assert staff.get(f"/admin/network/affiliates/{pid}/").status_code == 404


@pytest.mark.parametrize("path", ["/admin/network/affiliates/1234567890/", "/admin/network/affiliates/-1/"])
def test_a_pid_that_is_no_pid_is_a_404(staff, path):
    assert staff.get(path).status_code == 404


def test_an_unknown_api_key_or_advertiser_is_a_404(staff, affiliate):
    assert staff.get(f"/admin/network/affiliates/{affiliate.pid}/api-keys/999999/revoke/").status_code == 404
    assert staff.get("/admin/network/advertisers/999999/").status_code == 404
    assert staff.get("/admin/network/advertisers/9999999999999999999/").status_code == 404


def test_the_pages_are_for_staff_only(client, affiliate):
    api_key, _ = api_key_issue(user=affiliate.user)
    advertiser = AdvertiserFactory()
    paths = [affiliate_url(affiliate), advertiser_url(advertiser), revoke_url(affiliate, api_key)]
    for path in paths:
        anonymous = client.get(path)
        assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    client.force_login(affiliate.user)
    for path in paths:
        refused = client.get(path)
        assert refused.status_code == 302 and refused["Location"].startswith("/admin/login/")
    assert client.post(revoke_url(affiliate, api_key), {"confirm": "yes"}).status_code == 302
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


HOSTILE = [
    "?date_from=0001-01-01",
    "?date_to=9999-12-31&date_from=%00",
    "?pid=%00",
    "?page=99999999999999999999999",
    "?offer=%D9%A3",
    "?q=%ff%fe",
    "?" + "a=" + "x" * 5000,
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_query_strings_never_break_the_pages(staff, affiliate, traffic, query):
    advertiser = Offer.objects.get().advertiser
    assert staff.get(affiliate_url(affiliate) + query).status_code == 200
    assert staff.get(advertiser_url(advertiser) + query).status_code == 200


# --- The advertiser's page --------------------------------------------------------------------


@pytest.fixture
def advertiser():
    return AdvertiserFactory(name="Fit Corp", secure_code="s3cr3t-code-4f9a", ip_allowlist=["203.0.113.0/24"])


def refused_hit(offer, message, *, hours_ago=0, query="clickid=abc&secure=***&goal=1"):
    return ServerPostbackFactory(
        conversion=None,
        offer=offer,
        outcome=ServerPostback.Outcome.REJECTED,
        http_status=403,
        message=message,
        query=query,
        ip="198.51.100.9",
        received_at=timezone.now() - timedelta(hours=hours_ago),
    )


def test_the_advertisers_offers_show_status_visibility_and_their_last_30_days(staff, affiliate, advertiser):
    offer = OfferFactory(advertiser=advertiser, title="Fit install", goals=[])
    GoalFactory(offer=offer, value="1", payout=Decimal("2"), revenue=Decimal("5"))
    paused = OfferFactory(
        advertiser=advertiser,
        title="Fit paused",
        status=Offer.Status.PAUSED,
        visibility=Offer.Visibility.PRIVATE,
    )
    elsewhere = OfferFactory(title="Not theirs")
    write_clicks(
        *(click_row(offer=offer, affiliate=affiliate, ip=f"198.51.100.{n}") for n in range(4)),
        click_row(offer=elsewhere, affiliate=affiliate),
        click_row(offer=offer, affiliate=affiliate, at=timezone.now() - timedelta(days=31)),
    )
    convert(offer=offer, affiliate=affiliate, status=ConversionStatus.APPROVED)
    response = staff.get(advertiser_url(advertiser))
    assert response.status_code == 200
    overview = response.context["overview"]
    assert [line.offer for line in overview.offers] == [offer, paused]
    line = overview.offers[0]
    assert (line.figures.clicks, line.figures.conversions, line.figures.cr) == (4, 1, Decimal("25.00"))
    assert [
        (amounts.currency, amounts.payout, amounts.revenue, amounts.profit) for amounts in line.amounts
    ] == [("USD", Decimal("2"), Decimal("5"), Decimal("3"))]
    page = response.content.decode()
    assert "Fit install" in page and "Paused" in page and "Private (access on request)" in page
    assert "Not theirs" not in page
    assert reverse("admin:offers_advertiser_change", args=[advertiser.pk]) in page


def test_refused_postbacks_are_grouped_by_message_over_24_hours_and_7_days_with_the_latest_rows(
    staff, advertiser
):
    offer = OfferFactory(advertiser=advertiser)
    other = OfferFactory(advertiser=advertiser)
    refused_hit(offer, "Access denied", hours_ago=1)
    refused_hit(other, "Access denied", hours_ago=30)
    refused_hit(offer, "Goal not found", hours_ago=2, query="clickid=abc&goal=unknown&secure=***")
    refused_hit(offer, "Access denied", hours_ago=24 * 8)  # older than a week
    refused_hit(OfferFactory(), "Current IP-address is denied")  # another advertiser's offer
    ServerPostbackFactory(offer=offer, received_at=timezone.now())  # accepted
    response = staff.get(advertiser_url(advertiser))
    overview = response.context["overview"]
    assert [(row.message, row.last_day, row.last_week) for row in overview.refusal_messages] == [
        ("Access denied", 1, 2),
        ("Goal not found", 1, 1),
    ]
    assert [hit.message for hit in overview.latest_refusals] == [
        "Access denied",
        "Goal not found",
        "Access denied",
    ]
    counts = {line.offer: (line.refused_day, line.refused_week) for line in overview.offers}
    assert counts == {offer: (2, 2), other: (0, 1)}
    page = response.content.decode()
    assert "clickid=abc&amp;goal=unknown&amp;secure=***" in page
    assert "Current IP-address is denied" not in page
    changelist = reverse("admin:conversions_serverpostback_changelist")
    link = f"{changelist}?offer__id__exact={offer.pk}&outcome__exact=rejected"
    assert link.replace("&", "&amp;") in page
    listed = staff.get(link)
    assert listed.status_code == 200 and listed.context["cl"].result_count == 3


def test_the_secure_code_is_never_shown_but_its_last_two_characters_and_the_allowlist_is(staff, advertiser):
    page = staff.get(advertiser_url(advertiser)).content.decode()
    assert advertiser.secure_code not in page
    assert advertiser.secure_code[:-2] not in page
    assert "…9a" in page
    assert "203.0.113.0/24" in page
    assert 'id="forgery-warning"' not in page


def test_a_short_secure_code_is_only_said_to_be_set(staff):
    advertiser = AdvertiserFactory(secure_code="q7Zx")
    page = staff.get(advertiser_url(advertiser)).content.decode()
    # Two characters would be half of it. The page's random CSRF token may hold any
    # two letters, so the check is on what the page says of the code.
    assert "…Zx" not in page and "ends in" not in page
    assert 'id="secure-code-state">Set: every postback must carry it' in page


def test_an_advertiser_with_neither_secure_code_nor_allowlist_is_warned_about(staff):
    advertiser = AdvertiserFactory(secure_code="", ip_allowlist=[])
    open_offer = OfferFactory(advertiser=advertiser, title="Open offer")
    OfferFactory(advertiser=advertiser, title="Guarded offer", secure_code="offer-own-code-77")
    response = staff.get(advertiser_url(advertiser))
    page = response.content.decode()
    assert 'id="forgery-warning"' in page
    assert "can report conversions" in page and "1 of them have no secure code" in page
    assert response.context["overview"].open_offers == [open_offer]
    assert "offer-own-code-77" not in page
    protections = {line.offer.title: line.protection for line in response.context["overview"].offers}
    assert protections == {"Open offer": "Nothing: open to anyone", "Guarded offer": "Its own secure code"}


# --- Links from the admin ---------------------------------------------------------------------


def test_the_admin_lists_and_change_pages_link_to_the_overviews(staff, affiliate, advertiser):
    for path, target in [
        (reverse("admin:offers_affiliate_changelist"), affiliate_url(affiliate)),
        (reverse("admin:offers_affiliate_change", args=[affiliate.pk]), affiliate_url(affiliate)),
        (reverse("admin:offers_advertiser_changelist"), advertiser_url(advertiser)),
        (reverse("admin:offers_advertiser_change", args=[advertiser.pk]), advertiser_url(advertiser)),
    ]:
        response = staff.get(path)
        assert response.status_code == 200
        assert f'href="{target}"' in response.content.decode(), path


def test_the_add_pages_still_work_without_an_overview(staff):
    for name in ["admin:offers_affiliate_add", "admin:offers_advertiser_add"]:
        page = staff.get(reverse(name)).content.decode()
        assert "Shown once the" in page


def test_the_affiliate_change_page_still_saves(staff, affiliate):
    response = staff.post(
        reverse("admin:offers_affiliate_change", args=[affiliate.pk]),
        {"pid": affiliate.pid, "user": affiliate.user.pk, "status": "blocked"},
    )
    assert response.status_code == 302
    affiliate.refresh_from_db()
    assert affiliate.status == affiliate.Status.BLOCKED


def test_a_second_affiliate_has_its_own_page(staff):
    first, second = AffiliateFactory(), AffiliateFactory()
    assert staff.get(affiliate_url(first)).context["overview"].affiliate == first
    assert staff.get(affiliate_url(second)).context["overview"].affiliate == second
