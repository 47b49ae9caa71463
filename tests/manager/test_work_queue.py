"""The work queue (`/admin/work/`): access requests waiting, conversions pending for more than N
days, affiliate postbacks failing or disabled, and advertiser postbacks refused, each with its
action one click away; the links lead to admin lists of exactly the rows counted."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversions.models import ServerPostback
from manager.selectors import work
from offers.access import affiliate_can_run_offer
from offers.choices import ConversionStatus
from offers.models import Offer, OfferAccess
from postbacks.models import Delivery
from tests.factories import (
    AdvertiserFactory,
    ConversionFactory,
    DeliveryFactory,
    OfferAccessFactory,
    OfferFactory,
    PostbackFactory,
    ServerPostbackFactory,
    UserFactory,
)
from tests.security.hostile import assert_not_a_server_error, query

pytestmark = pytest.mark.django_db

QUEUE = "/admin/work/"
REFUSED = ServerPostback.Outcome.REJECTED


@pytest.fixture
def staff(client, manager):
    client.force_login(manager)
    return client


def changelist_pks(client, url: str) -> set[int]:
    """The rows an admin list shows at `url` (every one: the lists here hold fewer than a page)."""
    response = client.get(url)
    assert response.status_code == 200, url
    changelist = response.context["cl"]
    assert changelist.result_count == len(changelist.result_list) <= changelist.list_per_page
    return {row.pk for row in changelist.result_list}


def link(url: str) -> dict:
    """The query string of `url` as a dict of single values."""
    return {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()}


# --- Who may see it ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", [QUEUE, "/admin/work/access/1/reject/"])
def test_the_queue_and_its_pages_send_anyone_but_staff_to_the_login(client, affiliate, path):
    for user in [None, affiliate.user]:
        if user:
            client.force_login(user)
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith(f"/admin/login/?next={path}")


def test_an_affiliate_cannot_approve_a_request_by_posting_to_the_queue(client, affiliate):
    waiting = OfferAccessFactory(affiliate=affiliate)
    client.force_login(affiliate.user)
    response = client.post(f"/admin/work/access/{waiting.pk}/approve/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    waiting.refresh_from_db()
    assert waiting.status == OfferAccess.Status.PENDING


def test_the_admin_index_links_the_queue_with_what_waits(staff):
    OfferAccessFactory()
    PostbackFactory(failing_since=timezone.now())
    page = staff.get("/admin/").content.decode()
    assert f'href="{QUEUE}"' in page
    assert "1 access request waiting, 1 affiliate postback failing or disabled" in page


# --- An empty queue ---------------------------------------------------------------------------


def test_an_empty_queue_says_in_words_that_nothing_waits(staff):
    response = staff.get(QUEUE)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Access requests waiting (0)" in page
    assert "No affiliate is waiting for access to an offer." in page
    assert "Conversions pending for more than 7 days (0)" in page
    assert "No conversion has been pending for more than 7 days." in page
    assert "Affiliate postbacks failing or disabled (0)" in page
    assert "Every affiliate postback is delivering" in page
    assert "Advertiser postbacks refused in the last 24 hours (0)" in page
    assert "No advertiser postback was refused in the last 24 hours." in page


# --- 1. Access requests -----------------------------------------------------------------------


def test_pending_requests_are_listed_the_longest_waiting_first_and_decided_ones_not(staff):
    newer = OfferAccessFactory()
    older = OfferAccessFactory()
    OfferAccess.objects.filter(pk=older.pk).update(requested_at=timezone.now() - timedelta(days=3))
    OfferAccessFactory(status=OfferAccess.Status.APPROVED)
    OfferAccessFactory(status=OfferAccess.Status.REJECTED)

    response = staff.get(QUEUE)
    assert [row.pk for row in response.context["access"].rows] == [older.pk, newer.pk]
    page = response.content.decode()
    assert "Access requests waiting (2)" in page
    assert f'href="/admin/network/affiliates/{older.affiliate.pid}/"' in page
    assert f'href="/admin/network/advertisers/{older.offer.advertiser_id}/"' in page
    assert f'action="/admin/work/access/{older.pk}/approve/"' in page
    assert f'href="/admin/work/access/{older.pk}/reject/"' in page


def test_approving_from_the_queue_lets_the_affiliate_run_the_offer(staff, manager, client, direct_writes):
    waiting = OfferAccessFactory()
    affiliate, offer = waiting.affiliate, waiting.offer
    assert not affiliate_can_run_offer(affiliate=affiliate, offer=offer)

    response = staff.post(f"/admin/work/access/{waiting.pk}/approve/?days=30")
    assert response.status_code == 302 and response["Location"] == f"{QUEUE}?days=30"
    waiting.refresh_from_db()
    assert waiting.status == OfferAccess.Status.APPROVED and waiting.decided_by == manager
    assert affiliate_can_run_offer(affiliate=affiliate, offer=offer)
    click = client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}")
    assert click.status_code == 302 and click["Location"].startswith("https://advertiser.example/landing")
    page = staff.get(response["Location"]).content.decode()
    assert "is approved." in page and "Access requests waiting (0)" in page


def test_approving_answers_only_a_post(staff):
    waiting = OfferAccessFactory()
    assert staff.get(f"/admin/work/access/{waiting.pk}/approve/").status_code == 405
    waiting.refresh_from_db()
    assert waiting.status == OfferAccess.Status.PENDING


def test_rejecting_asks_first_and_rejects_only_once_confirmed(staff, manager):
    waiting = OfferAccessFactory()
    path = f"/admin/work/access/{waiting.pk}/reject/"

    asked = staff.get(path)
    assert asked.status_code == 200
    assert "Yes, reject this request" in asked.content.decode()
    unconfirmed = staff.post(path)
    assert unconfirmed.status_code == 400
    assert "Nothing was rejected" in unconfirmed.content.decode()
    waiting.refresh_from_db()
    assert waiting.status == OfferAccess.Status.PENDING

    confirmed = staff.post(path, {"confirm": "yes"})
    assert confirmed.status_code == 302 and confirmed["Location"] == QUEUE
    waiting.refresh_from_db()
    assert waiting.status == OfferAccess.Status.REJECTED and waiting.decided_by == manager
    assert not affiliate_can_run_offer(affiliate=waiting.affiliate, offer=waiting.offer)


def test_a_request_decided_meanwhile_stays_as_it_was_decided(staff):
    decided = OfferAccessFactory(status=OfferAccess.Status.REJECTED)
    response = staff.post(f"/admin/work/access/{decided.pk}/approve/", follow=True)
    assert "was already rejected" in response.content.decode()
    decided.refresh_from_db()
    assert decided.status == OfferAccess.Status.REJECTED and decided.decided_by is None
    assert staff.get(f"/admin/work/access/{decided.pk}/reject/").status_code == 302


def test_an_unknown_request_is_a_404(staff):
    assert staff.post("/admin/work/access/999999/approve/").status_code == 404
    assert staff.get("/admin/work/access/999999/reject/").status_code == 404
    assert staff.get(f"/admin/work/access/{'9' * 19}/reject/").status_code == 404


def test_staff_without_the_right_to_change_access_see_requests_but_cannot_decide(client):
    viewer = UserFactory(is_staff=True)
    for codename in ("view_conversion", "view_offeraccess"):
        viewer.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(viewer)
    waiting = OfferAccessFactory()

    page = client.get(QUEUE).content.decode()
    assert "Access requests waiting (1)" in page and "Deciding needs the right" in page
    assert "/approve/" not in page
    assert client.post(f"/admin/work/access/{waiting.pk}/approve/").status_code == 403
    assert client.post(f"/admin/work/access/{waiting.pk}/reject/", {"confirm": "yes"}).status_code == 403
    waiting.refresh_from_db()
    assert waiting.status == OfferAccess.Status.PENDING


def test_the_list_of_requests_is_bounded_and_links_to_the_rest(staff):
    offer = OfferFactory(visibility=Offer.Visibility.PRIVATE)
    for _ in range(work.ROWS + 2):
        OfferAccessFactory(offer=offer)
    response = staff.get(QUEUE)
    assert len(response.context["access"].rows) == work.ROWS
    page = response.content.decode()
    assert f"Access requests waiting ({work.ROWS + 2})" in page and "… and 2 more" in page
    assert changelist_pks(staff, "/admin/offers/offeraccess/?status__exact=pending") == set(
        OfferAccess.objects.values_list("pk", flat=True)
    )


# --- 2. Conversions pending too long ----------------------------------------------------------


def test_a_conversion_pending_exactly_n_days_is_not_yet_longer_than_n_days():
    now = timezone.now()
    exactly = ConversionFactory(created_at=now - timedelta(days=7))
    longer = ConversionFactory(created_at=now - timedelta(days=7, microseconds=1))

    pending = work.conversions_pending_longer_than(days=7, now=now)
    assert [row.offer.pk for row in pending.offers.rows] == [longer.offer_id]
    assert pending.conversions == 1
    assert exactly.offer_id not in {row.offer.pk for row in pending.offers.rows}


def test_conversions_pending_too_long_are_counted_per_offer_the_oldest_first(staff):
    now = timezone.now()
    advertiser = AdvertiserFactory(name="Acme Mobile")
    slow, slower = OfferFactory(advertiser=advertiser), OfferFactory()
    counted = [
        ConversionFactory(offer=slow, created_at=now - timedelta(days=8)),
        ConversionFactory(offer=slow, created_at=now - timedelta(days=9)),
        ConversionFactory(offer=slower, created_at=now - timedelta(days=30)),
    ]
    # Not counted: too recent, decided, on hold, or a test conversion.
    ConversionFactory(offer=slow, created_at=now - timedelta(days=7) + timedelta(minutes=1))
    for status in [ConversionStatus.APPROVED, ConversionStatus.DECLINED, ConversionStatus.HOLD]:
        ConversionFactory(offer=slow, status=status, created_at=now - timedelta(days=40))
    ConversionFactory(offer=slow, is_test=True, created_at=now - timedelta(days=40))

    response = staff.get(QUEUE)
    pending = response.context["pending"]
    assert [(row.offer.pk, row.conversions) for row in pending.offers.rows] == [(slower.pk, 1), (slow.pk, 2)]
    page = response.content.decode()
    assert "Conversions pending for more than 7 days (3)" in page and "Acme Mobile" in page

    rows = response.context["pending_rows"]
    assert changelist_pks(staff, rows[0][1]) == {counted[2].pk}
    assert changelist_pks(staff, rows[1][1]) == {counted[0].pk, counted[1].pk}
    assert changelist_pks(staff, response.context["pending_url"]) == {row.pk for row in counted}
    assert link(rows[1][1])["created_before"] == pending.created_before.isoformat()


def test_the_number_of_days_comes_from_the_query_string(staff):
    now = timezone.now()
    ConversionFactory(created_at=now - timedelta(days=2))
    ConversionFactory(created_at=now - timedelta(days=20))
    assert staff.get(QUEUE, {"days": "1"}).context["pending"].conversions == 2
    assert staff.get(QUEUE, {"days": "30"}).context["pending"].conversions == 0
    page = staff.get(QUEUE, {"days": "365"}).content.decode()
    assert "Conversions pending for more than 365 days (0)" in page


@pytest.mark.parametrize(
    "days", ["\x00", "7\x00", "0", "-1", "366", "9" * 30, "²", "١٢", "１２", "", "7.5", "x" * 3000]
)
def test_a_bad_number_of_days_is_a_form_error_and_the_other_sections_stay(staff, days):
    OfferAccessFactory()
    response = staff.get(f"{QUEUE}?{query({'days': days})}")
    assert_not_a_server_error(response, repr(days[:20]))
    assert response.status_code == 200
    assert response.context["form"].errors["days"]
    page = response.content.decode()
    assert 'id="id_days_errors"' in page and "pending" not in response.context
    assert "Access requests waiting (1)" in page


@pytest.mark.parametrize("hours", ["\x00", "5", "0", "9" * 30, "²", "２４", ""])
def test_a_bad_window_is_a_form_error(staff, hours):
    response = staff.get(f"{QUEUE}?{query({'hours': hours})}")
    assert_not_a_server_error(response, repr(hours[:20]))
    assert response.status_code == 200 and response.context["form"].errors["hours"]
    assert "refusals" not in response.context


@pytest.mark.parametrize("params", ["%00=1", "days=7&days=%00", "days=%ED%A0%80", "days=8&hours=24&days=9"])
def test_odd_query_strings_are_no_server_error(staff, params):
    assert_not_a_server_error(staff.get(f"{QUEUE}?{params}"), params)


# --- 3. Affiliate postbacks in trouble --------------------------------------------------------

CONNECT_ERROR = "Could not connect: [Errno 111] Connect call failed ('203.0.113.5', 8399)"


def test_failing_and_platform_disabled_postbacks_are_listed_with_the_reason_in_words(staff):
    now = timezone.now()
    failing = PostbackFactory(
        url="https://hooks.partner.example/pb?c={sub1}", failing_since=now - timedelta(hours=5)
    )
    disabled = PostbackFactory(
        url="http://tracker.example:8399/in",
        enabled=False,
        disabled_reason=f"Disabled: every delivery failed for 3 days. Last error: {CONNECT_ERROR}",
        failing_since=now - timedelta(days=4),
    )
    PostbackFactory()  # healthy
    PostbackFactory(enabled=False)  # turned off by its affiliate: no reason, not a manager's work
    DeliveryFactory(
        postback=disabled,
        affiliate=disabled.affiliate,
        state=Delivery.State.FAILED,
        attempts=9,
        http_code=0,
        error=CONNECT_ERROR,
        url="http://tracker.example:8399/in?c=1",
    )
    for state, code in [
        (Delivery.State.SUCCEEDED, 200),
        (Delivery.State.FAILED, 500),
        (Delivery.State.FAILED, 500),
    ]:
        DeliveryFactory(
            postback=failing, affiliate=failing.affiliate, state=state, attempts=1, http_code=code
        )
    # Not counted: older than the last 7 days, never tried, or a test conversion's.
    DeliveryFactory(
        postback=failing,
        affiliate=failing.affiliate,
        state=Delivery.State.SUCCEEDED,
        attempts=1,
        http_code=200,
        created_at=now - timedelta(days=8),
    )
    DeliveryFactory(postback=failing, affiliate=failing.affiliate)
    DeliveryFactory(
        postback=failing,
        affiliate=failing.affiliate,
        state=Delivery.State.SUCCEEDED,
        attempts=1,
        http_code=200,
        conversion=ConversionFactory(affiliate=failing.affiliate, is_test=True),
    )

    response = staff.get(QUEUE)
    rows = response.context["postbacks"].postbacks.rows
    assert [row.postback.pk for row in rows] == [disabled.pk, failing.pk]
    assert (rows[1].attempted, rows[1].succeeded, str(rows[1].rate)) == (3, 1, "33.3")
    assert rows[1].host == "hooks.partner.example" and rows[0].host == "tracker.example"
    page = response.content.decode()
    assert "Affiliate postbacks failing or disabled (2)" in page
    assert "33.3%" in page and rows[0].explanation.title in page
    assert rows[0].explanation.advice.split(".")[0] in page
    assert rows[1].explanation.title in page  # HTTP 500, in words
    assert f'href="/admin/postbacks/postback/{disabled.pk}/change/"' in page
    assert f'action="/admin/work/postbacks/{disabled.pk}/enable/"' in page
    assert f'action="/admin/work/postbacks/{failing.pk}/enable/"' not in page

    assert staff.get(f"/admin/postbacks/postback/{failing.pk}/change/").status_code == 200
    deliveries = changelist_pks(staff, f"/admin/postbacks/delivery/?postback={failing.pk}")
    assert deliveries == set(Delivery.objects.filter(postback=failing).values_list("pk", flat=True))
    assert len(deliveries) == 6


def test_a_postback_disabled_long_ago_shows_its_recorded_reason(staff):
    reason = "Disabled on 2025-01-01 00:00 UTC: every delivery failed for 3 days. Last error: HTTP 503"
    PostbackFactory(enabled=False, disabled_reason=reason, failing_since=timezone.now() - timedelta(days=300))
    page = staff.get(QUEUE).content.decode()
    assert reason in page and "none sent" in page


def test_enabling_a_disabled_postback_again_clears_its_reason_and_its_streak(staff):
    disabled = PostbackFactory(
        enabled=False, disabled_reason="Disabled: failed", failing_since=timezone.now()
    )
    response = staff.post(f"/admin/work/postbacks/{disabled.pk}/enable/", follow=True)
    assert "is enabled again" in response.content.decode()
    disabled.refresh_from_db()
    assert disabled.enabled and disabled.disabled_reason == "" and disabled.failing_since is None
    assert "Affiliate postbacks failing or disabled (0)" in response.content.decode()


def test_a_postback_whose_url_is_now_refused_stays_disabled_with_the_reason(staff, settings):
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = "false"
    disabled = PostbackFactory(url="http://10.0.0.8/pb", enabled=False, disabled_reason="Disabled: failed")
    response = staff.post(f"/admin/work/postbacks/{disabled.pk}/enable/", follow=True)
    assert "stays disabled" in response.content.decode()
    disabled.refresh_from_db()
    assert not disabled.enabled and disabled.disabled_reason == "Disabled: failed"


def test_staff_without_the_right_to_change_postbacks_cannot_enable_one(client):
    viewer = UserFactory(is_staff=True)
    client.force_login(viewer)
    disabled = PostbackFactory(enabled=False, disabled_reason="Disabled: failed")
    assert "Enable again" not in client.get(QUEUE).content.decode()
    assert client.post(f"/admin/work/postbacks/{disabled.pk}/enable/").status_code == 403
    disabled.refresh_from_db()
    assert not disabled.enabled


def test_the_deliveries_filter_answers_a_bad_postback_id_as_an_unknown_lookup(staff):
    for value in ["\x00", "²", "x", "9" * 30]:
        response = staff.get(f"/admin/postbacks/delivery/?{query({'postback': value})}")
        assert response.status_code == 302 and response["Location"].endswith("?e=1")


# --- 4. Advertiser postbacks refused ----------------------------------------------------------


def refused(offer=None, message="Click not found", ip="198.51.100.7", **fields):
    return ServerPostbackFactory(
        offer=offer, conversion=None, outcome=REFUSED, http_status=404, message=message, ip=ip, **fields
    )


def test_refused_postbacks_are_grouped_per_advertiser_with_their_share_of_the_window(staff):
    now = timezone.now()
    broken = AdvertiserFactory(name="Broken Integration Ltd")
    first, second = OfferFactory(advertiser=broken), OfferFactory(advertiser=broken)
    counted = [refused(first) for _ in range(3)] + [refused(second, message="Goal not found")]
    accepted = ConversionFactory(offer=first)
    ServerPostbackFactory(conversion=accepted, offer=first, ip="198.51.100.7")
    refused(first, received_at=now - timedelta(hours=25))  # outside the window
    other = refused(OfferFactory())

    response = staff.get(QUEUE)
    by_advertiser = response.context["refusals"].by_advertiser.rows
    assert [(row.advertiser.pk, row.refused, row.accepted) for row in by_advertiser] == [
        (broken.pk, 4, 1),
        (other.offer.advertiser_id, 1, 0),
    ]
    assert str(by_advertiser[0].rate) == "80.0"
    assert by_advertiser[0].messages == [("Click not found", 3), ("Goal not found", 1)]
    page = response.content.decode()
    assert "Advertiser postbacks refused in the last 24 hours (5)" in page
    assert "Broken Integration Ltd" in page and "80.0%" in page

    url = response.context["advertiser_rows"][0][1]
    assert changelist_pks(staff, url) == {row.pk for row in counted}
    assert changelist_pks(staff, response.context["refusals_url"]) == {row.pk for row in [*counted, other]}


def test_refusals_without_an_offer_are_grouped_per_caller_ip_and_message(staff):
    burst = [refused(ip="203.0.113.50") for _ in range(4)]
    other_message = refused(ip="203.0.113.50", message="Missing mandatory parameter clickid")
    no_address = refused(ip=None)
    ServerPostbackFactory(ip="203.0.113.50")  # accepted from the same caller

    response = staff.get(QUEUE)
    rows = response.context["refusals"].by_caller.rows
    assert [(row.ip, row.message, row.refused, row.accepted) for row in rows] == [
        ("203.0.113.50", "Click not found", 4, 1),
        ("203.0.113.50", "Missing mandatory parameter clickid", 1, 1),
        (None, "Click not found", 1, 0),
    ]
    assert str(rows[0].rate) == "80.0"
    urls = [url for _, url in response.context["caller_rows"]]
    assert changelist_pks(staff, urls[0]) == {row.pk for row in burst}
    assert changelist_pks(staff, urls[1]) == {other_message.pk}
    assert changelist_pks(staff, urls[2]) == {no_address.pk}
    assert "not recorded" in response.content.decode()


def test_the_refusal_window_is_chosen_in_the_query_string(staff):
    now = timezone.now()
    refused(OfferFactory(), received_at=now - timedelta(hours=2))
    refused(OfferFactory(), received_at=now - timedelta(days=5))
    assert staff.get(QUEUE, {"hours": "1"}).context["refusals"].refused == 0
    assert staff.get(QUEUE, {"hours": "24"}).context["refusals"].refused == 1
    response = staff.get(QUEUE, {"hours": "168"})
    assert response.context["refusals"].refused == 2
    assert "refused in the last 7 days (2)" in response.content.decode()


@pytest.mark.parametrize("name", ["received_from", "received_before"])
def test_the_inbound_logs_time_filters_answer_a_bad_moment_as_an_unknown_lookup(staff, name):
    for value in ["\x00", "2026-01-01T00:00:00", "10000", "9999-12-31T23:59:59-14:00", "yesterday"]:
        response = staff.get(f"/admin/conversions/serverpostback/?{query({name: value})}")
        assert response.status_code == 302 and response["Location"].endswith("?e=1"), value


def test_the_conversion_lists_created_before_filter_shows_what_it_applies(staff):
    old = ConversionFactory(created_at=timezone.now() - timedelta(days=10))
    ConversionFactory()
    moment = (timezone.now() - timedelta(days=5)).isoformat()
    response = staff.get(f"/admin/conversions/conversion/?{query({'created_before': moment})}")
    assert {row.pk for row in response.context["cl"].result_list} == {old.pk}
    assert "created before" in response.content.decode().lower()
    with_counts = staff.get(
        f"/admin/conversions/conversion/?{query({'created_before': moment, '_facets': 'True'})}"
    )
    assert with_counts.status_code == 200 and "Before " in with_counts.content.decode()


# --- Bounded lists ---------------------------------------------------------------------------


def listed_count(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context["cl"].result_count


def test_every_list_is_bounded_and_its_more_link_counts_every_row(staff):
    now = timezone.now()
    for n in range(work.ROWS + 1):
        offer = OfferFactory()
        ConversionFactory(offer=offer, created_at=now - timedelta(days=10))
        PostbackFactory(failing_since=now)
        refused(offer)
        refused(ip=f"198.51.100.{n + 1}")
    PostbackFactory()
    PostbackFactory(enabled=False)

    response = staff.get(QUEUE)
    context = response.context
    for listed in [
        context["pending"].offers,
        context["postbacks"].postbacks,
        context["refusals"].by_advertiser,
        context["refusals"].by_caller,
    ]:
        assert (len(listed.rows), listed.more) == (work.ROWS, 1)
    assert response.content.decode().count("… and 1 more") == 4
    assert listed_count(staff, context["pending_url"]) == work.ROWS + 1
    assert listed_count(staff, "/admin/postbacks/postback/?health=trouble") == work.ROWS + 1
    assert listed_count(staff, context["refusals_url"]) == 2 * (work.ROWS + 1)
    assert listed_count(staff, context["unknown_offer_url"]) == work.ROWS + 1


# --- Queries ----------------------------------------------------------------------------------


def _fill(rows: int):
    now = timezone.now()
    for n in range(rows):
        OfferAccessFactory()
        ConversionFactory(created_at=now - timedelta(days=10))
        postback = PostbackFactory(failing_since=now)
        DeliveryFactory(
            postback=postback, affiliate=postback.affiliate, state=Delivery.State.FAILED, attempts=1
        )
        refused(OfferFactory())
        refused(ip=f"198.51.100.{n + 1}")


def test_the_page_takes_as_many_queries_for_many_rows_as_for_one(staff, django_assert_num_queries):
    _fill(1)
    with CaptureQueriesContext(connection) as one:
        staff.get(QUEUE)
    _fill(5)
    with django_assert_num_queries(len(one.captured_queries)):
        staff.get(QUEUE)
