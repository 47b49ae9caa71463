"""The dashboard (`/`): an affiliate's figures by day for a period, with charts (the network's
dashboard in the admin is tested in tests/manager/test_dashboard.py)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from offers.choices import ConversionStatus
from postbacks.models import Delivery
from tests.conftest import log_in
from tests.factories import AffiliateFactory, DeliveryFactory, OfferFactory
from tests.portal.screens import SCREENS
from tests.stats.rollup import at, click_row, convert, keep_visitors, write_clicks

pytestmark = pytest.mark.django_db

PERIOD = {"date_from": "2025-05-01", "date_to": "2025-05-03"}


@pytest.fixture(autouse=True)
def visitors_kept_since_the_traffic_of_these_tests(monkeypatch):
    """The traffic is of fixed days of 2025: its unique visitors kept, so that repeats are known."""
    keep_visitors(monkeypatch, 3650)


@pytest.fixture
def offer():
    return OfferFactory(
        title="Fitness app",
        goals=[
            {"value": "install", "title": "Install", "payout": "1.5", "revenue": "4"},
            {"value": "sale", "title": "Sale", "payout": "10", "revenue": "30"},
        ],
    )


@pytest.fixture
def other_offer():
    return OfferFactory(title="Dating app")


def _traffic(affiliate, offer, other_offer, *, day1="2025-05-01", day2="2025-05-02"):
    """Day 1: 10 clicks (4 IPs) and 1 approved install, 1 pending sale, 1 declined install on
    `offer`; day 2: 5 clicks and 1 hold install on `offer`, 1 approved conversion and 2 clicks on
    `other_offer` (from one IP); a test conversion that never counts."""
    write_clicks(
        *(
            click_row(offer=offer, affiliate=affiliate, ip=f"198.51.100.{n % 4}", at=at(day1))
            for n in range(10)
        ),
        *(
            click_row(offer=offer, affiliate=affiliate, ip=f"198.51.100.{n}", at=at(day2))
            for n in range(10, 15)
        ),
        *(click_row(offer=other_offer, affiliate=affiliate, at=at(day2)) for _ in range(2)),
    )
    install, sale = offer.goals.order_by("pk")
    approved = ConversionStatus.APPROVED
    convert(offer=offer, affiliate=affiliate, goal=install, status=approved, created_at=at(day1))
    convert(offer=offer, affiliate=affiliate, goal=sale, created_at=at(day1))
    convert(
        offer=offer, affiliate=affiliate, goal=install, status=ConversionStatus.DECLINED, created_at=at(day1)
    )
    convert(offer=offer, affiliate=affiliate, goal=install, status=ConversionStatus.HOLD, created_at=at(day2))
    convert(offer=other_offer, affiliate=affiliate, status=approved, created_at=at(day2))
    convert(offer=offer, affiliate=affiliate, goal=sale, status=approved, created_at=at(day2), is_test=True)


@pytest.fixture
def traffic(affiliate, offer, other_offer):
    _traffic(affiliate, offer, other_offer)


@pytest.fixture
def strangers_traffic(offer):
    """Another affiliate's clicks, conversions and postback deliveries, the same days."""
    stranger = AffiliateFactory()
    secret = OfferFactory(title="Someone else's offer")
    write_clicks(*(click_row(offer=secret, affiliate=stranger, at=at("2025-05-01")) for _ in range(100)))
    write_clicks(*(click_row(offer=offer, affiliate=stranger, at=at("2025-05-01")) for _ in range(7)))
    for _ in range(20):
        convert(
            offer=secret, affiliate=stranger, status=ConversionStatus.APPROVED, created_at=at("2025-05-01")
        )
    DeliveryFactory(affiliate=stranger, attempts=1, state=Delivery.State.FAILED, created_at=at("2025-05-01"))
    return stranger


def _dashboard(portal, **params):
    response = portal.get("/", {**PERIOD, **params})
    assert response.status_code == 200
    assert response.context["form"].errors == {}
    return response.context


def test_totals_and_daily_figures_come_from_the_statistics(portal, traffic):
    context = _dashboard(portal)
    totals = context["report"].totals
    assert (totals.clicks, totals.unique_clicks) == (17, 10)
    assert totals.counts == {"approved": 2, "pending": 1, "declined": 1, "hold": 1}
    assert totals.money["USD"].payout["approved"] == Decimal("4.0000")

    data = context["chart_data"]
    assert data["days"] == ["2025-05-01", "2025-05-02", "2025-05-03"]
    assert data["clicks"] == [10, 7, 0]
    assert data["unique_clicks"] == [4, 6, 0]
    assert data["conversions"] == {
        "approved": [1, 1, 0],
        "pending": [1, 0, 0],
        "declined": [1, 0, 0],
        "hold": [0, 1, 0],
    }
    assert data["payout"] == {"USD": ["1.5000", "2.5000", "0.0000"]}


