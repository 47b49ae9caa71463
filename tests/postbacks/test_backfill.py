"""Sending a postback for past conversions: which conversions a backfill covers (the preview's count
is what it makes), idempotence, the 30-day cap, each affiliate's own data only, the log's mark,
and live deliveries claimed before backfill ones."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from conversions.models import Conversion, ConversionEvent
from offers.choices import ConversionStatus
from postbacks import backfill, queue
from postbacks.backfill import Period, backfill_count
from postbacks.models import Delivery, Postback
from postbacks.services import postback_backfill, postback_backfill_run
from tests.factories import (
    AffiliateFactory,
    ConversionEventFactory,
    ConversionFactory,
    DeliveryFactory,
    OfferFactory,
    PostbackFactory,
)

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/pb?cid={conversion_id}&status={status}"


def last_days(days: int) -> Period:
    today = timezone.now().date()
    return Period(today - timedelta(days=days - 1), today)


def past_conversion(affiliate, offer, *, days_ago=1, status=ConversionStatus.PENDING, now_in=None, **fields):
    """A conversion made `days_ago` days ago with its creation event, moved to `now_in` since."""
    conversion = ConversionFactory(
        affiliate=affiliate,
        offer=offer,
        status=status,
        created_at=timezone.now() - timedelta(days=days_ago),
        **fields,
    )
    ConversionEventFactory(conversion=conversion, new_status=status)
    if now_in is not None:
        ConversionEventFactory(
            conversion=conversion,
            kind=ConversionEvent.Kind.STATUS_CHANGED,
            old_status=status,
            new_status=now_in,
        )
        conversion.status = now_in
        conversion.save(update_fields=["status"])
    return conversion


def run(postback, period) -> list[Delivery]:
    """The backfill's deliveries made by this run, by conversion."""
    before = set(Delivery.objects.values_list("pk", flat=True))
    made = postback_backfill_run(postback_id=postback.pk, period=period)
    deliveries = list(
        Delivery.objects.filter(postback=postback).exclude(pk__in=before).order_by("conversion_id")
    )
    assert made == len(deliveries)
    assert all(delivery.is_backfill for delivery in deliveries)
    return deliveries


def sent_values(delivery) -> dict:
    return {name: values[0] for name, values in parse_qs(urlsplit(delivery.url).query).items()}


@pytest.fixture
def offer():
    return OfferFactory()


def test_the_preview_counts_exactly_the_deliveries_the_backfill_makes(affiliate, offer):
    postback = PostbackFactory(affiliate=affiliate, offer=offer, url=URL)
    covered = [past_conversion(affiliate, offer, days_ago=days) for days in (0, 1, 6)]
    past_conversion(affiliate, offer, days_ago=8)  # before the period
    past_conversion(affiliate, OfferFactory())  # another offer: the postback is local
    past_conversion(affiliate, offer, is_test=True)
    past_conversion(AffiliateFactory(), offer)  # another affiliate's
    period = last_days(7)

    assert backfill_count(postback, period) == 3
    deliveries = run(postback, period)

    assert sorted(d.conversion_id for d in deliveries) == sorted(c.pk for c in covered)
    assert all(d.state == "pending" and d.next_attempt_at and d.is_backfill for d in deliveries)
    assert len({d.delivery_id for d in deliveries}) == 3
    assert sent_values(deliveries[0]) == {"cid": deliveries[0].conversion.conversion_id, "status": "2"}


def test_a_second_backfill_of_the_same_period_makes_nothing(affiliate, offer):
    postback = PostbackFactory(affiliate=affiliate, offer=offer, url=URL)
    for days in range(3):
        past_conversion(affiliate, offer, days_ago=days)
    assert len(run(postback, last_days(7))) == 3

    assert backfill_count(postback, last_days(7)) == 0
    assert run(postback, last_days(7)) == []
    assert Delivery.objects.count() == 3


def test_a_conversion_the_postback_already_reached_live_is_skipped(affiliate, offer):
    postback = PostbackFactory(affiliate=affiliate, offer=offer, url=URL)
    reached = past_conversion(affiliate, offer)
    DeliveryFactory(affiliate=affiliate, postback=postback, conversion=reached, state="succeeded")
    missed = past_conversion(affiliate, offer)

    assert [d.conversion for d in run(postback, last_days(7))] == [missed]


def test_a_status_filter_covers_the_conversions_now_in_that_status_once_with_their_current_values(
    affiliate, offer
):
    postback = PostbackFactory(
        affiliate=affiliate, offer=offer, url=URL, status=Postback.StatusFilter.APPROVED
    )
    approved_later = past_conversion(affiliate, offer, now_in=ConversionStatus.APPROVED)
    past_conversion(affiliate, offer)  # still pending
    past_conversion(affiliate, offer, status=ConversionStatus.APPROVED, now_in=ConversionStatus.DECLINED)

    [delivery] = run(postback, last_days(7))

    assert delivery.conversion == approved_later
    assert delivery.event.new_status == ConversionStatus.APPROVED
    assert sent_values(delivery)["status"] == "1"


