"""A postback asking for a status change that someone else made while it waited for the
conversion's row (a manager, another postback) is a replay: `duplicate`, and no second event."""

import threading
import time
from urllib.parse import urlencode

import pytest
from django.db import connection, transaction
from django.test import Client

from conversions.lifecycle import conversion_set_status
from conversions.models import Conversion, ServerPostback
from tests.factories import AffiliateFactory, OfferFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("direct_writes")]

APPROVED, PENDING = 1, 2


def lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def test_a_change_made_meanwhile_by_a_manager_makes_the_postback_a_duplicate():
    if connection.vendor != "postgresql":
        pytest.skip("waits on PostgreSQL's row locks")
    offer, affiliate = OfferFactory(), AffiliateFactory()
    click_id = (
        Client().get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()["click_id"]
    )
    made = Client().get(f"/postback?clickid={click_id}&status={PENDING}").json()["conversion_id"]
    conversion = Conversion.objects.get(conversion_id=made)
    locked = threading.Event()

    def manager_changes_it_and_commits_once_the_postback_waits():
        try:
            with transaction.atomic():
                # The manager's change has taken the conversion's row when the postback, which
                # found it pending, asks for it; it is made and committed while the postback waits.
                Conversion.objects.select_for_update().get(pk=conversion.pk)
                locked.set()
                deadline = time.monotonic() + 10
                while lock_waiters() == 0 and time.monotonic() < deadline:
                    time.sleep(0.02)
                conversion_set_status(conversion=conversion, status=APPROVED, source="manager")
        finally:
            connection.close()

    manager = threading.Thread(target=manager_changes_it_and_commits_once_the_postback_waits)
    manager.start()
    assert locked.wait(10)
    response = Client().get("/postback?" + urlencode({"clickid": click_id, "status": APPROVED}))
    manager.join(10)

    assert response.json() == {"status": 1, "message": "duplicate", "conversion_id": made}
    conversion.refresh_from_db()
    assert conversion.status == APPROVED
    assert list(conversion.events.values_list("source", "new_status")) == [
        ("postback", PENDING),
        ("manager", APPROVED),
    ]
    logged = ServerPostback.objects.order_by("pk").last()
    assert (logged.outcome, logged.http_status, logged.conversion, logged.event) == (
        "duplicate",
        200,
        conversion,
        None,
    )
