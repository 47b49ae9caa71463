"""Statistics by the visitor's country, OS family and device type: each click counted in the rollup
row of its visitor context (DailyAudienceStat), a conversion in its click's, refused clicks by
reason, and reports grouped by them on the portal page, its CSV and the API; the reports that need
no visitor context read the sums (DailyStat)."""

import csv
import io
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversions.models import Conversion
from offers.choices import ConversionStatus
from stats.models import DailyAudienceStat, DailyStat, DailyVisitor
from stats.selectors import stats_report
from stats.services import stats_add_clicks
from tests.factories import OfferFactory
from tests.stats.rollup import at, click_row, convert, expected, stored, write_clicks
from tracking.models import Click
from tracking.store import click_flush_buffer

pytestmark = pytest.mark.django_db

US_IP, DE_IP = "8.8.8.8", "2a00:1450:4001:80b::200e"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Mobile/15E148 Safari/604.1"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
PERIOD = {"date_from": "2025-07-01", "date_to": "2025-07-02"}
US_IPHONE = {"country": "US", "os_family": "iOS", "device_type": "mobile"}
DE_WINDOWS = {"country": "DE", "os_family": "Windows", "device_type": "desktop"}


@pytest.fixture
def offer():
    return OfferFactory(goals=[{"value": "install", "title": "Install", "payout": "2", "revenue": "5"}])


def click(client, offer, affiliate, ip, user_agent) -> str:
    link = f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json"
    response = client.get(link, REMOTE_ADDR=ip, HTTP_USER_AGENT=user_agent)
    assert response.status_code == 200, response.content
    return response.json()["click_id"]


def click_counts(affiliate, offer) -> dict:
    """(country, OS family, device type): (clicks, unique clicks) of the affiliate's click rows."""
    return {
        (stat.country, stat.os_family, stat.device_type): (stat.clicks, stat.unique_clicks)
        for stat in DailyAudienceStat.objects.filter(affiliate=affiliate, offer=offer, goal=None)
    }


def refused_row(*, offer, affiliate, reason, ip="198.51.100.40", at_time=None, **visitor) -> dict:
    """A refused visit as tracking.store hands it to the statistics."""
    return {
        "refused": reason,
        "click_id": "f" * 24,
        "offer_id": offer.pk,
        "affiliate_id": affiliate.pk,
        "ip": ip,
        "user_agent": IPHONE,
        **(visitor or US_IPHONE),
        "created_at": at_time or at("2025-07-01"),
    }


@pytest.fixture
def traffic(affiliate, offer):
    """On 2025-07-01: three clicks from US iPhones (two of one IP), one from a German desktop, one
    without a visitor context; a conversion from a US iPhone click and one from the German click;
    two clicks refused for their country, one for the OS. On 2025-07-02: one more US iPhone click."""
    write_clicks(
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.1", at=at("2025-07-01", 9), **US_IPHONE),
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.1", at=at("2025-07-01", 10), **US_IPHONE),
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.2", at=at("2025-07-01", 11), **US_IPHONE),
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.3", at=at("2025-07-01", 12), **DE_WINDOWS),
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.4", at=at("2025-07-01", 13)),
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.5", at=at("2025-07-02", 9), **US_IPHONE),
    )
    day = at("2025-07-01", 14)
    convert(
        offer=offer, affiliate=affiliate, status=ConversionStatus.APPROVED, created_at=day, **_conv(US_IPHONE)
    )
    convert(
        offer=offer, affiliate=affiliate, status=ConversionStatus.PENDING, created_at=day, **_conv(DE_WINDOWS)
    )
    stats_add_clicks(
        [
            refused_row(offer=offer, affiliate=affiliate, reason="refused_country", **DE_WINDOWS),
            refused_row(offer=offer, affiliate=affiliate, reason="refused_country", **DE_WINDOWS),
            refused_row(offer=offer, affiliate=affiliate, reason="refused_os", **US_IPHONE),
        ]
    )