def test_the_page_without_javascript_shows_totals_and_a_table_of_days(portal, traffic):
    page = portal.get("/", PERIOD).content.decode()
    assert "Totals, 2025-05-01 to 2025-05-03" in page
    assert '<table id="daily-figures">' in page
    assert "<td>2025-05-01</td>" in page and "<td>2025-05-02</td>" in page
    assert '<script id="dashboard-data" type="application/json">' in page
    # The charts appear only once the script has drawn them.
    assert 'id="dashboard-charts" hidden' in page
    assert "/static/vendor/chart.umd.min.js" in page and "/static/js/dashboard.js" in page


def test_the_table_of_days_hides_days_without_activity_and_says_so(portal, affiliate, offer, other_offer):
    _traffic(affiliate, offer, other_offer, day1="2025-05-02", day2="2025-05-05")
    # A day whose only activity is a postback sent still has a row.
    DeliveryFactory(
        affiliate=affiliate, attempts=1, state=Delivery.State.SUCCEEDED, created_at=at("2025-05-07")
    )
    response = portal.get("/", {"date_from": "2025-05-01", "date_to": "2025-05-10"})
    shown = [row.day.isoformat() for row, _ in response.context["days"]]
    assert shown == ["2025-05-02", "2025-05-05", "2025-05-07"]
    page = response.content.decode()
    assert "<td>2025-05-01</td>" not in page and "<td>2025-05-07</td>" in page
    assert "Days without activity are hidden (7 of 10)" in page
    # The totals and the charts still count every day.
    assert response.context["report"].totals.clicks == 17
    assert len(response.context["chart_data"]["days"]) == 10


def test_a_period_without_activity_has_no_table_of_days(portal, affiliate):
    page = portal.get("/", PERIOD).content.decode()
    assert '<table id="daily-figures">' not in page
    assert "No clicks, conversions or postbacks in this period." in page
    assert "Days without activity are hidden (3 of 3)" in page


def test_a_period_with_every_day_active_has_no_note_about_hidden_days(portal, affiliate, offer):
    write_clicks(*(click_row(offer=offer, affiliate=affiliate, at=at(day)) for day in PERIOD.values()))
    write_clicks(click_row(offer=offer, affiliate=affiliate, at=at("2025-05-02")))
    page = portal.get("/", PERIOD).content.decode()
    assert "without activity" not in page and page.count("<td>2025-05-0") == 3


def test_the_delivery_chart_says_when_no_postback_was_sent(portal, affiliate):
    DeliveryFactory(affiliate=affiliate, attempts=0, created_at=at("2025-05-02"))  # not sent yet
    page = portal.get("/", PERIOD).content.decode()
    assert "No postbacks sent in this period" in page and 'id="chart-deliveries"' not in page

    DeliveryFactory(affiliate=affiliate, attempts=1, state=Delivery.State.FAILED, created_at=at("2025-05-02"))
    page = portal.get("/", PERIOD).content.decode()
    assert "No postbacks sent in this period" not in page and 'id="chart-deliveries"' in page


def test_the_postback_success_rate_counts_sent_deliveries_of_real_conversions(portal, affiliate):
    day1, day2 = at("2025-05-01"), at("2025-05-02")
    succeeded, failed = Delivery.State.SUCCEEDED, Delivery.State.FAILED
    for state in [succeeded, succeeded, failed]:
        DeliveryFactory(affiliate=affiliate, attempts=1, state=state, created_at=day1)
    DeliveryFactory(affiliate=affiliate, attempts=3, state=Delivery.State.RETRYING, created_at=day2)
    DeliveryFactory(affiliate=affiliate, attempts=0, created_at=day2)  # not sent yet
    DeliveryFactory(affiliate=affiliate, attempts=1, state=failed, created_at=day2, conversion__is_test=True)
    DeliveryFactory(affiliate=affiliate, attempts=1, state=failed, created_at=at("2025-05-04"))

    context = _dashboard(portal)
    assert context["chart_data"]["delivery_rate"] == ["66.7", "0.0", None]
    assert (context["deliveries"].attempted, context["deliveries"].succeeded) == (4, 2)
    assert context["deliveries"].rate == Decimal("50.0")
    page = portal.get("/", PERIOD).content.decode()
    assert "66.7% (2/3)" in page and "2 of 4 sent" in page


def test_top_offers_by_conversions_or_by_payout(portal, traffic, offer, other_offer):
    by_conversions = _dashboard(portal)["top_offers"]
    assert [row.offer for row in by_conversions] == [offer, other_offer]
    assert by_conversions[0].figures.conversions == 4

    by_payout = _dashboard(portal, top_by="payout")["top_offers"]
    assert [row.offer for row in by_payout] == [other_offer, offer]
    page = portal.get("/", {**PERIOD, "top_by": "payout"}).content.decode()
    assert "Top offers by payout" in page and f"/offers/{other_offer.offer_id}/" in page