def test_by_creating_sends_the_creation_with_the_status_it_was_created_in(affiliate, offer):
    postback = PostbackFactory(
        affiliate=affiliate, offer=offer, url=URL, status=Postback.StatusFilter.CREATED
    )
    conversion = past_conversion(affiliate, offer, now_in=ConversionStatus.APPROVED)

    [delivery] = run(postback, last_days(7))

    assert delivery.event.kind == ConversionEvent.Kind.CREATED
    assert sent_values(delivery) == {"cid": conversion.conversion_id, "status": "2"}


def test_any_sends_the_current_state_once_not_the_whole_history(affiliate, offer):
    postback = PostbackFactory(affiliate=affiliate, offer=offer, url=URL)
    past_conversion(affiliate, offer, now_in=ConversionStatus.APPROVED)

    [delivery] = run(postback, last_days(7))

    assert delivery.event.kind == ConversionEvent.Kind.STATUS_CHANGED
    assert sent_values(delivery)["status"] == "1"


def test_the_firing_rule_decides_goal_integration_method_and_a_local_postbacks_precedence(affiliate):
    offer = OfferFactory(
        goals=[
            {"value": "lead", "title": "Lead", "payout": "1"},
            {"value": "sale", "title": "Sale", "payout": "9"},
        ]
    )
    lead, sale = offer.goals.order_by("pk")
    other_offer = OfferFactory()
    for_sales = PostbackFactory(affiliate=affiliate, offer=offer, goal=sale, url=URL)
    global_ = PostbackFactory(affiliate=affiliate, url=URL)
    sold = past_conversion(affiliate, offer, goal=sale)
    led = past_conversion(affiliate, offer, goal=lead)
    past_conversion(affiliate, offer, goal=sale, integration_method="probabilistic")
    elsewhere = past_conversion(affiliate, other_offer)

    assert [d.conversion for d in run(for_sales, last_days(7))] == [sold]
    # The offer has a local postback that did not match the lead: without "Consider global
    # postback" the global one does not fire for it either; it does for the other offer.
    assert [d.conversion for d in run(global_, last_days(7))] == [elsewhere]

    affiliate.consider_global_postback = True
    affiliate.save()
    global_.refresh_from_db()
    # Now it fires for the lead too; the other offer's conversion has it already.
    assert [d.conversion for d in run(global_, last_days(7))] == [led]


def test_a_backfill_bigger_than_a_batch_goes_in_several_and_misses_none(affiliate, offer, monkeypatch):
    monkeypatch.setattr(backfill, "BATCH", 2)
    postback = PostbackFactory(
        affiliate=affiliate, offer=offer, url=URL, status=Postback.StatusFilter.PENDING
    )
    pending = [past_conversion(affiliate, offer) for _ in range(5)]
    past_conversion(affiliate, offer, now_in=ConversionStatus.APPROVED)  # read, not sent

    assert backfill_count(postback, last_days(7)) == 5
    assert [d.conversion for d in run(postback, last_days(7))] == pending


def test_a_backfill_is_made_no_faster_than_it_is_sent(settings):
    settings.POSTBACK_BACKFILL_PER_SECOND = 100
    # A quick batch waits for its deliveries to be sent; a slow one rests for its database work.
    assert backfill.rest_after_batch(0.1, made=250) == 2.5
    assert backfill.rest_after_batch(1.0, made=250) == 1.0 * backfill.REST_AFTER_BATCH
    assert backfill.rest_after_batch(0.1, made=0) == pytest.approx(0.1 * backfill.REST_AFTER_BATCH)


def test_batches_follow_the_creation_time_and_miss_and_repeat_none_across_one_instant(
    affiliate, offer, monkeypatch
):
    monkeypatch.setattr(backfill, "BATCH", 2)
    postback = PostbackFactory(affiliate=affiliate, offer=offer, url=URL)
    start = timezone.now() - timedelta(days=3)
    # Made in an order unlike their creation times, three at one instant: in (created_at, pk)
    # order the second batch stops between two of those three.
    instants = [start + timedelta(hours=3), start + timedelta(hours=1)]
    instants += [start + timedelta(hours=2)] * 3 + [start]
    conversions = [past_conversion(affiliate, offer) for _ in instants]
    for conversion, instant in zip(conversions, instants, strict=True):
        Conversion.objects.filter(pk=conversion.pk).update(created_at=instant)

    assert backfill_count(postback, last_days(7)) == 6
    deliveries = run(postback, last_days(7))
    assert [d.conversion for d in deliveries] == conversions
    # Made oldest first, in the order the batches read them.
    oldest_first = [conversions[index] for index in (5, 1, 2, 3, 4, 0)]
    assert [d.conversion for d in sorted(deliveries, key=lambda d: d.pk)] == oldest_first
    assert run(postback, last_days(7)) == []