def _conv(visitor: dict) -> dict:
    """A conversion's copy of its click's visitor context."""
    return {
        "country": visitor["country"],
        "os_family": visitor["os_family"],
        "click_device_type": visitor["device_type"],
    }


# --- Counting ---------------------------------------------------------------------------------


def test_clicks_from_a_us_iphone_and_a_german_desktop_count_under_their_country_os_and_device(
    client, offer, affiliate, either_write_path
):
    click(client, offer, affiliate, US_IP, IPHONE)
    click(client, offer, affiliate, US_IP, IPHONE)
    click(client, offer, affiliate, DE_IP, WINDOWS)
    click_flush_buffer()
    assert click_counts(affiliate, offer) == {
        ("US", "iOS", "mobile"): (2, 1),
        ("DE", "Windows", "desktop"): (1, 1),
    }
    assert stored() == expected()


def test_a_conversion_counts_in_its_clicks_country_os_and_device(client, offer, affiliate, direct_writes):
    click_id = click(client, offer, affiliate, DE_IP, WINDOWS)
    # The advertiser's own device type is not the click's.
    response = client.get("/postback?" + urlencode({"clickid": click_id, "device_type": "tablet"}))
    assert response.json()["message"] == "ok"
    conversion = Conversion.objects.get()
    counted = DailyAudienceStat.objects.get(goal__isnull=False)
    assert (counted.country, counted.os_family, counted.device_type) == ("DE", "Windows", "desktop")
    assert (counted.pending, counted.payout_pending) == (1, 2)
    assert conversion.device_type == "tablet"
    assert stored() == expected()


@pytest.mark.parametrize("batch_size", [1, 2, 4])
def test_the_unique_click_counts_with_the_visitor_context_of_the_ips_first_click(
    offer, affiliate, batch_size
):
    """One IP from an iPhone at 10:00, a desktop at 9:00 and 11:00, written in that order. In one
    batch, the earliest click claims the visitor, as the rebuild counts it; written one by one,
    the first written does. Either way the visitor contexts add up to the day's figures."""
    rows = [
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.9", at=at("2025-07-01", 10), **US_IPHONE),
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.9", at=at("2025-07-01", 9), **DE_WINDOWS),
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.9", at=at("2025-07-01", 11), **DE_WINDOWS),
        click_row(offer=offer, affiliate=affiliate, ip=None, at=at("2025-07-01", 12), **US_IPHONE),
    ]
    for start in range(0, len(rows), batch_size):
        write_clicks(*rows[start : start + batch_size])
    counts = click_counts(affiliate, offer)
    if batch_size == 1:
        assert counts == {("US", "iOS", "mobile"): (2, 2), ("DE", "Windows", "desktop"): (2, 0)}
    else:
        assert counts == {("US", "iOS", "mobile"): (2, 1), ("DE", "Windows", "desktop"): (2, 1)}
        assert stored() == expected()
    assert tuple(map(sum, zip(*counts.values(), strict=True))) == (4, 2)


def test_of_two_first_clicks_at_the_same_instant_the_first_written_is_the_unique_one(offer, affiliate):
    """The rebuild orders equal times by id, the order they were written in: the live count too."""
    rows = [
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.9", at=at("2025-07-01", 10), **US_IPHONE),
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.9", at=at("2025-07-01", 10), **DE_WINDOWS),
    ]
    write_clicks(*rows)
    assert click_counts(affiliate, offer) == {
        ("US", "iOS", "mobile"): (1, 1),
        ("DE", "Windows", "desktop"): (1, 0),
    }
    assert stored() == expected()


