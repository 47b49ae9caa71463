"""The click write buffer: acknowledged clicks reach the database exactly once, whatever happens."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client, override_settings

from tests import processes
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


# A web process that answers one click and is SIGKILLed the moment it has answered: nothing it
# did after the answer, in a thread or at exit, can have stored the click.
ANSWER_THEN_DIE = """
import os, signal, sys
from django.test import Client
sys.stdout.write(Client().get(os.environ["CLICK_LINK"]).json()["click_id"])
sys.stdout.flush()
os.kill(os.getpid(), signal.SIGKILL)
"""


def answered_by_a_process_killed_at_once(link, redis_url):
    """The click id a web process answered for `link` just before it was SIGKILLed."""
    process = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", ANSWER_THEN_DIE],
        cwd=processes.ROOT,
        env={
            **os.environ,
            "DATABASE_URL": processes.test_database_url(),
            "DEBUG": "true",
            "CLICK_BUFFER_REDIS_URL": redis_url,
            "CLICK_LINK": link,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr
    return process.stdout.splitlines()[-1]


@pytest.mark.django_db(transaction=True)
def test_a_click_answered_by_a_web_process_killed_at_once_is_in_redis(link, buffered_writes):
    click_id = answered_by_a_process_killed_at_once(link, settings.CLICK_BUFFER_REDIS_URL)
    assert buffered_writes.xlen(buffer.STREAM) == 1
    assert buffer.pending_rows([click_id])[click_id]["click_id"] == click_id
    assert click_flush_buffer() == 1
    assert Click.objects.filter(click_id=click_id).exists()


@pytest.mark.django_db(transaction=True)
def test_without_a_reachable_redis_a_click_is_written_directly_before_it_is_answered(link):
    click_id = answered_by_a_process_killed_at_once(link, "redis://127.0.0.1:1/0")
    assert Click.objects.filter(click_id=click_id).exists()


@pytest.mark.django_db(transaction=True)
def test_clicks_answered_at_once_by_the_threads_of_a_process_are_each_in_redis_when_answered(
    link, buffered_writes
):
    answered, not_in_redis = [], []

    def visitor():
        client = Client()
        try:
            for _ in range(20):
                click_id = client.get(link).json()["click_id"]
                answered.append(click_id)
                if not buffered_writes.exists(buffer.PENDING_KEY + click_id):
                    not_in_redis.append(click_id)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=visitor) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(answered)) == 160 and not_in_redis == []
    assert buffered_writes.xlen(buffer.STREAM) == 160


def test_a_click_goes_to_redis_after_redis_forgot_the_script_as_on_a_restart(client, link, buffered_writes):
    client.get(link)
    buffered_writes.script_flush()
    click_id = client.get(link).json()["click_id"]
    assert buffer.pending_rows([click_id])[click_id]["click_id"] == click_id
    assert buffered_writes.xlen(buffer.STREAM) == 2
    assert not Click.objects.exists()


def test_a_click_goes_to_redis_after_redis_closed_the_last_ones_connection(client, link, buffered_writes):
    client.get(link)
    own = buffered_writes.client_id()
    database = str(buffered_writes.connection_pool.connection_kwargs["db"])
    for other in buffered_writes.client_list():
        if other["db"] == database and int(other["id"]) != own:
            buffered_writes.client_kill_filter(_id=other["id"])
    click_id = client.get(link).json()["click_id"]
    assert buffer.pending_rows([click_id])[click_id]["click_id"] == click_id
    assert not Click.objects.exists()


def test_a_refused_click_is_in_the_stream_without_a_pending_key_once_pushed(buffered_writes):
    offer, affiliate = OfferFactory(), AffiliateFactory()
    row = {
        "refused": "refused_country",
        "click_id": new_click_id(),
        "offer_id": offer.pk,
        "affiliate_id": affiliate.pk,
        "created_at": time.time(),
    }
    buffer.push(row, click_write_rows)
    assert buffered_writes.xlen(buffer.STREAM) == 1
    assert not buffered_writes.exists(buffer.PENDING_KEY + row["click_id"])


@pytest.mark.django_db(transaction=True)
def test_a_click_neither_redis_nor_the_database_takes_is_refused_and_not_stored():
    offer, affiliate = OfferFactory(), AffiliateFactory()
    # The database refuses the row at commit: its offer does not exist.
    row = {"click_id": new_click_id(), "offer_id": offer.pk + 1000, "affiliate_id": affiliate.pk}
    with (
        override_settings(CLICK_BUFFER_REDIS_URL="redis://127.0.0.1:1/0"),
        pytest.raises(buffer.NotStored),
    ):
        buffer.push({**row, "created_at": time.time()}, click_write_rows)
    assert not Click.objects.exists()


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
