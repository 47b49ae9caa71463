"""Advertiser postbacks recorded together (conversions.recording.hits_record): each hit is judged
as if it came alone after the hits before it, and one hit's failure is never another's."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversions.events import conversion_listen
from conversions.intake import AdvertiserHit, HitRejected, Refusal
from conversions.models import Conversion, ConversionEvent, ServerPostback
from conversions.recording import hits_record, hits_record_wired
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


def hit(**params) -> AdvertiserHit:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return AdvertiserHit(params, ServerPostback.Source.POSTBACK, "GET", query, "198.51.100.9")


def test_a_batch_creates_repeats_changes_and_refuses_in_arrival_order(click_ids):
    first, second, _ = click_ids
    results = hits_record(
        [
            hit(clickid=first, sum="10"),
            hit(clickid=first, sum="10"),  # the same again: a replay
            hit(clickid=first, status="1"),  # pending -> approved
            hit(clickid="f" * 24),
            hit(clickid=second, status="3"),
            hit(clickid=first, status="2"),  # approved -> pending is not the advertiser's to make
        ]
    )
    assert [(result.http_status, result.message) for result in results] == [
        (200, "ok"),
        (200, "duplicate"),
        (200, "ok"),
        (404, "Click not found"),
        (200, "ok"),
        (409, "Conversion status is not pending"),
    ]
    created = Conversion.objects.get(click__click_id=first)
    assert results[0].conversion == results[1].conversion == results[2].conversion == created
    assert created.status == 1 and Conversion.objects.get(click__click_id=second).status == 3
    assert list(created.events.values_list("kind", "old_status", "new_status")) == [
        ("created", None, 2),
        ("status_changed", 2, 1),
    ]
    assert ConversionEvent.objects.count() == 3
    logged = ServerPostback.objects.order_by("pk")
    assert [entry.outcome for entry in logged] == [
        "created",
        "duplicate",
        "status_changed",
        "rejected",
        "created",
        "rejected",
    ]
    assert [entry.event_id for entry in logged] == [result.event and result.event.pk for result in results]


def test_twins_in_one_batch_create_one_conversion(click_ids):
    results = hits_record([hit(clickid=click_ids[0], action_id="A-1") for _ in range(5)])
    assert [result.message for result in results] == ["ok"] + ["duplicate"] * 4
    assert Conversion.objects.count() == 1 and ConversionEvent.objects.count() == 1


def test_a_hit_that_fails_unexpectedly_fails_alone(click_ids):
    def fail_for_one_order(events):
        if any(event.conversion.action_id == "BROKEN" for event in events):
            raise RuntimeError("listener failed")

    stop_listening = conversion_listen(fail_for_one_order)
    try:
        results = hits_record(
            [
                hit(clickid=click_ids[0], action_id="A-1"),
                hit(clickid=click_ids[1], action_id="BROKEN"),
                hit(clickid=click_ids[2], action_id="A-3"),
            ]
        )
    finally:
        stop_listening()
    assert [result.message for result in (results[0], results[2])] == ["ok", "ok"]
    assert isinstance(results[1], RuntimeError)
    assert sorted(Conversion.objects.values_list("action_id", flat=True)) == ["A-1", "A-3"]
    assert ServerPostback.objects.count() == 2


def test_listeners_hear_each_event_once_and_a_creation_before_its_change(click_ids):
    heard = []
    stop_listening = conversion_listen(
        lambda events: heard.extend(
            (event.conversion.action_id, event.kind, event.new_status) for event in events
        )
    )
    try:
        hits_record(
            [
                hit(clickid=click_ids[0], action_id="A-1"),
                hit(clickid=click_ids[1], action_id="A-2"),
                hit(clickid=click_ids[0], action_id="A-1", status="1"),
                hit(clickid=click_ids[2], action_id="A-3"),
            ]
        )
    finally:
        stop_listening()
    assert sorted(heard) == [
        ("A-1", "created", 2),
        ("A-1", "status_changed", 1),
        ("A-2", "created", 2),
        ("A-3", "created", 2),
    ]
    assert heard.index(("A-1", "created", 2)) < heard.index(("A-1", "status_changed", 1))


def test_hits_sent_to_the_writer_read_back_whole_and_an_unreadable_one_fails_alone(click_ids):
    refused = AdvertiserHit(
        {}, "postback", "POST", "a=1", None, HitRejected(400, Refusal.UNREADABLE, "Invalid request")
    )
    sent = [hit(clickid=click_ids[0]), refused, hit(clickid="0" * 24)]
    wired = [json.loads(json.dumps(item.wire())) for item in sent]
    read = [AdvertiserHit.from_wire(dict(item)) for item in wired]
    assert [item.wire() for item in read] == [item.wire() for item in sent]
    assert (read[1].refused.http_status, read[1].refused.message) == (400, "Invalid request")

    answers = hits_record_wired([*wired, {"clickid": "x"}])
    conversion_id = Conversion.objects.get().conversion_id
    assert answers[:3] == [
        [200, {"status": 1, "message": "ok", "conversion_id": conversion_id}],
        [400, {"status": 2, "message": "Invalid request"}],
        [404, {"status": 2, "message": "Click not found"}],
    ]
    assert isinstance(answers[3], ValueError)
    assert ServerPostback.objects.count() == 3


def test_a_refused_hit_travels_to_the_writer_as_its_status_and_message_as_every_release_reads_it():
    refused = AdvertiserHit(
        {}, "postback", "POST", "a=1", None, HitRejected(400, Refusal.UNREADABLE, "Invalid")
    )
    assert refused.wire()["refused"] == [400, "Invalid"]
    read = AdvertiserHit.from_wire(refused.wire()).refused
    assert (read.http_status, read.reason, read.message) == (400, "unreadable", "Invalid")


# A batch costs little more than one postback (README, "Postbacks arriving together are written
# together"): whatever it mixes, its conversions, events and log rows are inserted in one statement
# each, and it is not recorded again hit by hit.


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
        results = hits_record(batch)

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
        results = hits_record(
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


def test_a_batch_writes_its_new_conversions_in_the_order_of_their_keys_not_of_arrival(click_ids):
    # Two batches holding twins of each other's conversions then wait for one another in one
    # direction only, never crosswise (a deadlock).
    first, second, third = click_ids
    hits_record([hit(clickid=third), hit(clickid=first), hit(clickid=second)])

    inserted = Conversion.objects.order_by("pk").values_list("click__click_id", flat=True)
    assert list(inserted) == [first, second, third]
