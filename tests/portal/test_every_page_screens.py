"""Every page of the portal, as an affiliate, and every page of the admin and the manager console, as
a manager, in a real browser at a desktop and a phone size, over one network with something on
every page: offers public and private (access approved, requested, rejected), clicks and refused
clicks, conversions of every status in two currencies, global and offer postbacks (one disabled
after failing) with succeeded, failed and retrying deliveries, an advertiser postback, API keys in
use and revoked.

Each page answers 200 and, as tests.portal.screens.Screen checks, never scrolls sideways, logs no
script or console error and no failed request, labels every form control and shows its status
badges at a contrast of at least 4.5:1; a table wider than its box scrolls in it under a shown
"scroll for more" hint. Screenshots are kept in var/screens/ (every-*).

The network is built once for the module and the browser logs in once per role and size, so that
the pages, not the set-up, take the time; the database is emptied when the module ends."""

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from axes.models import AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer

from alerts.services import alerts_evaluate
from api.services import api_key_issue, api_key_revoke
from conversions.models import ServerPostback
from offers.choices import ConversionStatus
from offers.models import GoalCountryPayout, Offer, OfferAccess
from offers.services import affiliate_set_signing_secret, offer_access_decide, offer_access_request
from offers.targeting import TargetingRefusal
from postbacks.models import Delivery, DeliveryAttempt, Postback
from stats.selectors import GROUPINGS
from tests.factories import (
    AffiliateFactory,
    ClickFactory,
    GoalFactory,
    ManagerFactory,
    OfferFactory,
    PostbackFactory,
    ServerPostbackFactory,
    UserFactory,
)
from tests.portal.screens import SIZES, Screen
from tests.stats.rollup import click_row, convert, write_clicks
from tracking.models import Click

# The tests open the database (to the web server too) without emptying it, each in a transaction
# of its own on this thread that the pages, served by other threads, never see.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

# The portal's addresses come from these URL configurations; the pages among them are the
# addresses answering GET, less the downloads.
PORTAL_NAMESPACES = ["portal", "offers", "postbacks", "stats", "statistics", "alerts"]
DOWNLOADS = {"stats:csv", "statistics:conversions-csv"}

# (screenshot name, URL name, its arguments from the network, query string, which may name the
# network's records as {net.affiliate.pid})
PORTAL_PAGES = [
    ("dashboard", "portal:dashboard", lambda net: [], ""),
    ("offers", "offers:list", lambda net: [], ""),
    ("offer", "offers:detail", lambda net: [net.offer.offer_id], ""),
    ("offer-private-approved", "offers:detail", lambda net: [net.approved.offer_id], ""),
    ("offer-private-requested", "offers:detail", lambda net: [net.requested.offer_id], ""),
    ("offer-private-rejected", "offers:detail", lambda net: [net.rejected.offer_id], ""),
    ("tracking-link", "offers:tracking-link", lambda net: [net.offer.offer_id], ""),
    ("offer-postbacks", "postbacks:offer-list", lambda net: [net.offer.offer_id], ""),
    ("offer-postback-add", "postbacks:offer-add", lambda net: [net.offer.offer_id], ""),
    (
        "offer-postback-add-from-template",
        "postbacks:offer-add",
        lambda net: [net.offer.offer_id],
        "?use_template=1&template-tracker=redtrack&template-click_id_sub=sub2&template-status=declined"
        "&template-domain=track.example.com",
    ),
    ("global-postback-add-template", "postbacks:global-add", lambda net: [], "?template-tracker=keitaro"),
    ("offer-postback-edit", "postbacks:offer-edit", lambda net: [net.offer.offer_id, net.local.pk], ""),
    ("offer-postback-delete", "postbacks:offer-delete", lambda net: [net.offer.offer_id, net.local.pk], ""),
    ("postback-settings", "postbacks:settings", lambda net: [], ""),
    ("signing-secret-replace", "postbacks:signing-secret", lambda net: [], ""),
    ("signing-secret-clear", "postbacks:signing-secret-clear", lambda net: [], ""),
    ("global-postback-add", "postbacks:global-add", lambda net: [], ""),
    ("global-postback-edit", "postbacks:global-edit", lambda net: [net.postback.pk], ""),
    ("global-postback-delete", "postbacks:global-delete", lambda net: [net.postback.pk], ""),
    ("integration-test", "postbacks:integration-test", lambda net: [], ""),
    ("postback-log", "postbacks:log", lambda net: [], ""),
    ("postback-replay", "postbacks:replay", lambda net: [], ""),
    ("postback-replay-preview", "postbacks:replay", lambda net: [], "?http_code=0&date_from={net.week_ago}"),
    (
        "offer-postback-backfill",
        "postbacks:offer-backfill",
        lambda net: [net.offer.offer_id, net.local.pk],
        "",
    ),
    (
        "offer-postback-backfill-preview",
        "postbacks:offer-backfill",
        lambda net: [net.offer.offer_id, net.local.pk],
        "?date_from={net.week_ago}&date_to={net.today}",
    ),
    ("global-postback-backfill", "postbacks:global-backfill", lambda net: [net.postback.pk], ""),
    ("explain", "postbacks:explain", lambda net: [], ""),
    (
        "explain-conversion",
        "postbacks:explain",
        lambda net: [],
        "?conversion_id={net.explained.conversion_id}",
    ),
    (
        "explain-click-gone",
        "postbacks:explain",
        lambda net: [],
        "?conversion_id={net.click_gone.conversion_id}",
    ),
    *(
        (f"statistics-by-{grouping}", "stats:report", lambda net: [], f"?group_by={grouping}")
        for grouping in GROUPINGS
    ),
    ("conversions", "statistics:conversions", lambda net: [], ""),
    ("alerts-settings", "alerts:settings", lambda net: [], ""),
    ("api-key", "portal:api-key", lambda net: [], ""),
    ("api-key-revoke", "portal:api-key-revoke", lambda net: [net.api_key.pk], ""),
    ("password-change", "password_change", lambda net: [], ""),
    ("password-change-done", "password_change_done", lambda net: [], ""),
]

