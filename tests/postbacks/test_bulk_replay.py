"""Sending failed deliveries again in bulk, by offer, period and HTTP code: one service behind the
portal, the API and the admin; each delivery keeps its X-Postback-Id; other affiliates' deliveries
are out of reach; a selection bigger than the maximum is refused whole."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from postbacks import services
from postbacks.models import Delivery
from postbacks.services import deliveries_replay_failed
from tests.factories import AffiliateFactory, ConversionFactory, DeliveryFactory, OfferFactory

pytestmark = pytest.mark.django_db


def failed(affiliate, *, offer=None, http_code=500, days_ago=0, **fields) -> Delivery:
    conversion = ConversionFactory(affiliate=affiliate, **({"offer": offer} if offer else {}))
    return DeliveryFactory(
        affiliate=affiliate,
        conversion=conversion,
        state=Delivery.State.FAILED,
        attempts=8,
        http_code=http_code,
        next_attempt_at=None,
        created_at=timezone.now() - timedelta(days=days_ago),
        **fields,
    )


def states(*deliveries) -> list[str]:
    return [Delivery.objects.get(pk=delivery.pk).state for delivery in deliveries]


@pytest.fixture
def offer():
    return OfferFactory()


@pytest.fixture
def mixed(affiliate, offer):
    """Failed deliveries of the affiliate told apart by one filter each, and what is never replayed."""
    deleted_postback = failed(affiliate, offer=offer)
    deleted_postback.postback.delete()
    return {
        "match": failed(affiliate, offer=offer, http_code=0),
        "other_code": failed(affiliate, offer=offer, http_code=503),
        "other_offer": failed(affiliate, http_code=0),
        "too_old": failed(affiliate, offer=offer, http_code=0, days_ago=10),
        "succeeded": DeliveryFactory(
            affiliate=affiliate, state="succeeded", http_code=0, next_attempt_at=None
        ),
        "theirs": failed(AffiliateFactory(), offer=offer, http_code=0),
        "deleted_postback": deleted_postback,
    }


def filters(offer, **more) -> dict:
    today = timezone.now().date()
    return {
        "offer": offer.offer_id,
        "date_from": (today - timedelta(days=6)).isoformat(),
        "http_code": 0,
        **more,
    }


def test_the_service_sends_failed_deliveries_again_with_the_same_postback_id(affiliate):
    delivery = failed(affiliate)
    same_id = delivery.delivery_id

    assert deliveries_replay_failed(Delivery.objects.all()) == 1

    delivery.refresh_from_db()
    assert (delivery.state, delivery.delivery_id, delivery.attempts) == ("retrying", same_id, 8)
    assert delivery.next_attempt_at <= timezone.now()
    # Sent again and failed again, it is failed again at once: its schedule is spent.
    assert deliveries_replay_failed(Delivery.objects.all()) == 0


def test_more_than_the_maximum_is_refused_and_none_is_sent(affiliate, monkeypatch):
    monkeypatch.setattr(services, "REPLAY_MAX", 2)
    deliveries = [failed(affiliate) for _ in range(3)]
    with pytest.raises(ValidationError, match="More than 2 failed deliveries match"):
        deliveries_replay_failed(Delivery.objects.all())
    assert states(*deliveries) == ["failed"] * 3


def test_replays_go_in_batches_and_miss_none(affiliate, monkeypatch):
    monkeypatch.setattr(services, "REPLAY_BATCH", 2)
    deliveries = [failed(affiliate) for _ in range(5)]
    assert deliveries_replay_failed(Delivery.objects.all()) == 5
    assert states(*deliveries) == ["retrying"] * 5


# --- Portal ---------------------------------------------------------------------------------

PAGE = "/statistics/postbacks/replay/"


def test_the_portal_previews_then_replays_only_what_the_filters_name(portal, offer, mixed):
    preview = portal.get(PAGE, filters(offer))
    assert preview.status_code == 200 and preview.context["count"] == 1
    assert "Send 1 again" in preview.content.decode()
    assert "Send failed postbacks again" in portal.get("/statistics/postbacks/").content.decode()

    answer = portal.post(PAGE, filters(offer), follow=True)

    assert answer.redirect_chain[-1][0] == "/statistics/postbacks/"
    assert "1 failed postback will be sent again" in answer.content.decode()
    assert states(*mixed.values()) == [
        "retrying",
        "failed",
        "failed",
        "failed",
        "succeeded",
        "failed",
        "failed",
    ]


def test_the_portals_first_visit_counts_the_last_30_days_of_every_offer(portal, affiliate, offer, mixed):
    assert portal.get(PAGE).context["count"] == 4  # match, other code, other offer, too old (10 days)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"http_code": "abc"}, "http_code"),
        ({"http_code": "1000"}, "http_code"),
        ({"date_from": "2026-02-30"}, "date_from"),
        ({"offer": "999999"}, "offer"),
        ({"date_from": "2026-03-02", "date_to": "2026-03-01"}, "date_to"),
    ],
)
def test_bad_filters_are_refused_with_the_field_named(portal, affiliate, data, field):
    delivery = failed(affiliate)
    preview = portal.get(PAGE, data)
    assert preview.status_code == 200 and preview.context["count"] is None
    assert field in preview.context["form"].errors
    assert portal.post(PAGE, data).status_code == 400
    assert states(delivery) == ["failed"]


def test_the_portal_refuses_more_than_the_maximum_with_the_reason(portal, affiliate, monkeypatch):
    monkeypatch.setattr(services, "REPLAY_MAX", 1)
    deliveries = [failed(affiliate) for _ in range(2)]
    answer = portal.post(PAGE, {})
    assert answer.status_code == 400 and "More than 1 failed deliveries match" in answer.content.decode()
    assert states(*deliveries) == ["failed", "failed"]


# --- API ----------------------------------------------------------------------------------------

API = "/api/v1/postback-deliveries/replay/"


def test_the_api_counts_then_replays_the_affiliates_own_failed_deliveries(affiliate_api, offer, mixed):
    assert affiliate_api.get(API, filters(offer)).json() == {"deliveries": 1, "sent": False}
    assert affiliate_api.get(API).json()["deliveries"] == 4  # theirs, failed, with their postback

    answer = affiliate_api.post(API, filters(offer), format="json")

    assert answer.status_code == 200 and answer.json() == {"deliveries": 1, "sent": True}
    assert states(mixed["match"], mixed["theirs"]) == ["retrying", "failed"]


def test_the_api_refuses_bad_filters_and_too_many(affiliate_api, affiliate, monkeypatch):
    delivery = failed(affiliate)
    answer = affiliate_api.get(API, {"http_code": "-1"})
    assert answer.status_code == 400 and "http_code" in answer.json()
    assert affiliate_api.post(API, [1], format="json").status_code == 400
    monkeypatch.setattr(services, "REPLAY_MAX", 0)
    answer = affiliate_api.post(API, {}, format="json")
    assert answer.status_code == 400 and "More than 0" in answer.json()["non_field_errors"][0]
    assert states(delivery) == ["failed"]


def test_the_api_refuses_a_filter_that_is_no_single_value(affiliate_api, affiliate):
    delivery = failed(affiliate)
    answer = affiliate_api.post(API, {"http_code": [500], "offer": {"id": 1}}, format="json")
    assert answer.status_code == 400
    message = ["Send a single value, not a list or an object."]
    assert answer.json() == {"http_code": message, "offer": message}
    assert states(delivery) == ["failed"]


def test_a_failure_a_later_status_has_overtaken_is_not_sent_again(affiliate):
    """Sent again, the older status would reach the affiliate after the newer one."""
    overtaken = failed(affiliate)
    DeliveryFactory(
        affiliate=affiliate,
        postback=overtaken.postback,
        conversion=overtaken.conversion,
        state=Delivery.State.SUCCEEDED,
        next_attempt_at=None,
    )
    still_failed = failed(affiliate)
    assert deliveries_replay_failed(Delivery.objects.filter(affiliate=affiliate)) == 1
    assert states(overtaken, still_failed) == ["failed", "retrying"]


def test_another_affiliates_delivery_is_not_reached_through_any_filter(affiliate_api, other_affiliate):
    theirs = failed(other_affiliate)
    assert affiliate_api.post(API, {}, format="json").json() == {"deliveries": 0, "sent": True}
    assert states(theirs) == ["failed"]


def test_a_manager_replays_any_affiliates_failed_deliveries_by_pid(manager_api, affiliate, other_affiliate):
    mine, theirs = failed(affiliate), failed(other_affiliate)
    url = "/api/v1/manage/postback-deliveries/replay/"
    assert manager_api.get(url, {"affiliate": other_affiliate.pid}).json()["deliveries"] == 1
    assert manager_api.post(url, {"affiliate": other_affiliate.pid}, format="json").json()["deliveries"] == 1
    assert states(mine, theirs) == ["failed", "retrying"]


# --- Admin --------------------------------------------------------------------------------------


def test_the_admin_action_asks_first_then_replays_the_failed_ones_of_a_filtered_list(
    client, manager, offer, mixed
):
    client.force_login(manager)
    changelist = f"/admin/postbacks/delivery/?http_code=0&conversion__offer__id__exact={offer.pk}"
    listed = client.get(changelist)
    assert listed.status_code == 200
    assert {d.pk for d in listed.context["cl"].result_list} == {
        mixed["match"].pk,
        mixed["too_old"].pk,
        mixed["theirs"].pk,
    }
    selection = {
        "action": "replay_failed",
        "select_across": "1",
        "index": "0",
        "_selected_action": [mixed["match"].pk],
    }

    asked = client.post(changelist, selection)
    assert asked.status_code == 200 and "Yes, send 3 again" in asked.content.decode()
    assert states(mixed["match"]) == ["failed"]

    done = client.post(changelist, {**selection, "post": "yes"}, follow=True)
    assert "3 failed deliveries queued to be sent again" in done.content.decode()
    assert states(*mixed.values()) == [
        "retrying",
        "failed",
        "failed",
        "retrying",
        "succeeded",
        "retrying",
        "failed",
    ]


def test_the_admin_marks_backfill_deliveries_and_refuses_a_bad_http_code_filter(client, manager, affiliate):
    client.force_login(manager)
    DeliveryFactory(affiliate=affiliate, is_backfill=True)
    assert len(client.get("/admin/postbacks/delivery/?is_backfill__exact=1").context["cl"].result_list) == 1
    refused = client.get("/admin/postbacks/delivery/?http_code=abc")
    assert refused.status_code == 302 and refused["Location"].endswith("?e=1")
