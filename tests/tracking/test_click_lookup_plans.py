"""The click lookup of every batch of advertiser postbacks runs on the partitioned click table
again and again with the same text: it must be planned for the ids and times it is given each
time, never with a plan made once for any values, which PostgreSQL adopts for a prepared statement
after five runs (and which walks a time index past every click of the period instead of looking
the ids up)."""

import time

import pytest
from django.db import connection

from tests.factories import AffiliateFactory, OfferFactory
from tracking.models import new_click_id
from tracking.store import click_write_rows, clicks_get

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"),
]


def test_a_click_lookup_run_again_and_again_is_planned_for_its_own_ids_each_time():
    # Enough clicks of the last minutes, with their statistics, for a plan made for any
    # parameters to look cheaper than one made for the ids (as in bench/ingest).
    offer, affiliate = OfferFactory(), AffiliateFactory()
    now = time.time()
    ids = [new_click_id(at=now) for _ in range(20_000)]
    click_write_rows(
        [
            {"click_id": click_id, "offer_id": offer.pk, "affiliate_id": affiliate.pk, "created_at": now}
            for click_id in ids
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tracking_click")
    for start in range(0, 15 * 12, 15):  # past the prepare threshold and the server's 5 custom plans
        batch = ids[start : start + 15]
        assert set(clicks_get(batch)) == set(batch)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE %s AND statement LIKE %s",
            ['%FROM "tracking_click"%', "%click_id%"],
        )
        plans = cursor.fetchall()
    assert [generic for generic, _ in plans if generic] == [], plans
