"""An advertiser postback naming a click that is no longer kept (its week's partition dropped once
older than CLICK_RETENTION_DAYS) while its conversions are: judged as while the click was kept,
by the click rebuilt from what its conversions kept of it. A status change months after the
conversion changes it and sends the affiliate's postbacks with the click's values; a new goal is
a conversion of an expired click, as it would have been while the click was kept."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversions.click_values import click_values
from conversions.intake import AdvertiserHit, clicks_of
from conversions.models import Conversion, ServerPostback
from postbacks.models import Delivery
from tests.factories import OfferFactory, PostbackFactory
from tracking.models import Click, new_click_id

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

APPROVED, PENDING, DECLINED = 1, 2, 3
AFFILIATE_POSTBACK = "https://t.example/pb?c={clickid}&s={sub1}&r={ref_id}&e={ext1}&ua={uagent}&st={status}"


@pytest.fixture(autouse=True)
def retention(settings):
    settings.CLICK_RETENTION_DAYS = 180


@pytest.fixture
def offer():
    return OfferFactory(
        click_lifetime_days=30,
        goals=[
            {"value": "sale", "title": "Sale", "payout": "5", "revenue": "8"},
            {"value": "install", "title": "Install", "payout": "1", "revenue": "2"},
        ],
    )


@pytest.fixture
def affiliate_postback(offer, affiliate):
    return PostbackFactory(affiliate=affiliate, offer=offer, url=AFFILIATE_POSTBACK)


@pytest.fixture
def click_id(client, offer, affiliate):
    query = {"pid": affiliate.pid, "offer_id": offer.offer_id, "format": "json"}
    query |= {"sub1": "s-1", "ref_id": "r-1", "ext1": "e-1"}
    return client.get(f"/click?{urlencode(query)}", HTTP_USER_AGENT="agent-1").json()["click_id"]


def postback(client, **params):
    return client.get("/postback?" + urlencode(params))


def converted_200_days_ago(click_id: str) -> str:
    """As if the click had been made 200 days ago, and its conversions within its lifetime: its id
    (which names its time), and what its conversions kept of it, with it."""
    made = timezone.now() - timedelta(days=200)
    aged = new_click_id(at=made.timestamp())
    Click.objects.filter(click_id=click_id).update(click_id=aged, created_at=made)
    kept = click_values(Click.objects.get(click_id=aged))
    Conversion.objects.filter(click_values__click_id=click_id).update(click_values=kept)
    return aged


def drop_click(click_id: str) -> None:
    """What dropping its week's partition does to a click: the row goes, whatever refers to it."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Click._meta.db_table} WHERE click_id = %s", [click_id])


def old_click_id() -> str:
    return new_click_id(at=(timezone.now() - timedelta(days=200)).timestamp())


def hit(click_id: str) -> AdvertiserHit:
    return AdvertiserHit({"clickid": click_id}, ServerPostback.Source.POSTBACK, "GET", "", None)


def conversion_queries(queries) -> list[str]:
    return [query["sql"] for query in queries if Conversion._meta.db_table in query["sql"]]


@pytest.mark.parametrize("dropped", [False, True], ids=["kept", "dropped"])
def test_an_approval_by_click_id_after_the_clicks_retention_approves_and_sends_its_values(
    client, click_id, affiliate_postback, dropped
):
    made = postback(client, clickid=click_id, goal="sale", action_id="A-1")
    assert made.json()["message"] == "ok"
    click_id = converted_200_days_ago(click_id)
    if dropped:
        drop_click(click_id)

    response = postback(client, clickid=click_id, goal="sale", action_id="A-1", status=APPROVED)

    assert response.status_code == 200
    assert response.json() == {**made.json(), "message": "ok"}
    conversion = Conversion.objects.get()
    assert list(conversion.events.values_list("old_status", "new_status")) == [
        (None, PENDING),
        (PENDING, APPROVED),
    ]
    sent = Delivery.objects.filter(event__new_status=APPROVED).get()
    assert sent.url == f"https://t.example/pb?c={click_id}&s=s-1&r=r-1&e=e-1&ua=agent-1&st=1"
    assert ServerPostback.objects.order_by("received_at").last().outcome == "status_changed"


