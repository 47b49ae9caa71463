"""Statistics in the portal (`/statistics/`): totals and rows by day, offer, goal or sub value, the
filters and their messages, the CSV export, and only the affiliate's own numbers."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from conversions.lifecycle import conversion_set_status
from conversions.models import ConversionEvent
from offers.choices import ConversionStatus
from offers.models import Offer
from tests.factories import AffiliateFactory, OfferAccessFactory, OfferFactory
from tests.stats.rollup import at, click_row, convert, write_clicks

pytestmark = pytest.mark.django_db

URL = "/statistics/"


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
def traffic(affiliate, offer):
    """On 2025-05-01: 10 clicks (4 IPs), 1 approved install, 1 pending sale, 1 declined install;
    on 2025-05-02: 5 clicks (5 IPs) with sub1=camp-b, 1 hold install. Another affiliate has
    traffic on the same offer the same days."""
    write_clicks(
        *(
            click_row(
                offer=offer, affiliate=affiliate, ip=f"198.51.100.{n % 4}", at=at("2025-05-01"), sub1="camp-a"
            )
            for n in range(10)
        ),
        *(
            click_row(
                offer=offer, affiliate=affiliate, ip=f"198.51.100.{n}", at=at("2025-05-02"), sub1="camp-b"
            )
            for n in range(10, 15)
        ),
    )
    install, sale = offer.goals.order_by("pk")
    day1, day2 = at("2025-05-01"), at("2025-05-02")
    convert(
        offer=offer,
        affiliate=affiliate,
        goal=install,
        status=ConversionStatus.APPROVED,
        created_at=day1,
        sub1="camp-a",
    )
    convert(
        offer=offer,
        affiliate=affiliate,
        goal=sale,
        payout=10,
        status=ConversionStatus.PENDING,
        created_at=day1,
        sub1="camp-a",
    )
    declined = convert(offer=offer, affiliate=affiliate, goal=install, created_at=day1, sub1="camp-a")
    conversion_set_status(
        conversion=declined, status=ConversionStatus.DECLINED, source=ConversionEvent.Source.MANAGER
    )
    convert(
        offer=offer,
        affiliate=affiliate,
        goal=install,
        status=ConversionStatus.HOLD,
        created_at=day2,
        sub1="camp-b",
    )

    other = AffiliateFactory()
    write_clicks(*(click_row(offer=offer, affiliate=other, at=at("2025-05-01")) for _ in range(100)))
    convert(offer=offer, affiliate=other, goal=install, status=ConversionStatus.APPROVED, created_at=day1)


def _get(portal, **params):
    return portal.get(URL, {"date_from": "2025-05-01", "date_to": "2025-05-03", **params})


def _report(portal, **params):
    response = _get(portal, **params)
    assert response.status_code == 200
    assert response.context["form"].errors == {}
    return response.context["report"]


def _csv(portal, **params):
    response = portal.get(URL + "csv/", {"date_from": "2025-05-01", "date_to": "2025-05-03", **params})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="statistics.csv"'
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_statistics_is_its_own_page_linked_from_the_navigation(portal):
    response = portal.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<h1>Statistics</h1>" in page and 'aria-current="page">Statistics</a>' in page
    assert 'href="/statistics/conversions/"' in page  # the conversions list is still there
    assert portal.get("/statistics/conversions/").status_code == 200


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    for url in [URL, URL + "csv/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_first_visit_shows_the_last_30_days_by_day(portal):
    report = portal.get(URL).context["report"]
    today = timezone.now().date()
    assert (report.date_from, report.date_to, report.group_by) == (today - timedelta(days=29), today, "day")
    assert [row.day for row in report.rows] == [today - timedelta(days=n) for n in range(29, -1, -1)]


def test_totals_count_clicks_unique_clicks_conversions_by_status_and_payouts(portal, traffic):
    totals = _report(portal).totals
    assert (totals.clicks, totals.unique_clicks) == (15, 9)
    assert totals.counts == {"approved": 1, "pending": 1, "declined": 1, "hold": 1}
    assert totals.conversions == 4
    assert totals.cr == Decimal("20.00")  # 3 conversions that were not declined per 15 clicks
    (usd,) = totals.amounts
    assert (usd.currency, usd.payout["approved"], usd.payout["pending"], usd.payout["hold"]) == (
        "USD",
        1.5,
        10,
        1.5,
    )
    page = _get(portal).content.decode()
    for text in ["Unique clicks", "Pending payout USD", "20.00%", "10.00"]:
        assert text in page


def test_grouped_by_day_every_day_of_the_period_has_a_row(portal, traffic):
    rows = _report(portal).rows
    assert [
        (row.day.isoformat(), row.figures.clicks, row.figures.unique_clicks, row.figures.conversions)
        for row in rows
    ] == [
        ("2025-05-01", 10, 4, 3),
        ("2025-05-02", 5, 5, 1),
        ("2025-05-03", 0, 0, 0),
    ]


def test_grouped_by_offer_and_by_goal(portal, affiliate, traffic, offer):
    quiet = OfferFactory(title="Quiet offer")
    write_clicks(click_row(offer=quiet, affiliate=affiliate, at=at("2025-05-02")))
    by_offer = _report(portal, group_by="offer").rows
    assert [(row.offer.title, row.figures.clicks, row.figures.conversions) for row in by_offer] == [
        ("Fitness app", 15, 4),
        ("Quiet offer", 1, 0),
    ]
    by_goal = _report(portal, group_by="goal").rows
    assert [(row.goal.value, row.figures.clicks, row.figures.counts, row.figures.cr) for row in by_goal] == [
        ("install", None, {"approved": 1, "pending": 0, "declined": 1, "hold": 1}, Decimal("13.33")),
        ("sale", None, {"approved": 0, "pending": 1, "declined": 0, "hold": 0}, Decimal("6.67")),
    ]
    page = _get(portal, group_by="goal").content.decode()
    assert "a goal's CR is taken against its offer's clicks" in page


def test_grouped_by_a_sub_value_from_the_raw_rows(portal, traffic):
    report = _report(portal, group_by="sub1")
    assert [
        (row.sub, row.figures.clicks, row.figures.unique_clicks, row.figures.conversions)
        for row in report.rows
    ] == [
        ("camp-a", 10, 4, 3),
        ("camp-b", 5, 5, 1),
    ]
    assert report.other is None
    assert "values of sub1 with the most clicks" in _get(portal, group_by="sub1").content.decode()


def test_sub_values_beyond_the_top_rows_are_one_other_values_row(
    portal, affiliate, offer, traffic, monkeypatch
):
    monkeypatch.setattr("stats.selectors.SUB_ROW_LIMIT", 1)
    report = _report(portal, group_by="sub1")
    assert [row.sub for row in report.rows] == ["camp-a"]
    assert (report.other.clicks, report.other.unique_clicks, report.other.conversions) == (5, 5, 1)
    assert "Other values" in _get(portal, group_by="sub1").content.decode()


def test_the_offer_filter_narrows_every_figure(portal, affiliate, traffic, offer):
    elsewhere = OfferFactory()
    write_clicks(click_row(offer=elsewhere, affiliate=affiliate, at=at("2025-05-01")))
    assert _report(portal).totals.clicks == 16
    assert _report(portal, offer=offer.offer_id).totals.clicks == 15
    assert _report(portal, offer=elsewhere.offer_id, group_by="sub1").totals.clicks == 1


def test_the_csv_export_has_the_rows_and_the_totals(portal, traffic):
    rows = _csv(portal)
    assert rows[0] == [
        "date (UTC)",
        "clicks",
        "unique clicks",
        "refused",
        "refused by country",
        "refused by OS",
        "refused by device",
        "conversions",
        "approved",
        "pending",
        "declined",
        "hold",
        "CR %",
        "payout USD",
        "pending payout USD",
        "hold payout USD",
    ]
    assert rows[1] == [
        "2025-05-01",
        "10",
        "4",
        "0",
        "0",
        "0",
        "0",
        "3",
        "1",
        "1",
        "1",
        "0",
        "20.00",
        "1.50",
        "10.00",
        "0.00",
    ]
    assert rows[3][:8] == ["2025-05-03", "0", "0", "0", "0", "0", "0", "0"]
    assert rows[-1] == [
        "total",
        "15",
        "9",
        *["0"] * 4,
        "4",
        "1",
        "1",
        "1",
        "1",
        "20.00",
        "1.50",
        "10.00",
        "1.50",
    ]


def test_the_csv_writes_sub_values_as_text_never_as_formulas(portal, affiliate, offer):
    write_clicks(click_row(offer=offer, affiliate=affiliate, at=at("2025-05-01"), sub2="=HYPERLINK(1)"))
    rows = _csv(portal, group_by="sub2")
    assert rows[0][0] == "sub2" and rows[1][:2] == ["'=HYPERLINK(1)", "1"]
    assert rows[-1][:2] == ["total", "1"]


def test_the_csv_by_goal_names_offer_and_goal(portal, traffic, offer):
    rows = _csv(portal, group_by="goal")
    assert rows[0][:6] == ["offer id", "offer", "goal", "goal title", "clicks", "unique clicks"]
    assert rows[1][:6] == [str(offer.offer_id), "Fitness app", "install", "Install", "", ""]
    assert rows[-1][:6] == ["total", "", "", "", "15", "9"]


def test_other_affiliates_numbers_never_show(portal, traffic):
    report = _report(portal)
    assert report.totals.clicks == 15  # not the other affiliate's 100
    assert report.totals.counts["approved"] == 1


def test_an_affiliate_never_sees_revenue(portal, traffic):
    page = _get(portal).content.decode() + _get(portal, group_by="goal").content.decode()
    csv_text = str(_csv(portal)) + str(_csv(portal, group_by="goal"))
    for text in [page, csv_text]:
        assert "revenue" not in text.lower() and "4.00" not in text and "30.00" not in text


@pytest.mark.parametrize(
    "params, field, message",
    [
        (
            {"date_from": "2025-05-03", "date_to": "2025-05-01"},
            "date_to",
            "The end date is before the start date.",
        ),
        (
            {"date_from": "2024-01-01", "date_to": "2025-05-01"},
            "date_to",
            "Choose a period of at most 366 days.",
        ),
        ({"date_from": "2025-13-01"}, "date_from", "Enter a date as YYYY-MM-DD."),
        (
            {"group_by": "city"},
            "group_by",
            "Unknown grouping city: choose day, offer, goal, country, os, device or sub1..sub8.",
        ),
        ({"country": "ZZ"}, "country", "Unknown country ZZ: give a country code such as US or DE."),
        (
            {"date_from": "2025-01-01", "date_to": "2025-05-01", "group_by": "sub3"},
            "group_by",
            "Grouping by sub3 covers at most 92 days: choose a shorter period.",
        ),
        ({"offer": "999999"}, "offer", "Unknown offer: choose one of your offers."),
    ],
)
def test_bad_filters_are_explained_next_to_their_field(portal, params, field, message):
    response = portal.get(URL, params)
    assert response.status_code == 200
    assert response.context["report"] is None
    assert response.context["form"].errors[field] == [message]
    assert message.replace("'", "&#x27;") in response.content.decode()
    csv_response = portal.get(URL + "csv/", params)
    assert csv_response.status_code == 302 and csv_response["Location"].startswith(URL + "?")


def test_another_affiliates_private_offer_cannot_be_picked(portal, affiliate):
    private = OfferAccessFactory(status="approved").offer  # approved for another affiliate only
    response = portal.get(URL, {"offer": private.offer_id})
    assert response.context["form"].errors["offer"] == ["Unknown offer: choose one of your offers."]
    assert f"#{private.offer_id} " not in response.content.decode()


def test_the_offer_list_keeps_offers_the_affiliate_has_statistics_on(portal, affiliate):
    paused = OfferFactory(title="Paused now", status=Offer.Status.PAUSED)
    never = OfferFactory(title="Never run", status=Offer.Status.PAUSED)
    write_clicks(click_row(offer=paused, affiliate=affiliate, at=at("2025-05-01")))
    page = portal.get(URL).content.decode()
    assert "Paused now" in page and "Never run" not in page
    assert _report(portal, offer=paused.offer_id).totals.clicks == 1
    assert portal.get(URL, {"offer": never.offer_id}).context["form"].errors["offer"]
