"""Status changes: history, one event per change, listeners, and hold auto-approval."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversions.events import conversion_listen
from conversions.lifecycle import (
    conversion_approve_expired_holds,
    conversion_set_status,
    manager_status_changes,
)
from conversions.models import Conversion, ConversionEvent
from offers.choices import ConversionStatus
from tests.factories import OfferFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


@pytest.fixture
def conversion(client, affiliate):
    offer = OfferFactory(hold_period_days=3)
    click = client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()["click_id"]
    conversion_id = client.get(f"/postback?clickid={click}&status=5").json()["conversion_id"]
    return Conversion.objects.get(conversion_id=conversion_id)


def test_a_manager_sets_any_status_and_the_history_keeps_who(conversion, manager):
    conversion_set_status(conversion=conversion, status=3, source="manager", changed_by=manager)
    conversion_set_status(conversion=conversion, status=1, source="manager", changed_by=manager)
    history = list(conversion.events.values_list("old_status", "new_status", "source", "changed_by"))
    assert history == [
        (None, 5, "postback", None),
        (5, 3, "manager", manager.pk),
        (3, 1, "manager", manager.pk),
    ]
    conversion.refresh_from_db()
    assert conversion.status == 1 and conversion.hold_until is None


@pytest.mark.parametrize("current", list(ConversionStatus))
def test_a_manager_is_offered_every_status_but_the_current_one(current):
    offered = manager_status_changes(current)
    assert current not in offered
    assert sorted(offered) == sorted(set(ConversionStatus) - {current})


def test_setting_the_same_status_again_emits_nothing(conversion):
    assert conversion_set_status(conversion=conversion, status=5, source="manager") is None
    assert conversion.events.count() == 1


def test_listeners_hear_each_event_inside_its_transaction(conversion):
    heard = []
    stop_listening = conversion_listen(heard.extend)
    try:
        event = conversion_set_status(conversion=conversion, status=1, source="manager")
    finally:
        stop_listening()
    assert heard == [event]
    conversion_set_status(conversion=conversion, status=3, source="manager")
    assert heard == [event]


def test_hold_conversions_are_approved_after_the_hold_period(conversion):
    assert conversion_approve_expired_holds() == 0
    Conversion.objects.filter(pk=conversion.pk).update(hold_until=timezone.now() - timedelta(minutes=1))
    assert conversion_approve_expired_holds() == 1
    conversion.refresh_from_db()
    assert conversion.status == 1 and conversion.hold_until is None
    last = conversion.events.last()
    assert (last.old_status, last.new_status, last.source) == (5, 1, ConversionEvent.Source.HOLD_EXPIRED)
    assert conversion_approve_expired_holds() == 0