# The manager console's pages, as PORTAL_PAGES: those whose URL name is not (yet) in the URL
# configuration are left out.
CONSOLE = [
    ("admin-dashboard", "admin-dashboard", lambda net: [], ""),
    ("admin-explain", "admin-explain", lambda net: [], "?conversion_id={net.explained.conversion_id}"),
    ("admin-integration-test", "admin-integration-test", lambda net: [], ""),
    (
        "admin-integration-test-affiliate",
        "admin-integration-test",
        lambda net: [],
        "?affiliate={net.affiliate.pid}",
    ),
    ("admin-work-queue", "admin-work-queue", lambda net: [], ""),
    ("admin-work-access-reject", "admin-work-access-reject", lambda net: [net.access_request.pk], ""),
    ("admin-affiliate-overview", "admin-affiliate-overview", lambda net: [net.affiliate.pid], ""),
    (
        "admin-affiliate-api-key-revoke",
        "admin-affiliate-api-key-revoke",
        lambda net: [net.affiliate.pid, net.api_key.pk],
        "",
    ),
    ("admin-advertiser-overview", "admin-advertiser-overview", lambda net: [net.offer.advertiser.pk], ""),
]


# Admin pages of their own beyond the models' lists and records.
ADMIN_VIEWS = [
    (
        "admin-postback-backfill",
        "admin:postbacks_postback_backfill",
        lambda net: [net.local.pk],
        "?date_from={net.week_ago}&date_to={net.today}",
    ),
]


def admin_pages() -> list[tuple]:
    """The admin's index, each registered model's list and one of its records, then the console."""
    pages = [("admin-index", "admin:index", lambda net: [], "")]
    for model in admin.site._registry:
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pages += [
            (f"admin-{model._meta.model_name}-list", f"{prefix}_changelist", lambda net: [], ""),
            (
                f"admin-{model._meta.model_name}",
                f"{prefix}_change",
                lambda net, model=model: [first(model)],
                "",
            ),
        ]
    registered = get_resolver().reverse_dict
    return pages + ADMIN_VIEWS + [page for page in CONSOLE if page[1] in registered]


def first(model) -> int:
    record = model._default_manager.order_by("pk").first()
    assert record is not None, f"the network has no {model._meta.verbose_name}: add one to it"
    return record.pk