def test_the_preview_stops_counting_once_past_the_most_deliveries_of_one_backfill(
    affiliate, offer, monkeypatch
):
    monkeypatch.setattr(backfill, "BATCH", 2)
    monkeypatch.setattr(backfill, "MAX_DELIVERIES", 3)
    postback = PostbackFactory(affiliate=affiliate, offer=offer, url=URL)
    for _ in range(9):
        past_conversion(affiliate, offer)

    # Two batches of two are past three: the other five conversions are not read.
    count = backfill_count(postback, last_days(7))
    assert count == 4
    assert backfill.count_problem(count) == (
        "This period would send more than 3 postbacks, the most one backfill sends: choose a shorter period."
    )
    assert backfill.count_problem(3) == ""


@pytest.mark.parametrize(
    ("days", "future", "message"),
    [
        (31, False, "Choose a period of at most 30 days"),
        (400, False, "is 400 days"),
        (1, True, "starts in the future"),
    ],
)
def test_a_period_beyond_the_cap_or_in_the_future_is_refused(affiliate, days, future, message):
    postback = PostbackFactory(affiliate=affiliate)
    period = last_days(days)
    if future:
        period = Period(period.date_from + timedelta(days=2), period.date_to + timedelta(days=2))
    with pytest.raises(ValidationError, match=message):
        postback_backfill(postback=postback, period=period)


def test_a_period_older_than_the_postback_log_is_refused_so_that_nothing_is_sent_twice(affiliate, settings):
    """Conversions a postback was sent for are skipped by their delivery, and deliveries leave
    after LOG_RETENTION_DAYS."""
    settings.LOG_RETENTION_DAYS = 20
    postback = PostbackFactory(affiliate=affiliate)
    first = timezone.now().date() - timedelta(days=19)
    with pytest.raises(
        ValidationError, match=f"choose a period from {first:%Y-%m-%d}, so that no conversion"
    ):
        postback_backfill(
            postback=postback, period=Period(first - timedelta(days=1), first + timedelta(days=5))
        )
    assert backfill.period_problem(Period(first, first + timedelta(days=5))) == ""


def test_thirty_days_are_accepted(affiliate, offer, django_capture_on_commit_callbacks):
    postback = PostbackFactory(affiliate=affiliate, offer=offer)
    past_conversion(affiliate, offer, days_ago=29)
    with django_capture_on_commit_callbacks() as queued:
        assert postback_backfill(postback=postback, period=last_days(30)) == 1
    assert len(queued) == 1


def test_a_disabled_postback_is_not_backfilled(affiliate, offer):
    postback = PostbackFactory(affiliate=affiliate, offer=offer, enabled=False)
    past_conversion(affiliate, offer)
    with pytest.raises(ValidationError, match="disabled"):
        postback_backfill(postback=postback, period=last_days(7))


def test_more_than_the_most_deliveries_of_one_backfill_is_refused(affiliate, offer, monkeypatch):
    monkeypatch.setattr(backfill, "MAX_DELIVERIES", 2)
    postback = PostbackFactory(affiliate=affiliate, offer=offer)
    for _ in range(3):
        past_conversion(affiliate, offer)
    with pytest.raises(
        ValidationError, match="would send more than 2 postbacks, the most one backfill sends"
    ):
        postback_backfill(postback=postback, period=last_days(7))


def test_a_postback_disabled_while_its_backfill_waits_makes_nothing(affiliate, offer):
    postback = PostbackFactory(affiliate=affiliate, offer=offer)
    past_conversion(affiliate, offer)
    Postback.objects.filter(pk=postback.pk).update(enabled=False)
    assert run(postback, last_days(7)) == []


# --- Live first -------------------------------------------------------------------------------


def test_the_claim_takes_due_live_deliveries_before_older_backfill_ones(affiliate):
    long_ago = timezone.now() - timedelta(hours=1)
    backfilled = [
        DeliveryFactory(affiliate=affiliate, is_backfill=True, next_attempt_at=long_ago) for _ in range(4)
    ]
    live = DeliveryFactory(affiliate=affiliate)

    assert [row["pk"] for row in queue.claim(limit=1)] == [live.pk]
    rows = queue.claim(limit=3)
    assert [row["pk"] for row in rows] == [backfilled[0].pk, backfilled[1].pk, backfilled[2].pk]
    assert all(row["is_backfill"] for row in rows)


def test_the_live_deliveries_fill_the_batch_and_backfill_ones_the_rest_up_to_their_limit(affiliate):
    backfilled = [DeliveryFactory(affiliate=affiliate, is_backfill=True) for _ in range(3)]
    live = [DeliveryFactory(affiliate=affiliate) for _ in range(2)]

    rows = queue.claim(limit=10, backfill_limit=1)

    assert [row["pk"] for row in rows] == [live[0].pk, live[1].pk, backfilled[0].pk]
    assert queue.claim(limit=10, backfill_limit=0) == []


def test_a_slow_hosts_room_is_shared_by_its_live_and_backfill_deliveries(affiliate):
    for _ in range(2):
        DeliveryFactory(affiliate=affiliate, host="slow:80")
        DeliveryFactory(affiliate=affiliate, host="slow:80", is_backfill=True)

    rows = queue.claim(limit=10, limited_hosts={"slow:80": 3})

    assert [row["is_backfill"] for row in rows] == [False, False, True]
