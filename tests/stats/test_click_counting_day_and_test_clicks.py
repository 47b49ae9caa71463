"""Clicks are counted on their UTC day whatever the site's time zone, and the integration wizard's
test clicks are stored but never counted."""

import pytest
from django.test import override_settings

from stats.models import DailyStat, DailyVisitor
from tests.factories import AffiliateFactory, OfferFactory
from tests.stats.rollup import at, click_row, expected, stored, write_clicks
from tracking.accept import ClickAccepted, click_accept
from tracking.models import Click

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


def clicks_by_day():
    rows = DailyStat.objects.filter(goal=None)
    return {stat.day.isoformat(): (stat.clicks, stat.unique_clicks) for stat in rows}


@override_settings(TIME_ZONE="Asia/Tokyo")
def test_clicks_count_on_their_utc_day_when_the_site_runs_in_another_time_zone():
    offer, affiliate = OfferFactory(), AffiliateFactory()
    # Nine hours ahead, Tokyo has the first two on April 2nd already.
    write_clicks(
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.1", at=at("2025-04-01", 16)),
        click_row(offer=offer, affiliate=affiliate, ip=None, at=at("2025-04-01", 23)),
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.1", at=at("2025-04-02", 1)),
    )
    assert clicks_by_day() == {"2025-04-01": (2, 2), "2025-04-02": (1, 1)}
    assert sorted(visitor.day.isoformat() for visitor in DailyVisitor.objects.all()) == [
        "2025-04-01",
        "2025-04-02",
    ]
    assert stored() == expected()


def test_the_wizards_test_click_is_stored_but_not_counted(affiliate):
    offer = OfferFactory()
    query = f"pid={affiliate.pid}&offer_id={offer.offer_id}"
    result = click_accept(query=query, ip="198.51.100.8", user_agent="Wizard/1", is_test=True)
    assert isinstance(result, ClickAccepted)
    assert Click.objects.get().is_test is True
    assert not DailyStat.objects.exists() and not DailyVisitor.objects.exists()


def test_test_clicks_written_with_visitors_clicks_leave_only_the_visitors_counted(affiliate):
    offer = OfferFactory()
    write_clicks(
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.1", is_test=True),
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.1"),
        click_row(offer=offer, affiliate=affiliate, ip=None, is_test=True),
    )
    counted = DailyStat.objects.get(goal=None)
    assert (counted.clicks, counted.unique_clicks) == (1, 1)
    assert stored() == expected()