def named_views(patterns, namespace=""):
    """(namespaced URL name, view, number of arguments) of every named address under `patterns`."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from named_views(
                entry.url_patterns, f"{entry.namespace}:" if entry.namespace else namespace
            )
        elif entry.name:
            yield namespace + entry.name, entry.callback, len(entry.pattern.converters)


REFUSED_COUNTRY = TargetingRefusal.COUNTRY.value
LONG_URL = (
    "https://tracker.partner-network.example.com/postback/conversions/incoming"
    "?click_id={sub1}&status={status}&payout={payout}&currency={currency}&goal={goal}&offer={offer_id}"
)


def build_network() -> SimpleNamespace:
    manager = ManagerFactory(username="sweep-manager")
    affiliate = AffiliateFactory(user=UserFactory(username="sweep-affiliate"))
    affiliate_set_signing_secret(affiliate=affiliate)
    Group.objects.create(name="Support")

    offer = OfferFactory(
        title="Fitness App Install for iOS and Android with a title long enough to wrap on a phone",
        target_countries=["US", "DE", "GB", "FR"],
        goals=[],
    )
    install = GoalFactory(
        offer=offer, value="install", title="App install", payout=Decimal("12.5"), revenue=Decimal("20")
    )
    purchase = GoalFactory(offer=offer, value="purchase", title="First purchase", currency="EUR")
    for country, payout in [("US", "15.00"), ("DE", "9.50")]:
        GoalCountryPayout.objects.create(goal=install, country=country, payout=Decimal(payout), revenue=20)
    approved, requested, rejected = (
        OfferFactory(title=f"Private offer {word}", visibility=Offer.Visibility.PRIVATE)
        for word in ["approved", "requested", "rejected"]
    )
    for private, status in [(approved, OfferAccess.Status.APPROVED), (rejected, OfferAccess.Status.REJECTED)]:
        access = offer_access_request(affiliate=affiliate, offer=private)
        offer_access_decide(access=access, status=status, decided_by=manager)
    access_request = offer_access_request(affiliate=affiliate, offer=requested)

    now = timezone.now()
    write_clicks(
        *(
            click_row(
                offer=offer,
                affiliate=affiliate,
                ip=f"198.51.100.{n}",
                at=now - timedelta(hours=n % 30),
                country=["US", "DE", "GB"][n % 3],
                os_family=["iOS", "Android"][n % 2],
                device_type="mobile",
                sub1=f"campaign-{n % 4}",
            )
            for n in range(60)
        ),
        click_row(
            offer=offer, affiliate=affiliate, ip="203.0.113.9", country="BR", refused="refused_country"
        ),
    )

    postback = PostbackFactory(affiliate=affiliate)
    local = PostbackFactory(affiliate=affiliate, offer=offer, url=LONG_URL)
    PostbackFactory(
        affiliate=affiliate,
        offer=offer,
        url="https://gone.example/pb?click={sub1}",
        enabled=False,
        disabled_reason="Disabled after 50 failed deliveries in a row: the server answered HTTP 404.",
    )
    conversions = [
        convert(
            offer=offer,
            affiliate=affiliate,
            goal=goal,
            status=status,
            click=ClickFactory(offer=offer, affiliate=affiliate, sub1="campaign-1"),
            country="US",
        )
        for goal in [install, purchase]
        for status in ConversionStatus
    ]
    ServerPostbackFactory(conversion=conversions[0])
    # A conversion whose click is older than the clicks kept: its row gone, its values kept.
    Click.objects.filter(pk=conversions[1].click_id)._raw_delete(Click.objects.db)
    deliveries = Delivery.objects.filter(postback=local).order_by("pk")
    deliveries.filter(pk=deliveries[0].pk).update(
        state=Delivery.State.SUCCEEDED, http_code=200, attempts=1, next_attempt_at=None, delivered_at=now
    )
    deliveries.filter(pk=deliveries[1].pk).update(
        state=Delivery.State.FAILED,
        http_code=0,
        error="Could not connect: [Errno 111] Connect call failed ('203.0.113.7', 443)",
        attempts=9,
        next_attempt_at=None,
    )
    deliveries.filter(pk=deliveries[2].pk).update(
        state=Delivery.State.RETRYING,
        http_code=503,
        error="HTTP 503: a postback needs a 2xx answer",
        attempts=3,
    )
    deliveries.filter(pk=deliveries[3].pk).update(is_backfill=True)
    # The local postback failing past the alert threshold, the disabled one, and an advertiser
    # whose postbacks are refused: notices on every portal page, alerts in the work queue.
    for _ in range(5):
        DeliveryAttempt.objects.create(
            delivery=deliveries[1], started_at=now, url=LONG_URL, http_code=0, error="refused", duration_ms=3
        )
    Postback.objects.filter(pk=local.pk).update(failing_since=now)
    for _ in range(20):
        ServerPostbackFactory(
            offer=offer, conversion=None, outcome=ServerPostback.Outcome.REJECTED, message="Access denied"
        )
    alerts_evaluate(now=timezone.now())
    Client().post(reverse("login"), {"username": "sweep-stranger", "password": "a guess"})
    # Neither logins nor failures are logged here (AXES_DISABLE_ACCESS_LOG, no
    # AXES_ENABLE_ACCESS_FAILURE_LOG), yet the logs' admin pages remain.
    AccessLog.objects.create(username="sweep-affiliate", ip_address="203.0.113.5", user_agent="Firefox")
    AccessFailureLog.objects.create(username="sweep-stranger", ip_address="203.0.113.6", user_agent="curl")
    api_key, _ = api_key_issue(user=affiliate.user, name="tracker on the production server")
    api_key_revoke(api_key=api_key_issue(user=affiliate.user, name="old tracker")[0])
    return SimpleNamespace(
        manager=manager,
        affiliate=affiliate,
        offer=offer,
        approved=approved,
        requested=requested,
        access_request=access_request,
        rejected=rejected,
        postback=postback,
        local=local,
        api_key=api_key,
        explained=conversions[0],
        click_gone=conversions[1],
        today=now.date().isoformat(),
        week_ago=(now.date() - timedelta(days=6)).isoformat(),
    )


@pytest.fixture(scope="module")
def network(django_db_setup, django_db_blocker):
    """The network, in a database left open to the module's tests and its web server."""
    with (
        django_db_blocker.unblock(),
        override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]),
    ):
        yield build_network()
        call_command("flush", interactive=False, verbosity=0)
        # The tests ran on connections of their own (pytest-django closes those); this one would
        # outlive the session and keep the test database from being dropped.
        connection.close()