@pytest.mark.parametrize("dropped", [False, True], ids=["kept", "dropped"])
def test_a_decline_naming_only_the_click_id_after_the_clicks_retention_declines(
    client, click_id, affiliate_postback, dropped
):
    postback(client, clickid=click_id)
    click_id = converted_200_days_ago(click_id)
    if dropped:
        drop_click(click_id)

    response = postback(client, clickid=click_id, status=DECLINED)

    assert (response.status_code, response.json()["message"]) == (200, "ok")
    assert Conversion.objects.get().status == DECLINED
    sent = Delivery.objects.filter(event__new_status=DECLINED).get()
    assert sent.url == f"https://t.example/pb?c={click_id}&s=s-1&r=r-1&e=e-1&ua=agent-1&st=3"


@pytest.mark.parametrize("dropped", [False, True], ids=["kept", "dropped"])
def test_a_new_goal_after_the_clicks_retention_is_declined_as_an_expired_clicks(client, click_id, dropped):
    postback(client, clickid=click_id, goal="sale")
    click_id = converted_200_days_ago(click_id)
    if dropped:
        drop_click(click_id)

    response = postback(client, clickid=click_id, goal="install", status=APPROVED)

    assert (response.status_code, response.json()["message"]) == (200, "declined: Click session expired")
    first, new = Conversion.objects.order_by("pk")
    assert (new.goal.value, new.status, new.decline_reason) == ("install", DECLINED, "Click session expired")
    assert (new.click_id, new.click_values, new.sub1) == (first.click_id, first.click_values, "s-1")
    assert (new.offer_id, new.affiliate_id, new.is_test) == (first.offer_id, first.affiliate_id, False)


def test_a_status_change_for_a_click_no_longer_kept_needs_no_click_buffer(client, click_id, request):
    postback(client, clickid=click_id)
    click_id = converted_200_days_ago(click_id)
    drop_click(click_id)
    request.getfixturevalue("unreachable_buffer")

    response = postback(client, clickid=click_id, status=APPROVED)

    assert (response.status_code, response.json()["message"]) == (200, "ok")
    assert Conversion.objects.get().status == APPROVED


@pytest.mark.parametrize("buffer_reachable", [True, False], ids=["buffer", "buffer-unreachable"])
def test_an_old_click_id_no_conversion_kept_is_still_not_found(client, request, buffer_reachable):
    # Too old to be in the buffer: no "retry later" for a click that is not coming.
    if not buffer_reachable:
        request.getfixturevalue("unreachable_buffer")
    response = postback(client, clickid=old_click_id(), status=APPROVED)
    assert (response.status_code, response.json()["message"]) == (404, "Click not found")


def test_an_unknown_recent_click_id_is_not_looked_for_among_the_conversions():
    unknown = new_click_id()
    with CaptureQueriesContext(connection) as queries:
        assert clicks_of([hit(unknown)]) == {unknown: None}
    assert conversion_queries(queries) == []


def test_the_old_click_ids_of_a_batch_are_looked_for_among_the_conversions_in_one_query(client, affiliate):
    kept = []
    for offer in (OfferFactory(), OfferFactory()):
        query = {"pid": affiliate.pid, "offer_id": offer.offer_id, "format": "json"}
        click_id = client.get(f"/click?{urlencode(query)}").json()["click_id"]
        assert postback(client, clickid=click_id).json()["message"] == "ok"
        kept.append(converted_200_days_ago(click_id))
        drop_click(kept[-1])
    unknown = old_click_id()

    with CaptureQueriesContext(connection) as queries:
        clicks = clicks_of([hit(kept[0]), hit(unknown), hit(kept[1])])

    assert len(conversion_queries(queries)) == 1
    assert clicks[unknown] is None
    assert [clicks[click_id].click_id for click_id in kept] == kept


def test_the_conversions_of_a_click_no_longer_kept_are_found_by_their_index(client, click_id):
    postback(client, clickid=click_id)
    click_id = converted_200_days_ago(click_id)
    drop_click(click_id)
    with CaptureQueriesContext(connection) as queries:
        clicks_of([hit(click_id)])
    (lookup,) = conversion_queries(queries)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # a table of a few rows is read whole
            cursor.execute(f"EXPLAIN {lookup}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {lookup}")
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "conversion_kept_click_id" in plan
