"""`GET /api/v1/stats/` for affiliates and `GET /api/v1/manage/stats/` for managers: the same report
and filters as the portal page, revenue for managers only, clear 400s for bad input."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversions.models import ServerPostback
from offers.choices import ConversionStatus
from postbacks.models import Delivery, DeliveryAttempt
from tests.conftest import api_client_for
from tests.factories import AffiliateFactory, OfferAccessFactory, OfferFactory
from tests.stats.rollup import at, click_row, convert, write_clicks
from tracking.models import Click, RefusedClick

pytestmark = pytest.mark.django_db

URL = "/api/v1/stats/"
MANAGER_URL = "/api/v1/manage/stats/"
PERIOD = {"date_from": "2025-06-01", "date_to": "2025-06-02"}


@pytest.fixture
def offer():
    return OfferFactory(goals=[{"value": "install", "title": "Install", "payout": "2", "revenue": "5"}])


@pytest.fixture
def other_affiliate_traffic(offer):
    other = AffiliateFactory()
    write_clicks(*(click_row(offer=offer, affiliate=other, at=at("2025-06-01")) for _ in range(50)))
    convert(offer=offer, affiliate=other, status=ConversionStatus.APPROVED, created_at=at("2025-06-01"))
    return other


@pytest.fixture
def traffic(affiliate, offer, other_affiliate_traffic):
    write_clicks(
        *(
            click_row(offer=offer, affiliate=affiliate, ip=f"192.0.2.{n % 3}", at=at("2025-06-01"), sub1="a")
            for n in range(6)
        ),
        click_row(offer=offer, affiliate=affiliate, at=at("2025-06-02"), sub1="b"),
    )
    convert(
        offer=offer,
        affiliate=affiliate,
        status=ConversionStatus.APPROVED,
        created_at=at("2025-06-01"),
        sub1="a",
    )
    convert(
        offer=offer,
        affiliate=affiliate,
        status=ConversionStatus.PENDING,
        created_at=at("2025-06-02"),
        sub1="b",
    )
    convert(offer=offer, affiliate=affiliate, is_test=True, created_at=at("2025-06-02"), sub1="b")


def test_an_affiliate_gets_rows_and_totals_by_day(affiliate_api, traffic):
    response = affiliate_api.get(URL, PERIOD)
    assert response.status_code == 200
    body = response.json()
    assert (body["group_by"], body["date_from"], body["date_to"], body["other"]) == (
        "day",
        "2025-06-01",
        "2025-06-02",
        None,
    )
    assert body["rows"][0] == {
        "day": "2025-06-01",
        "clicks": 6,
        "unique_clicks": 3,
        "refused": {"country": 0, "os": 0, "device": 0, "total": 0},
        "conversions": {"approved": 1, "pending": 0, "declined": 0, "hold": 0, "total": 1},
        "cr": "16.67",
        "payout": {
            "USD": {"approved": "2.0000", "pending": "0.0000", "declined": "0.0000", "hold": "0.0000"}
        },
    }
    assert body["rows"][1]["day"] == "2025-06-02" and body["rows"][1]["conversions"]["pending"] == 1
    totals = body["totals"]
    assert (totals["clicks"], totals["unique_clicks"], totals["conversions"]["total"]) == (7, 4, 2)
    assert totals["payout"]["USD"]["approved"] == "2.0000" and totals["payout"]["USD"]["pending"] == "2.0000"


def test_rows_by_offer_goal_and_sub_value(affiliate_api, traffic, offer):
    by_offer = affiliate_api.get(URL, {**PERIOD, "group_by": "offer"}).json()["rows"]
    assert [(row["offer"], row["clicks"]) for row in by_offer] == [(offer.offer_id, 7)]
    by_goal = affiliate_api.get(URL, {**PERIOD, "group_by": "goal"}).json()["rows"]
    assert [(row["offer"], row["goal"], row["goal_title"], row["clicks"], row["cr"]) for row in by_goal] == [
        (offer.offer_id, "install", "Install", None, "28.57")
    ]
    by_sub = affiliate_api.get(URL, {**PERIOD, "group_by": "sub1"}).json()
    assert [(row["sub1"], row["clicks"], row["conversions"]["total"]) for row in by_sub["rows"]] == [
        ("a", 6, 1),
        ("b", 1, 1),
    ]


def test_an_affiliate_never_sees_revenue(affiliate_api, traffic):
    for group_by in ["day", "offer", "goal", "sub1"]:
        text = affiliate_api.get(URL, {**PERIOD, "group_by": group_by}).content.decode()
        assert "revenue" not in text and "5.0000" not in text


def test_a_manager_sees_the_network_with_revenue(manager_api, traffic, affiliate, other_affiliate_traffic):
    body = manager_api.get(MANAGER_URL, PERIOD).json()
    assert body["totals"]["clicks"] == 57
    assert body["totals"]["revenue"]["USD"]["approved"] == "10.0000"
    assert body["rows"][0]["revenue"]["USD"]["approved"] == "10.0000"
    one = manager_api.get(MANAGER_URL, {**PERIOD, "affiliate": affiliate.pid, "group_by": "sub1"}).json()
    assert one["totals"]["clicks"] == 7 and one["totals"]["revenue"]["USD"]["pending"] == "5.0000"
    assert [row["sub1"] for row in one["rows"]] == ["a", "b"]


def test_default_period_is_the_last_30_days(affiliate_api):
    body = affiliate_api.get(URL).json()
    assert len(body["rows"]) == 30 and body["rows"][-1]["day"] == body["date_to"]
    only_from = affiliate_api.get(URL, {"date_from": "2025-06-01", "date_to": "2025-06-01"}).json()
    assert [row["day"] for row in only_from["rows"]] == ["2025-06-01"]
    only_to = affiliate_api.get(URL, {"date_to": "2025-06-30"}).json()
    assert (only_to["date_from"], only_to["date_to"]) == ("2025-06-01", "2025-06-30")


@pytest.mark.parametrize(
    "params, errors",
    [
        (
            {"date_from": "2025-06-02", "date_to": "2025-06-01"},
            {"date_to": ["The end date is before the start date."]},
        ),
        (
            {"date_from": "2024-06-01", "date_to": "2025-06-02"},
            {"date_to": ["Choose a period of at most 366 days."]},
        ),
        ({"date_to": "tomorrow"}, {"date_to": ["Enter a date as YYYY-MM-DD."]}),
        (
            {"group_by": "week"},
            {
                "group_by": [
                    "Unknown grouping week: choose day, offer, goal, country, os, device or sub1..sub8."
                ]
            },
        ),
        (
            {"date_from": "2025-01-01", "date_to": "2025-06-01", "group_by": "sub1"},
            {"group_by": ["Grouping by sub1 covers at most 92 days: choose a shorter period."]},
        ),
        ({"offer": "123456"}, {"offer": ["Unknown offer: choose one of your offers."]}),
        ({"offer": "abc"}, {"offer": ["Enter a whole number."]}),
    ],
)
def test_bad_input_is_a_400_naming_the_field(affiliate_api, params, errors):
    response = affiliate_api.get(URL, params)
    assert response.status_code == 400
    assert response.json() == errors


def test_another_affiliates_offer_is_an_unknown_offer(affiliate_api, affiliate):
    private = OfferAccessFactory(status="approved").offer
    response = affiliate_api.get(URL, {"offer": private.offer_id})
    assert response.status_code == 400
    assert response.json() == {"offer": ["Unknown offer: choose one of your offers."]}


def test_other_affiliates_numbers_never_show(affiliate_api, offer, other_affiliate_traffic):
    body = affiliate_api.get(URL, {**PERIOD, "offer": offer.offer_id, "group_by": "sub1"}).json()
    assert body["totals"]["clicks"] == 0 and body["totals"]["conversions"]["total"] == 0
    assert body["rows"] == [] and body["other"] is None


def test_manager_filters_are_checked(manager_api):
    assert manager_api.get(MANAGER_URL, {"affiliate": "424242"}).json() == {
        "affiliate": ["Unknown affiliate: no affiliate has this pid."]
    }
    assert manager_api.get(MANAGER_URL, {"offer": "424242"}).json() == {
        "offer": ["Unknown offer: no offer has this id."]
    }
    response = manager_api.get(MANAGER_URL, {"group_by": "sub2"})
    assert response.status_code == 400
    assert response.json() == {
        "group_by": ["Grouping by sub values needs an affiliate (pid): sub values are each affiliate's own."]
    }


def test_keys_without_the_right_are_refused(client, affiliate, manager):
    assert client.get(URL).status_code == 401
    assert api_client_for(manager).get(URL).status_code == 403
    assert api_client_for(affiliate.user).get(MANAGER_URL).status_code == 403


def test_the_schema_documents_both_endpoints(client):
    schema = client.get("/api/v1/schema/").content.decode()
    assert "/api/v1/stats/" in schema and "/api/v1/manage/stats/" in schema
    assert "group_by" in schema


def test_sub_values_are_reported_only_over_the_days_clicks_are_kept(affiliate_api, settings):
    """Sub values are counted from the clicks themselves (every other grouping from the rollup),
    and clicks leave after CLICK_RETENTION_DAYS."""
    settings.CLICK_RETENTION_DAYS = 30
    today = timezone.now().date()
    first_kept = today - timedelta(days=29)
    older = {"date_from": str(first_kept - timedelta(days=1)), "date_to": str(today), "group_by": "sub1"}
    assert affiliate_api.get(URL, older).json() == {
        "group_by": [
            "Grouping by sub1 reads the clicks themselves, which are kept 30 days: "
            f"choose a period from {first_kept:%Y-%m-%d}."
        ]
    }
    assert affiliate_api.get(URL, {**older, "date_from": str(first_kept)}).status_code == 200
    assert affiliate_api.get(URL, {**older, "group_by": "day"}).status_code == 200


@pytest.mark.parametrize("group_by", ["day", "offer", "goal", "country", "os", "device"])
def test_every_report_from_the_rollup_stays_the_same_once_the_raw_rows_are_gone(
    manager_api, traffic, group_by
):
    """What retention removes (clicks, refused clicks, the logs) is not what the reports read:
    the rollup, and conversions, which are kept."""
    params = {**PERIOD, "group_by": group_by}
    before = manager_api.get(MANAGER_URL, params).json()
    for model in (Click, RefusedClick, ServerPostback, Delivery, DeliveryAttempt):
        model.objects.all()._raw_delete(model.objects.db)

    assert manager_api.get(MANAGER_URL, params).json() == before
    assert before["totals"]["clicks"] == 57
