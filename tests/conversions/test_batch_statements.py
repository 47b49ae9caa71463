"""A batch of postbacks costs little more than one (README, "Postbacks arriving together are
written together"): whatever it mixes (new conversions on several clicks, a probabilistic one,
refusals, replays and status changes), its conversions, events and log rows are inserted in one
statement each, and it is not recorded again hit by hit."""

from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversions.models import Conversion, ConversionEvent, ServerPostback
from conversions.services import PostbackHit, postbacks_record
from tests.factories import OfferFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


@pytest.fixture
def offer():
    return OfferFactory(
        goals=[{"value": "sale", "title": "Sale", "payout": "3", "revenue": "5", "default_status": 2}]
    )


@pytest.fixture
def click_ids(client, offer, affiliate):
    url = f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json"
    return [client.get(url).json()["click_id"] for _ in range(3)]


def hit(**params) -> PostbackHit:
    return PostbackHit(params, ServerPostback.Source.POSTBACK, "GET", urlencode(params), "198.51.100.9")


def inserts_into(queries, model) -> int:
    table = f'INSERT INTO "{model._meta.db_table}"'
    return sum(query["sql"].startswith(table) for query in queries)


def test_a_mixed_batch_inserts_its_rows_in_one_statement_per_table(offer, affiliate, click_ids):
    first, second, third = click_ids
    batch = [
        hit(clickid=third),
        hit(clickid="nope"),  # refused in the middle of the batch
        hit(clickid=first),
        hit(offer_id=str(offer.offer_id), pid=str(affiliate.pid)),  # probabilistic, no click
        hit(clickid=second, action_id="A-2"),
        hit(clickid=first),  # a replay of the conversion created above
    ]
    with CaptureQueriesContext(connection) as queries:
        results = postbacks_record(batch)

    assert [(result.http_status, result.message) for result in results] == [
        (200, "ok"),
        (400, "Click_id: invalid format"),
        (200, "ok"),
        (200, "ok"),
        (200, "ok"),
        (200, "duplicate"),
    ]
    assert Conversion.objects.count() == 4 and ConversionEvent.objects.count() == 4
    assert ServerPostback.objects.count() == 6
    assert inserts_into(queries, Conversion) == 1
    assert inserts_into(queries, ConversionEvent) == 1
    assert inserts_into(queries, ServerPostback) == 1


def test_a_status_change_after_a_refusal_in_a_batch_is_made_in_the_same_batch(click_ids):
    first, second, _ = click_ids
    with CaptureQueriesContext(connection) as queries:
        results = postbacks_record(
            [
                hit(clickid=first),
                hit(clickid=second, status="4"),  # refused
                hit(clickid=first, status="1"),
                hit(clickid=second),
            ]
        )
    assert [result.message for result in results] == ["ok", "Unknown status", "ok", "ok"]
    assert inserts_into(queries, Conversion) == 1 and inserts_into(queries, ServerPostback) == 1
    assert Conversion.objects.get(click__click_id=first).status == 1