def test_unique_clicks_of_all_visitor_contexts_add_up_to_the_days_visitors(offer, affiliate, traffic):
    rows = {"day": "2025-07-01", "affiliate": affiliate, "offer": offer, "goal": None}
    day = DailyAudienceStat.objects.filter(**rows)
    assert sum(stat.clicks for stat in day) == 5
    assert (
        sum(stat.unique_clicks for stat in day) == 4 == DailyVisitor.objects.filter(day="2025-07-01").count()
    )
    summed = DailyStat.objects.get(**rows)
    assert (summed.clicks, summed.unique_clicks, summed.refused_country, summed.refused_os) == (5, 4, 2, 1)
    assert click_counts(affiliate, offer)[("", "", "")] == (1, 1)


def test_a_refused_click_counts_for_its_reason_never_as_a_click_or_a_visitor(offer, affiliate, traffic):
    rows = DailyAudienceStat.objects.filter(day="2025-07-01", goal=None)
    refused = {
        (stat.country, stat.os_family, stat.device_type): (
            stat.refused_country,
            stat.refused_os,
            stat.refused_device,
        )
        for stat in rows
    }
    assert refused[("DE", "Windows", "desktop")] == (2, 0, 0)
    assert refused[("US", "iOS", "mobile")] == (0, 1, 0)
    assert sum(stat.clicks for stat in rows) == 5
    assert not DailyVisitor.objects.filter(ip="198.51.100.40").exists()
    # The refused visitor's IP, accepted later that day, is a unique click.
    write_clicks(click_row(offer=offer, affiliate=affiliate, ip="198.51.100.40", at=at("2025-07-01", 20)))
    assert click_counts(affiliate, offer)[("", "", "")] == (2, 2)


def test_clicks_refused_by_the_offers_targeting_count_by_reason_on_either_write_path(
    client, affiliate, either_write_path
):
    offer = OfferFactory(target_countries=["US"], target_device_types=["mobile"])
    click(client, offer, affiliate, US_IP, IPHONE)
    for ip, user_agent in [(DE_IP, IPHONE), (DE_IP, WINDOWS), (US_IP, WINDOWS)]:
        link = f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json"
        assert client.get(link, REMOTE_ADDR=ip, HTTP_USER_AGENT=user_agent).status_code == 403
    click_flush_buffer()
    counted = {
        (stat.country, stat.device_type): (stat.clicks, stat.refused_country, stat.refused_device)
        for stat in DailyAudienceStat.objects.filter(offer=offer)
    }
    assert counted == {
        ("US", "mobile"): (1, 0, 0),
        ("DE", "mobile"): (0, 1, 0),
        ("DE", "desktop"): (0, 1, 0),
        ("US", "desktop"): (0, 0, 1),
    }
    assert stored() == expected()


def test_a_refused_row_on_a_day_without_clicks_has_a_row_of_its_own(offer, affiliate):
    stats_add_clicks(
        [refused_row(offer=offer, affiliate=affiliate, reason="refused_device", at_time=at("2025-07-03"))]
    )
    for model in [DailyAudienceStat, DailyStat]:
        (stat,) = model.objects.all()
        assert (stat.day.isoformat(), stat.clicks, stat.unique_clicks, stat.refused_device) == (
            "2025-07-03",
            0,
            0,
            1,
        )


def test_a_test_click_is_not_counted_in_any_visitor_context(offer, affiliate):
    write_clicks(click_row(offer=offer, affiliate=affiliate, is_test=True, **US_IPHONE))
    assert not DailyAudienceStat.objects.exists() and not DailyStat.objects.exists()
    assert Click.objects.count() == 1


# --- Reports ----------------------------------------------------------------------------------


def test_a_report_by_country_names_each_country_most_clicks_first(affiliate, offer, traffic):
    report = stats_report(
        affiliate=affiliate,
        group_by="country",
        date_from=at("2025-07-01").date(),
        date_to=at("2025-07-02").date(),
    )
    rows = [
        (row.visitor, row.label, row.figures.clicks, row.figures.unique_clicks, row.figures.conversions)
        for row in report.rows
    ]
    assert rows == [
        ("US", "United States", 4, 3, 1),
        ("DE", "Germany", 1, 1, 1),
        ("", "Unknown", 1, 1, 0),
    ]
    by_day = stats_report(affiliate=affiliate, date_from=report.date_from, date_to=report.date_to)
    assert report.totals == by_day.totals
    assert (report.totals.clicks, report.totals.unique_clicks, report.totals.refused_total) == (6, 5, 3)


