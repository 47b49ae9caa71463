"""Which deliveries a sender takes (`queue.claim`), rule by rule: due and unfinished only, with a
postback, not behind an earlier unfinished one of the same postback and conversion, oldest due
first up to the limit, slow hosts only up to their room, never one another sender holds; and the
lease it takes them under."""

import threading
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from postbacks import queue
from postbacks.models import Delivery
from tests.factories import ConversionFactory, DeliveryFactory, PostbackFactory

pytestmark = pytest.mark.django_db


def taken(**kwargs) -> list[int]:
    return sorted(row["pk"] for row in queue.claim(**kwargs))


@pytest.mark.parametrize(
    ("state", "claimed"), [("pending", True), ("retrying", True), ("succeeded", False), ("failed", False)]
)
def test_only_unfinished_deliveries_are_taken(affiliate, state, claimed):
    delivery = DeliveryFactory(affiliate=affiliate, state=state)
    assert taken() == ([delivery.pk] if claimed else [])


def test_a_delivery_whose_postback_was_deleted_is_not_sent(affiliate):
    delivery = DeliveryFactory(affiliate=affiliate)
    kept = DeliveryFactory(affiliate=affiliate)
    delivery.postback.delete()

    assert taken() == [kept.pk]
    assert Delivery.objects.get(pk=delivery.pk).state == "pending"


def test_a_delivery_due_a_moment_ago_is_taken_and_one_due_in_a_moment_is_not(affiliate):
    due = DeliveryFactory(affiliate=affiliate, next_attempt_at=timezone.now() - timedelta(milliseconds=50))
    DeliveryFactory(affiliate=affiliate, next_attempt_at=timezone.now() + timedelta(seconds=2))

    assert taken() == [due.pk]


def test_a_delivery_waits_for_an_earlier_unfinished_one_of_its_postback_and_conversion(affiliate):
    postback = PostbackFactory(affiliate=affiliate)
    conversion = ConversionFactory(affiliate=affiliate)
    earlier = DeliveryFactory(
        affiliate=affiliate,
        postback=postback,
        conversion=conversion,
        state="retrying",
        next_attempt_at=timezone.now() + timedelta(minutes=5),
    )
    later = DeliveryFactory(affiliate=affiliate, postback=postback, conversion=conversion)
    other_postback = DeliveryFactory(affiliate=affiliate, conversion=conversion)
    other_conversion = DeliveryFactory(affiliate=affiliate, postback=postback)

    assert taken() == sorted([other_postback.pk, other_conversion.pk])

    for state in ("succeeded", "failed"):
        Delivery.objects.filter(pk=earlier.pk).update(state=state, next_attempt_at=None)
        assert taken() == [later.pk]
        Delivery.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now(), locked_until=None)


def test_a_later_delivery_does_not_hold_back_an_earlier_one(affiliate):
    postback = PostbackFactory(affiliate=affiliate)
    conversion = ConversionFactory(affiliate=affiliate)
    earlier = DeliveryFactory(affiliate=affiliate, postback=postback, conversion=conversion)
    DeliveryFactory(
        affiliate=affiliate,
        postback=postback,
        conversion=conversion,
        next_attempt_at=timezone.now() - timedelta(hours=1),
    )

    assert taken() == [earlier.pk]


def test_the_longest_due_are_taken_first_up_to_the_limit(affiliate):
    now = timezone.now()
    newest, oldest, middle = (
        DeliveryFactory(affiliate=affiliate, next_attempt_at=now - timedelta(minutes=minutes))
        for minutes in (1, 30, 10)
    )
    tied = DeliveryFactory(affiliate=affiliate, next_attempt_at=now - timedelta(minutes=30))

    assert [row["pk"] for row in queue.claim(limit=3)] == [oldest.pk, tied.pk, middle.pk]
    assert taken() == [newest.pk]


def test_only_the_deliveries_asked_for_are_taken(affiliate):
    wanted = [DeliveryFactory(affiliate=affiliate) for _ in range(2)]
    DeliveryFactory(affiliate=affiliate)

    assert taken(ids=[delivery.pk for delivery in wanted]) == sorted(delivery.pk for delivery in wanted)


def test_a_slow_host_fills_only_what_the_limit_leaves(affiliate):
    healthy = [DeliveryFactory(affiliate=affiliate, host="fast.example:80") for _ in range(2)]
    slow = [DeliveryFactory(affiliate=affiliate, host="slow.example:80") for _ in range(4)]

    rows = queue.claim(limit=3, limited_hosts={"slow.example:80": 5})

    assert sorted(row["pk"] for row in rows) == sorted([d.pk for d in healthy] + [slow[0].pk])


@pytest.mark.parametrize("room", [0, -3])
def test_a_slow_host_without_room_gets_nothing(affiliate, room):
    DeliveryFactory(affiliate=affiliate, host="slow.example:80")
    assert taken(limited_hosts={"slow.example:80": room}) == []


def test_each_slow_host_gets_its_own_room(affiliate):
    first = [DeliveryFactory(affiliate=affiliate, host="one.example:80") for _ in range(3)]
    second = [DeliveryFactory(affiliate=affiliate, host="two.example:80") for _ in range(3)]

    rows = queue.claim(limit=10, limited_hosts={"one.example:80": 1, "two.example:80": 2})

    assert sorted(row["pk"] for row in rows) == sorted([first[0].pk, second[0].pk, second[1].pk])


def test_taken_deliveries_are_leased_for_the_lease_time(affiliate, settings):
    settings.POSTBACK_LEASE_SECONDS = 120
    delivery = DeliveryFactory(affiliate=affiliate)
    before = timezone.now()

    [row] = queue.claim()

    after = timezone.now()
    assert before + timedelta(seconds=120) <= row["lease"] <= after + timedelta(seconds=120)
    delivery.refresh_from_db()
    assert delivery.locked_until == delivery.next_attempt_at == row["lease"]
    assert (row["delivery_id"], row["url"], row["host"]) == (
        delivery.delivery_id,
        delivery.url,
        delivery.host,
    )


@pytest.mark.django_db(transaction=True)
def test_a_delivery_another_sender_holds_is_skipped_not_waited_for(affiliate):
    held, other = DeliveryFactory(affiliate=affiliate), DeliveryFactory(affiliate=affiliate)
    locked, release = threading.Event(), threading.Event()

    def another_sender():
        try:
            with transaction.atomic():
                list(Delivery.objects.select_for_update().filter(pk=held.pk))
                locked.set()
                release.wait(timeout=10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=another_sender)
    thread.start()
    try:
        assert locked.wait(timeout=10)
        assert taken() == [other.pk]
    finally:
        release.set()
        thread.join()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("held_row", ["conversion", "affiliate"])
def test_a_delivery_is_taken_while_its_conversion_or_affiliate_is_being_changed(affiliate, held_row):
    """A manager changing the conversion's status, or the affiliate saving their settings, holds
    that row: the sender locks only the delivery, so it neither waits nor skips it."""
    delivery = DeliveryFactory(affiliate=affiliate)
    row = delivery.conversion if held_row == "conversion" else affiliate
    locked, release = threading.Event(), threading.Event()

    def another_transaction():
        try:
            with transaction.atomic():
                list(type(row).objects.select_for_update().filter(pk=row.pk))
                locked.set()
                release.wait(timeout=10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=another_transaction)
    thread.start()
    try:
        assert locked.wait(timeout=10)
        assert taken() == [delivery.pk]
    finally:
        release.set()
        thread.join()
