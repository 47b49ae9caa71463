"""Status changes seen from outside: a change is saved with its time and hold end, and the beat job
approves every hold whose period has ended, counting each conversion it approved once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversions.events import conversion_listen
from conversions.lifecycle import conversion_approve_expired_holds, conversion_set_status
from conversions.models import Conversion, ConversionEvent
from tests.factories import ConversionFactory, OfferFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

APPROVED, PENDING, DECLINED, HOLD = 1, 2, 3, 5


def test_a_status_change_is_saved_with_the_time_it_was_made(manager):
    conversion = ConversionFactory(status=PENDING)
    Conversion.objects.filter(pk=conversion.pk).update(updated_at=timezone.now() - timedelta(days=2))
    before = timezone.now()
    conversion_set_status(conversion=conversion, status=DECLINED, source="manager", changed_by=manager)
    conversion.refresh_from_db()
    assert conversion.status == DECLINED and conversion.updated_at >= before


def test_a_hold_set_by_a_manager_lasts_the_offers_hold_period_and_ends_when_it_leaves_hold():
    conversion = ConversionFactory(status=PENDING, offer=OfferFactory(hold_period_days=2))
    before = timezone.now()
    conversion_set_status(conversion=conversion, status=HOLD, source="manager")
    conversion.refresh_from_db()
    assert before + timedelta(days=2) <= conversion.hold_until <= timezone.now() + timedelta(days=2)
    conversion_set_status(conversion=conversion, status=DECLINED, source="manager")
    conversion.refresh_from_db()
    assert conversion.hold_until is None


def test_a_status_change_is_made_on_the_stored_conversion_not_on_a_stale_copy():
    conversion = ConversionFactory(status=PENDING)
    stale = Conversion.objects.get(pk=conversion.pk)
    conversion_set_status(conversion=conversion, status=HOLD, source="manager")
    event = conversion_set_status(conversion=stale, status=APPROVED, source="manager")
    assert (event.old_status, event.new_status) == (HOLD, APPROVED)
    assert conversion_set_status(conversion=stale, status=APPROVED, source="manager") is None


def test_the_event_of_a_change_says_who_made_it_and_how():
    conversion = ConversionFactory(status=PENDING)
    event = conversion_set_status(conversion=conversion, status=APPROVED, source="test")
    stored = ConversionEvent.objects.get(pk=event.pk)
    assert (stored.conversion_id, stored.kind, stored.source, stored.changed_by) == (
        conversion.pk,
        "status_changed",
        "test",
        None,
    )
    assert (stored.old_status, stored.new_status) == (PENDING, APPROVED)


def test_every_hold_whose_period_has_ended_is_approved_and_counted():
    ended = [ConversionFactory(status=HOLD, hold_until=timezone.now() - timedelta(days=n)) for n in (1, 2, 3)]
    running = ConversionFactory(status=HOLD, hold_until=timezone.now() + timedelta(hours=1))
    heard = []
    stop_listening = conversion_listen(heard.extend)
    try:
        assert conversion_approve_expired_holds() == 3
    finally:
        stop_listening()
    statuses = dict(Conversion.objects.values_list("pk", "status"))
    assert statuses == {**{c.pk: APPROVED for c in ended}, running.pk: HOLD}
    assert sorted(event.conversion_id for event in heard) == sorted(c.pk for c in ended)
    assert {(event.old_status, event.new_status, event.source) for event in heard} == {
        (HOLD, APPROVED, "hold_expired")
    }


def test_a_declined_conversion_with_a_past_hold_end_is_left_alone():
    declined = ConversionFactory(status=DECLINED, hold_until=timezone.now() - timedelta(days=1))
    assert conversion_approve_expired_holds() == 0
    declined.refresh_from_db()
    assert declined.status == DECLINED and not declined.events.exists()
