"""The click write buffer: acknowledged clicks reach the database exactly once, whatever happens."""

import time

import pytest
from django.conf import settings
from django.test import override_settings

from tests.factories import AffiliateFactory, OfferFactory
from tests.processes import celery, wait_until
from tracking import buffer
from tracking.models import Click, new_click_id
from tracking.store import click_flush_buffer, click_write_rows, clicks_get

pytestmark = pytest.mark.django_db


@pytest.fixture
def link():
    offer, affiliate = OfferFactory(), AffiliateFactory()
    return f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json"


def test_a_buffered_click_is_answered_before_it_is_written(client, link, buffered_writes):
    click_id = client.get(link).json()["click_id"]
    buffer.drain()
    assert not Click.objects.filter(click_id=click_id).exists()
    assert buffered_writes.xlen(buffer.STREAM) == 1
    assert click_flush_buffer() == 1
    assert Click.objects.filter(click_id=click_id).exists()
    assert buffered_writes.xlen(buffer.STREAM) == 0 and buffer.pending_rows([click_id]) == {}


def test_a_conversion_finds_a_click_that_was_just_made(client, link, buffered_writes):
    click_id = client.get(link).json()["click_id"]
    assert clicks_get([click_id])[click_id].click_id == click_id
    # Written once, even when the flush comes after the lookup wrote it.
    click_flush_buffer()
    assert Click.objects.filter(click_id=click_id).count() == 1


def test_an_unknown_click_id_is_not_found(buffered_writes):
    assert clicks_get(["0" * 24, "not-even-hex-at-all-here"]) == {
        "0" * 24: None,
        "not-even-hex-at-all-here": None,
    }


def test_clicks_of_a_writer_that_died_mid_batch_are_written_by_another(client, link, buffered_writes):
    ids = [client.get(link).json()["click_id"] for _ in range(3)]
    buffer.drain()
    buffer._ensure_group(buffered_writes)
    # A writer reads the batch, then dies before writing it: the entries stay pending.
    buffered_writes.xreadgroup(buffer.GROUP, "dead-writer", {buffer.STREAM: ">"}, count=10)
    assert click_flush_buffer() == 0
    assert buffer.flush(click_write_rows, claim_idle_ms=0) == 3
    assert set(Click.objects.values_list("click_id", flat=True)) == set(ids)


def test_a_batch_written_twice_stores_each_click_once(client, link, buffered_writes):
    rows = []
    for _ in range(2):
        click_id = client.get(link).json()["click_id"]
        buffer.drain()
        rows.append(buffer.pending_rows([click_id])[click_id])
    click_write_rows(rows)
    click_write_rows(rows)
    assert Click.objects.count() == 2


@pytest.mark.parametrize("count", [1, 50])
def test_rows_queued_by_an_older_release_are_still_written(count):
    offer, affiliate = OfferFactory(), AffiliateFactory()
    rows = [
        {
            "click_id": new_click_id(),
            "offer_id": offer.pk,
            "affiliate_id": affiliate.pk,
            "created_at": time.time(),
        }
        for _ in range(count)
    ]
    click_write_rows(rows)
    assert Click.objects.filter(sub1="", ip=None).count() == count


@pytest.mark.django_db(transaction=True)
def test_without_a_reachable_redis_clicks_are_written_directly(client, link):
    with override_settings(CLICK_BUFFER_REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get(link)
        buffer.drain()
    assert response.status_code == 200
    assert Click.objects.filter(click_id=response.json()["click_id"]).exists()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_beat_and_a_real_worker_write_buffered_clicks(client, buffered_writes, tmp_path):
    offer, affiliate = OfferFactory(), AffiliateFactory()
    link = f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json"
    ids = {client.get(link).json()["click_id"] for _ in range(20)}
    env = {"CLICK_BUFFER_REDIS_URL": settings.CLICK_BUFFER_REDIS_URL}
    with (
        celery("worker", "--pool=solo", "--loglevel=INFO", ready_line="ready.", env=env),
        celery(
            "beat", "--loglevel=INFO", f"--schedule={tmp_path / 'beat'}", ready_line="beat: Starting", env=env
        ),
    ):
        assert wait_until(lambda: Click.objects.count() == 20, timeout=30)
    assert set(Click.objects.values_list("click_id", flat=True)) == ids
    assert buffered_writes.xlen(buffer.STREAM) == 0
