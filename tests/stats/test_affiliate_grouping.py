"""The network's report grouped by affiliate (what the manager console's dashboard ranks), which
affiliates are never offered: not on the portal's Statistics page, not in either statistics API."""

from datetime import date
from decimal import Decimal

import pytest

from offers.choices import ConversionStatus
from stats.selectors import stats_report
from tests.factories import AffiliateFactory, OfferFactory
from tests.stats.rollup import at, click_row, convert, write_clicks

pytestmark = pytest.mark.django_db

PERIOD = {"date_from": "2025-06-01", "date_to": "2025-06-02"}


@pytest.fixture
def traffic(affiliate, other_affiliate):
    """`affiliate`: 3 clicks and an approved conversion on each of two offers; `other_affiliate`: 2
    clicks and a declined conversion; a conversion the day after the period."""
    first, second = OfferFactory(), OfferFactory()
    write_clicks(
        *(click_row(offer=first, affiliate=affiliate, at=at("2025-06-01")) for _ in range(3)),
        *(click_row(offer=second, affiliate=affiliate, at=at("2025-06-02")) for _ in range(3)),
        *(click_row(offer=first, affiliate=other_affiliate, at=at("2025-06-02")) for _ in range(2)),
    )
    for offer in (first, second):
        convert(
            offer=offer, affiliate=affiliate, status=ConversionStatus.APPROVED, created_at=at("2025-06-01")
        )
    convert(
        offer=first, affiliate=other_affiliate, status=ConversionStatus.DECLINED, created_at=at("2025-06-02")
    )
    convert(offer=first, affiliate=other_affiliate, created_at=at("2025-06-03"))


def test_the_networks_report_by_affiliate_has_a_row_per_affiliate_in_pid_order(
    traffic, affiliate, other_affiliate
):
    report = stats_report(
        affiliate=None, group_by="affiliate", date_from=date(2025, 6, 1), date_to=date(2025, 6, 2)
    )
    assert [row.affiliate for row in report.rows] == sorted(
        [affiliate, other_affiliate], key=lambda one: one.pid
    )
    rows = {row.affiliate: row.figures for row in report.rows}
    assert (rows[affiliate].clicks, rows[affiliate].counts["approved"]) == (6, 2)
    assert rows[affiliate].money["USD"].payout["approved"] == 2 * Decimal("2.5")
    assert (rows[other_affiliate].clicks, rows[other_affiliate].counts["declined"]) == (2, 1)
    # The rows add up to the totals.
    assert report.totals.clicks == 8 and report.totals.conversions == 3


def test_an_affiliate_without_anything_in_the_period_has_no_row(traffic):
    AffiliateFactory()
    report = stats_report(
        affiliate=None, group_by="affiliate", date_from=date(2025, 6, 1), date_to=date(2025, 6, 2)
    )
    assert len(report.rows) == 2


def test_the_portal_page_does_not_offer_the_affiliate_grouping(portal):
    response = portal.get("/statistics/", {**PERIOD, "group_by": "affiliate"})
    assert response.status_code == 200
    assert "Unknown grouping affiliate" in response.content.decode()
    assert 'value="affiliate"' not in portal.get("/statistics/").content.decode()


@pytest.mark.parametrize(
    "api, url", [("affiliate_api", "/api/v1/stats/"), ("manager_api", "/api/v1/manage/stats/")]
)
def test_neither_statistics_api_groups_by_affiliate(request, api, url):
    response = request.getfixturevalue(api).get(url, {**PERIOD, "group_by": "affiliate"})
    assert response.status_code == 400
    assert "group_by" in response.json()