def test_reports_by_os_and_by_device_add_up_to_the_totals(affiliate, offer, traffic):
    period = {"date_from": at("2025-07-01").date(), "date_to": at("2025-07-02").date()}
    by_os = stats_report(affiliate=affiliate, group_by="os", **period)
    assert [(row.visitor, row.label, row.figures.clicks) for row in by_os.rows] == [
        ("iOS", "iOS", 4),
        ("Windows", "Windows", 1),
        ("", "Unknown", 1),
    ]
    by_device = stats_report(affiliate=affiliate, group_by="device", **period)
    assert [(row.visitor, row.label, row.figures.refused) for row in by_device.rows] == [
        ("mobile", "Mobile", {"country": 0, "os": 1, "device": 0}),
        ("desktop", "Desktop", {"country": 2, "os": 0, "device": 0}),
        ("", "Unknown", {"country": 0, "os": 0, "device": 0}),
    ]
    for report in [by_os, by_device]:
        summed = [
            sum(row.figures.clicks for row in report.rows),
            sum(row.figures.unique_clicks for row in report.rows),
        ]
        assert summed == [report.totals.clicks, report.totals.unique_clicks] == [6, 5]


def test_the_country_filter_narrows_every_grouping(affiliate, offer, traffic):
    period = {"date_from": at("2025-07-01").date(), "date_to": at("2025-07-02").date()}
    germany = stats_report(affiliate=affiliate, country="DE", **period)
    assert (germany.totals.clicks, germany.totals.conversions, germany.totals.refused["country"]) == (1, 1, 2)
    by_goal = stats_report(affiliate=affiliate, country="US", group_by="goal", **period)
    assert [(row.goal.value, row.figures.counts["approved"], row.figures.cr) for row in by_goal.rows] == [
        ("install", 1, 25)
    ]
    by_sub = stats_report(affiliate=affiliate, country="US", group_by="sub1", **period)
    assert by_sub.totals.clicks == 4 and sum(row.figures.clicks for row in by_sub.rows) == 4


@pytest.mark.parametrize(
    "params, table",
    [
        ({"group_by": "day"}, DailyStat),
        ({"group_by": "offer"}, DailyStat),
        ({"group_by": "goal"}, DailyStat),
        ({"group_by": "sub1"}, DailyStat),
        ({"group_by": "country"}, DailyAudienceStat),
        ({"group_by": "os"}, DailyAudienceStat),
        ({"group_by": "device"}, DailyAudienceStat),
        ({"group_by": "day", "country": "US"}, DailyAudienceStat),
        ({"group_by": "sub1", "country": "US"}, DailyAudienceStat),
    ],
)
def test_only_a_report_that_needs_the_visitor_context_reads_its_rows(traffic, params, table):
    """The sums over the visitor contexts are several times fewer rows to read: the network's
    reports by period were five to eight times slower on the rows by visitor context."""
    period = {"date_from": at("2025-07-01").date(), "date_to": at("2025-07-02").date()}
    with CaptureQueriesContext(connection) as queries:
        report = stats_report(affiliate=None, **period, **params)
    rollup = [DailyStat._meta.db_table, DailyAudienceStat._meta.db_table]
    read = {name for name in rollup if any(f'"{name}"' in query["sql"] for query in queries)}
    assert read == {table._meta.db_table}
    assert report.totals.clicks == (4 if "country" in params else 6)