@pytest.fixture(scope="module")
def server(network):
    server = LiveServer("localhost")
    with server._live_server_modified_settings:
        yield server
    server.stop()


@pytest.fixture(scope="module")
def screens(browser, server, network):
    """A logged-in screen per user and size, opened on first use."""
    opened = {}

    def screen(user, size: str) -> Screen:
        if (user.username, size) not in opened:
            opened[user.username, size] = Screen(browser, server, user.username, size)
        return opened[user.username, size]

    yield screen
    for one in opened.values():
        one.close()


# Each table wider than the box that scrolls it, unless a shown "scroll for more" hint is right
# before that box.
UNHINTED = """() => [...document.querySelectorAll('table')]
  .filter((table) => table.getClientRects().length > 0)
  .filter((table) => {
    for (let box = table.parentElement; box && box !== document.body; box = box.parentElement) {
      if (['auto', 'scroll'].includes(getComputedStyle(box).overflowX)) {
        if (box.scrollWidth <= box.clientWidth + 1) return false;
        const hint = box.previousElementSibling;
        return !(hint && hint.matches('.scroll-hint') && hint.getClientRects().length > 0);
      }
    }
    return false;
  })
  .map((table) => table.className || table.id || table.querySelector('th')?.innerText || 'table')"""


def visit(screen, network, name: str, url_name: str, arguments, query: str):
    screen.errors.clear()
    response = screen.goto(reverse(url_name, args=arguments(network)) + query.format(net=network))
    assert response.status == 200, f"{name}: {response.status} at {response.url}"
    screen.check(f"every-{name}")
    unhinted = screen.page.evaluate(UNHINTED)
    assert unhinted == [], f"{name} at {screen.size}: tables scroll without a hint: {unhinted}"


def test_the_list_holds_every_page_of_the_portal():
    pages = {
        name
        for name, view, _ in named_views(get_resolver().url_patterns)
        if name.partition(":")[0] in PORTAL_NAMESPACES
        and "get" in view.view_class.http_method_names
        and name not in DOWNLOADS
    }
    assert pages <= {url_name for _, url_name, _, _ in PORTAL_PAGES}


def test_the_list_holds_every_page_of_the_manager_console(client, network):
    """A console address off the list answers a manager's GET with 405: it takes only POSTs."""
    client.force_login(network.manager)
    listed = {url_name for _, url_name, _, _ in CONSOLE}
    answers = {
        name: client.get(reverse(name, args=[999999] * arguments)).status_code
        for name, view, arguments in named_views(get_resolver().url_patterns)
        if view.__module__.startswith("manager.") and name not in listed
    }
    assert answers and set(answers.values()) == {405}, answers


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "name, url_name, arguments, query", PORTAL_PAGES, ids=[page[0] for page in PORTAL_PAGES]
)
def test_every_portal_page_fits_and_reads_at_every_size(
    screens, network, size, name, url_name, arguments, query
):
    visit(screens(network.affiliate.user, size), network, name, url_name, arguments, query)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "name, url_name, arguments, query", admin_pages(), ids=[page[0] for page in admin_pages()]
)
def test_every_admin_page_fits_and_reads_at_every_size(
    screens, network, size, name, url_name, arguments, query
):
    visit(screens(network.manager, size), network, name, url_name, arguments, query)
