"""Every row of the advertiser's status-transition table (README, "Conversions"), through
/postback: pending may become approved, declined or hold; hold may become approved or declined;
approved and declined are final for advertisers; the same status again is a duplicate. Managers
may set any status, and a hold gets its end date only while it is on hold."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from conversions.lifecycle import conversion_approve_expired_holds, conversion_set_status
from conversions.models import Conversion, ConversionEvent, ServerPostback
from tests.factories import ConversionFactory, OfferFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

APPROVED, PENDING, DECLINED, HOLD = 1, 2, 3, 5
LABELS = {APPROVED: "Approved", PENDING: "Pending", DECLINED: "Declined", HOLD: "Hold"}
ALLOWED = {(PENDING, APPROVED), (PENDING, DECLINED), (PENDING, HOLD), (HOLD, APPROVED), (HOLD, DECLINED)}
TABLE = [(start, then) for start in LABELS for then in LABELS]


@pytest.fixture
def offer():
    return OfferFactory(hold_period_days=10)


@pytest.fixture
def click_id(client, offer, affiliate):
    return client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()["click_id"]


def postback(client, **params):
    return client.get("/postback?" + urlencode(params))


@pytest.mark.parametrize(("start", "then"), TABLE)
def test_each_row_of_the_advertisers_status_transition_table(client, click_id, start, then):
    created = postback(client, clickid=click_id, status=start).json()
    response = postback(client, clickid=click_id, status=then)
    conversion = Conversion.objects.get()
    log = ServerPostback.objects.order_by("pk").last()
    if start == then:
        assert response.status_code == 200
        assert response.json() == {
            "status": 1,
            "message": "duplicate",
            "conversion_id": created["conversion_id"],
        }
        assert (log.outcome, conversion.events.count()) == ("duplicate", 1)
    elif (start, then) in ALLOWED:
        assert response.status_code == 200
        assert response.json() == {"status": 1, "message": "ok", "conversion_id": created["conversion_id"]}
        assert conversion.status == then and log.outcome == "status_changed"
        assert list(conversion.events.values_list("kind", "old_status", "new_status")) == [
            ("created", None, start),
            ("status_changed", start, then),
        ]
        assert log.event == conversion.events.last()
    else:
        assert response.status_code == 409
        assert response.json() == {
            "status": 2,
            "message": "Conversion status is not pending",
        }
        assert conversion.status == start and conversion.events.count() == 1
        assert (log.outcome, log.http_status, log.conversion) == ("rejected", 409, None)


def test_a_repeat_without_a_status_is_a_duplicate_whatever_the_current_status(client, click_id):
    postback(client, clickid=click_id, status=DECLINED)
    response = postback(client, clickid=click_id)
    assert response.json()["message"] == "duplicate" and Conversion.objects.get().status == DECLINED


def test_a_conversion_created_on_hold_ends_its_hold_after_the_offers_hold_period(client, click_id):
    before = timezone.now()
    postback(client, clickid=click_id, status=HOLD)
    hold_until = Conversion.objects.get().hold_until
    assert before + timedelta(days=10) <= hold_until <= timezone.now() + timedelta(days=10)
    postback(client, clickid=click_id, status=APPROVED)
    assert Conversion.objects.get().hold_until is None


@pytest.mark.parametrize(("start", "then"), [(start, then) for start, then in TABLE if start != then])
def test_a_manager_may_set_any_status_and_the_hold_end_follows(start, then):
    conversion = ConversionFactory(status=start, offer=OfferFactory(hold_period_days=3))
    before = timezone.now()
    event = conversion_set_status(conversion=conversion, status=then, source=ConversionEvent.Source.MANAGER)
    conversion.refresh_from_db()
    assert conversion.status == then
    assert (event.kind, event.old_status, event.new_status, event.source) == (
        "status_changed",
        start,
        then,
        "manager",
    )
    if then == HOLD:
        assert before + timedelta(days=3) <= conversion.hold_until <= timezone.now() + timedelta(days=3)
    else:
        assert conversion.hold_until is None


def test_holds_are_approved_on_the_moment_their_period_ends_not_before():
    due = ConversionFactory(status=HOLD, hold_until=timezone.now() - timedelta(seconds=1))
    later = ConversionFactory(status=HOLD, hold_until=timezone.now() + timedelta(minutes=1))
    pending = ConversionFactory(status=PENDING, hold_until=timezone.now() - timedelta(days=1))
    assert conversion_approve_expired_holds() == 1
    statuses = dict(Conversion.objects.values_list("pk", "status"))
    assert statuses == {due.pk: APPROVED, later.pk: HOLD, pending.pk: PENDING}
    assert due.events.get().source == "hold_expired"
    assert conversion_approve_expired_holds() == 0