def test_a_first_visit_shows_the_last_30_days(portal, affiliate, offer, other_offer):
    today = timezone.now().date()
    _traffic(
        affiliate, offer, other_offer, day1=today.isoformat(), day2=(today - timedelta(days=29)).isoformat()
    )
    context = portal.get("/").context
    report = context["report"]
    assert (report.date_from, report.date_to) == (today - timedelta(days=29), today)
    assert len(context["chart_data"]["days"]) == 30
    assert report.totals.clicks == 17


@pytest.mark.parametrize(
    "params, message",
    [
        ({"date_from": "2025-05-03", "date_to": "2025-05-01"}, "The end date is before the start date."),
        ({"date_from": "yesterday"}, "Enter a date as YYYY-MM-DD."),
        ({"date_from": "2024-01-01", "date_to": "2025-05-01"}, "Choose a period of at most 366 days."),
        ({"top_by": "revenue"}, "Select a valid choice."),
    ],
)
def test_a_bad_period_is_explained_and_no_figures_are_shown(portal, params, message):
    response = portal.get("/", params)
    assert response.status_code == 200
    assert response.context["report"] is None
    page = response.content.decode()
    assert message in page and "Correct the period above to see the figures." in page
    assert "dashboard-data" not in page


def test_another_affiliates_numbers_never_show(portal, traffic, strangers_traffic):
    context = _dashboard(portal)
    assert context["report"].totals.clicks == 17
    assert context["report"].totals.counts["approved"] == 2
    assert context["deliveries"].attempted == 0
    assert context["chart_data"]["clicks"] == [10, 7, 0]
    assert all(row.offer.title != "Someone else's offer" for row in context["top_offers"])
    page = portal.get("/", PERIOD).content.decode()
    top_table = page[page.index('<table id="top-offers">') : page.index("</table>")]
    assert "Fitness app" in top_table and "Someone else" not in top_table


# --- In a browser ----------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_dashboard_draws_its_charts_with_data(live_server, page, affiliate, offer, other_offer):
    today = timezone.now().date()
    _traffic(
        affiliate, offer, other_offer, day1=today.isoformat(), day2=(today - timedelta(days=1)).isoformat()
    )
    DeliveryFactory(affiliate=affiliate, attempts=1, state=Delivery.State.SUCCEEDED)

    log_in(page, live_server.url, affiliate.user.username)
    page.wait_for_url(live_server.url + "/")
    charts = page.locator("#dashboard-charts")
    charts.wait_for(state="visible")
    assert charts.get_attribute("data-charts") == "4"
    assert page.evaluate("Object.keys(Chart.instances).length") == 4
    for name in ["clicks", "conversions", "payout", "deliveries"]:
        box = page.locator(f"#chart-{name}").bounding_box()
        assert box["width"] > 0 and box["height"] > 0, name
    drawn = page.evaluate(
        "Object.values(Chart.instances).map((chart) => chart.data.datasets"
        ".reduce((sum, set) => sum + set.data.reduce((a, b) => a + (Number(b) || 0), 0), 0))"
    )
    # Clicks and unique clicks, conversions by status, payout, the delivery rate.
    assert sorted(drawn) == sorted([17 + 10, 5, 4, 100])
    # Counts step by whole numbers, even where the highest is 1 (Chart.js would step by 0.5).
    for name in ["clicks", "conversions"]:
        ticks = page.evaluate(f"Chart.getChart('chart-{name}').scales.y.ticks.map((t) => t.value)")
        assert ticks and all(value == int(value) for value in ticks), name


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_counts_of_one_are_drawn_on_whole_steps_and_no_postbacks_show_a_message(
    live_server, page, affiliate, offer, other_offer
):
    convert(offer=offer, affiliate=affiliate, status=ConversionStatus.APPROVED, created_at=timezone.now())
    write_clicks(click_row(offer=offer, affiliate=affiliate, at=timezone.now()))

    log_in(page, live_server.url, affiliate.user.username)
    page.wait_for_url(live_server.url + "/")
    charts = page.locator("#dashboard-charts")
    charts.wait_for(state="visible")
    assert charts.get_attribute("data-charts") == "3"
    for name in ["clicks", "conversions"]:
        ticks = page.evaluate(f"Chart.getChart('chart-{name}').scales.y.ticks.map((t) => t.value)")
        assert ticks == [0, 1], name
    assert page.is_visible("text=No postbacks sent in this period")
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / "dashboard-counts-of-one-desktop.png"), full_page=True)