def test_the_portal_page_and_csv_show_the_groupings_and_refused_clicks(portal, traffic):
    page = portal.get("/statistics/", {**PERIOD, "group_by": "country"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "United States (US)" in text and "Germany (DE)" in text and "<em>Unknown</em>" in text
    assert "By Country" in text and "Refused clicks" in text
    assert "country 2, OS 1, device 0" in text
    response = portal.get("/statistics/csv/", {**PERIOD, "group_by": "country"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:8] == [
        "country code",
        "country",
        "clicks",
        "unique clicks",
        "refused",
        "refused by country",
        "refused by OS",
        "refused by device",
    ]
    assert rows[1][:8] == ["US", "United States", "4", "3", "1", "0", "1", "0"]
    assert rows[2][:8] == ["DE", "Germany", "1", "1", "2", "2", "0", "0"]
    assert rows[3][:3] == ["", "Unknown", "1"]
    assert rows[-1][:8] == ["total", "", "6", "5", "3", "2", "1", "0"]
    by_device = portal.get("/statistics/csv/", {**PERIOD, "group_by": "device", "country": "us"})
    device_rows = list(csv.reader(io.StringIO(b"".join(by_device.streaming_content).decode())))
    assert device_rows[0][0] == "device type" and device_rows[1][:3] == ["Mobile", "4", "3"]
    assert device_rows[-1][:2] == ["total", "4"]


def test_the_api_groups_by_country_os_and_device(affiliate_api, manager_api, traffic, affiliate):
    body = affiliate_api.get("/api/v1/stats/", {**PERIOD, "group_by": "country"}).json()
    first = body["rows"][0]
    assert (first["country"], first["label"], first["clicks"]) == ("US", "United States", 4)
    assert first["refused"] == {"country": 0, "os": 1, "device": 0, "total": 1}
    assert body["totals"]["refused"] == {"country": 2, "os": 1, "device": 0, "total": 3}
    assert body["rows"][-1]["country"] == "" and body["rows"][-1]["label"] == "Unknown"
    by_os = affiliate_api.get("/api/v1/stats/", {**PERIOD, "group_by": "os", "country": "DE"}).json()
    assert [(row["os"], row["clicks"]) for row in by_os["rows"]] == [("Windows", 1)]
    network = manager_api.get("/api/v1/manage/stats/", {**PERIOD, "group_by": "device"}).json()
    assert [(row["device"], row["clicks"]) for row in network["rows"]] == [
        ("mobile", 4),
        ("desktop", 1),
        ("", 1),
    ]
    assert network["rows"][0]["revenue"]["USD"]["approved"] == "5.0000"
    goal = affiliate_api.get("/api/v1/stats/", {**PERIOD, "group_by": "goal"}).json()
    assert goal["rows"][0]["refused"] is None and goal["totals"]["refused"]["total"] == 3


@pytest.mark.parametrize(
    "params, errors",
    [
        (
            {"group_by": "browser"},
            {
                "group_by": [
                    "Unknown grouping browser: choose day, offer, goal, country, os, device or sub1..sub8."
                ]
            },
        ),
        ({"country": "XX"}, {"country": ["Unknown country XX: give a country code such as US or DE."]}),
        (
            {"country": "Germany"},
            {"country": ["Unknown country Germany: give a country code such as US or DE."]},
        ),
    ],
)
def test_a_bad_grouping_or_country_is_a_400_naming_the_field(affiliate_api, manager_api, params, errors):
    for client, url in [(affiliate_api, "/api/v1/stats/"), (manager_api, "/api/v1/manage/stats/")]:
        response = client.get(url, params)
        assert response.status_code == 400
        assert response.json() == errors


def test_the_dashboards_show_the_refused_clicks(portal, client, manager, traffic):
    mine = portal.get("/", PERIOD)
    assert mine.context["report"].totals.refused_total == 3
    assert "Refused clicks" in mine.content.decode()
    client.force_login(manager)
    network = client.get("/admin/dashboard/", PERIOD)
    assert network.context["report"].totals.refused_total == 3
    assert "Refused clicks" in network.content.decode()
