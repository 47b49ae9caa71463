"""Conversions recorded together in one batch of postbacks are each counted, test conversions
among them excepted; and a conversion counts on its UTC day whatever the site's time zone."""

from decimal import Decimal

import pytest
from django.test import override_settings

from conversions.intake import AdvertiserHit
from conversions.models import Conversion, ServerPostback
from conversions.recording import hits_record
from stats.models import DailyStat
from tests.factories import OfferFactory
from tests.stats.rollup import at, convert, expected, stored
from tracking.accept import click_accept

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


@pytest.fixture
def offer():
    return OfferFactory(
        goals=[{"value": "sale", "title": "Sale", "payout": "3", "revenue": "5", "default_status": 2}]
    )


def hit(**params) -> AdvertiserHit:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return AdvertiserHit(params, ServerPostback.Source.POSTBACK, "GET", query, "198.51.100.9")


def click_id(client, offer, affiliate):
    return client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()["click_id"]


def test_conversions_created_in_one_batch_are_each_counted_and_a_test_conversion_among_them_is_not(
    client, offer, affiliate
):
    query = f"pid={affiliate.pid}&offer_id={offer.offer_id}"
    test_click = click_accept(query=query, ip="198.51.100.8", user_agent="Wizard/1", is_test=True).click_id
    visitors = [click_id(client, offer, affiliate) for _ in range(3)]
    results = hits_record([hit(clickid=test_click), *(hit(clickid=visitor) for visitor in visitors)])
    assert [result.message for result in results] == ["ok"] * 4
    assert Conversion.objects.filter(is_test=True).count() == 1
    row = DailyStat.objects.get(goal__isnull=False)
    assert (row.pending, row.payout_pending, row.revenue_pending) == (3, Decimal("9"), Decimal("15"))
    assert stored() == expected()


def test_a_batch_creating_and_changing_conversions_counts_each_in_its_final_status(client, offer, affiliate):
    first, second = click_id(client, offer, affiliate), click_id(client, offer, affiliate)
    hits_record([hit(clickid=first), hit(clickid=second), hit(clickid=first, status="1")])
    row = DailyStat.objects.get(goal__isnull=False)
    assert (row.pending, row.approved, row.payout_pending, row.payout_approved) == (
        1,
        1,
        Decimal("3"),
        Decimal("3"),
    )
    assert stored() == expected()


@override_settings(TIME_ZONE="Asia/Tokyo")
def test_a_conversion_counts_on_its_utc_day_when_the_site_runs_in_another_time_zone(offer, affiliate):
    # 20:00 UTC on April 1st is already April 2nd in Tokyo.
    convert(offer=offer, affiliate=affiliate, created_at=at("2025-04-01", 20))
    assert [(row.day.isoformat(), row.pending) for row in DailyStat.objects.all()] == [("2025-04-01", 1)]
    assert stored() == expected()
