"""Manager endpoints: every affiliate's conversions (status changes), clicks and inbound postbacks."""

from datetime import UTC, datetime

import pytest

from conversions.models import ConversionEvent
from offers.choices import ConversionStatus
from tests.factories import (
    AffiliateFactory,
    ClickFactory,
    ConversionFactory,
    OfferFactory,
    ServerPostbackFactory,
)

pytestmark = pytest.mark.django_db

LISTS = ["/api/v1/manage/conversions/", "/api/v1/manage/clicks/", "/api/v1/manage/server-postbacks/"]


def _ids(response, key="id"):
    assert response.status_code == 200, response.content
    return [row[key] for row in response.json()["results"]]


def test_managers_see_every_affiliates_conversions_with_the_revenue(manager_api, affiliate, other_affiliate):
    mine, theirs = ConversionFactory(affiliate=affiliate), ConversionFactory(affiliate=other_affiliate)
    assert set(_ids(manager_api.get("/api/v1/manage/conversions/"))) == {
        mine.conversion_id,
        theirs.conversion_id,
    }
    body = manager_api.get(f"/api/v1/manage/conversions/{theirs.conversion_id}/").json()
    assert (body["pid"], body["offer"], body["revenue"]) == (
        other_affiliate.pid,
        theirs.offer.offer_id,
        "4.0000",
    )
    assert body["payout"] == "2.5000" and body["status"] == 2


@pytest.mark.parametrize("status", [1, 3, 5, "1"])
def test_a_manager_changes_a_status_and_the_change_is_recorded(manager_api, manager, status):
    conversion = ConversionFactory()
    response = manager_api.patch(
        f"/api/v1/manage/conversions/{conversion.conversion_id}/", {"status": status}
    )
    assert response.status_code == 200 and response.json()["status"] == int(status)
    conversion.refresh_from_db()
    assert conversion.status == int(status)
    event = ConversionEvent.objects.get(conversion=conversion)
    assert (event.old_status, event.new_status, event.source, event.changed_by) == (
        2,
        int(status),
        "manager",
        manager,
    )


def test_putting_a_conversion_on_hold_sets_when_it_is_approved(manager_api):
    conversion = ConversionFactory(offer=OfferFactory(hold_period_days=7))
    body = manager_api.patch(
        f"/api/v1/manage/conversions/{conversion.conversion_id}/", {"status": 5}, format="json"
    ).json()
    assert body["status"] == 5 and body["hold_until"]


def test_setting_the_same_status_again_records_nothing(manager_api):
    conversion = ConversionFactory(status=ConversionStatus.APPROVED)
    response = manager_api.patch(f"/api/v1/manage/conversions/{conversion.conversion_id}/", {"status": 1})
    assert response.status_code == 200 and not ConversionEvent.objects.exists()


@pytest.mark.parametrize(
    "body, message",
    [
        ({"status": 4}, '"4" is not a valid choice.'),
        ({"status": "approved"}, '"approved" is not a valid choice.'),
        ({"status": None}, "This field may not be null."),
        ({"status": True}, '"True" is not a valid choice.'),
        ({"status": [1]}, '"[1]" is not a valid choice.'),
        ({}, "This field is required."),
        ({"payout": "100"}, "This field is required."),
    ],
)
def test_junk_statuses_are_refused_and_change_nothing(manager_api, body, message):
    conversion = ConversionFactory()
    response = manager_api.patch(
        f"/api/v1/manage/conversions/{conversion.conversion_id}/", body, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"status": [message]}
    conversion.refresh_from_db()
    assert conversion.status == ConversionStatus.PENDING and conversion.payout == 2.5
    assert not ConversionEvent.objects.exists()


def test_malformed_json_is_a_400(manager_api):
    conversion = ConversionFactory()
    response = manager_api.patch(
        f"/api/v1/manage/conversions/{conversion.conversion_id}/", "{status", content_type="application/json"
    )
    assert response.status_code == 400


def test_unknown_conversions_are_404_and_put_and_delete_are_not_offered(manager_api):
    assert manager_api.patch("/api/v1/manage/conversions/nope/", {"status": 1}).status_code == 404
    conversion = ConversionFactory()
    url = f"/api/v1/manage/conversions/{conversion.conversion_id}/"
    assert manager_api.put(url, {"status": 1}).status_code == 405
    assert manager_api.delete(url).status_code == 405


@pytest.mark.parametrize("url", LISTS)
def test_affiliate_keys_are_refused_on_manager_endpoints(affiliate_api, client, url):
    assert affiliate_api.get(url).status_code == 403
    assert client.get(url).status_code == 401


def test_an_affiliate_key_cannot_change_a_status(affiliate, affiliate_api):
    conversion = ConversionFactory(affiliate=affiliate)
    response = affiliate_api.patch(f"/api/v1/manage/conversions/{conversion.conversion_id}/", {"status": 1})
    assert response.status_code == 403
    conversion.refresh_from_db()
    assert conversion.status == ConversionStatus.PENDING


def test_manager_conversions_filter_by_offer_affiliate_date_and_status(
    manager_api, affiliate, other_affiliate
):
    offer = OfferFactory()
    march = ConversionFactory(offer=offer, affiliate=affiliate, created_at=datetime(2024, 3, 5, tzinfo=UTC))
    april = ConversionFactory(
        affiliate=other_affiliate, status=1, created_at=datetime(2024, 4, 5, tzinfo=UTC)
    )
    for params, expected in [
        ({"offer": offer.offer_id}, [march]),
        ({"affiliate": other_affiliate.pid}, [april]),
        ({"date_from": "2024-04-01"}, [april]),
        ({"date_to": "2024-03-31"}, [march]),
        ({"status": 1}, [april]),
        ({"affiliate": 424242}, []),
    ]:
        response = manager_api.get("/api/v1/manage/conversions/", params)
        assert _ids(response) == [c.conversion_id for c in expected], params


def test_clicks_are_listed_with_their_parameters_and_filtered(manager_api, affiliate):
    offer = OfferFactory()
    old = ClickFactory(
        offer=offer, affiliate=affiliate, sub1="s1", created_at=datetime(2024, 3, 5, tzinfo=UTC)
    )
    new = ClickFactory(created_at=datetime(2024, 4, 5, tzinfo=UTC))
    assert _ids(manager_api.get("/api/v1/manage/clicks/")) == [new.click_id, old.click_id]
    body = manager_api.get(f"/api/v1/manage/clicks/{old.click_id}/").json()
    assert (body["offer"], body["pid"], body["sub1"], body["created_at"]) == (
        offer.offer_id,
        affiliate.pid,
        "s1",
        "2024-03-05T00:00:00Z",
    )
    for params, expected in [
        ({"offer": offer.offer_id}, [old]),
        ({"affiliate": affiliate.pid}, [old]),
        ({"date_from": "2024-04-05", "date_to": "2024-04-05"}, [new]),
        ({"date_to": "2024-04-04"}, [old]),
    ]:
        assert _ids(manager_api.get("/api/v1/manage/clicks/", params)) == [c.click_id for c in expected], (
            params
        )


def test_server_postbacks_are_listed_and_filtered_by_their_conversion(manager_api):
    conversion = ConversionFactory(affiliate=AffiliateFactory())
    accepted = ServerPostbackFactory(conversion=conversion, received_at=datetime(2024, 3, 5, tzinfo=UTC))
    rejected = ServerPostbackFactory(
        conversion=None, outcome="rejected", http_status=404, message="Click not found"
    )
    assert _ids(manager_api.get("/api/v1/manage/server-postbacks/")) == [rejected.pk, accepted.pk]
    body = manager_api.get(f"/api/v1/manage/server-postbacks/{accepted.pk}/").json()
    assert body["conversion"] == conversion.conversion_id and body["outcome"] == "created"
    assert manager_api.get(f"/api/v1/manage/server-postbacks/{rejected.pk}/").json()["conversion"] is None
    for params, expected in [
        ({"offer": conversion.offer.offer_id}, [accepted]),
        ({"affiliate": conversion.affiliate.pid}, [accepted]),
        ({"date_to": "2024-03-05"}, [accepted]),
        ({"date_from": "2024-03-06"}, [rejected]),
    ]:
        response = manager_api.get("/api/v1/manage/server-postbacks/", params)
        assert _ids(response) == [p.pk for p in expected], params


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize(
    "params, field",
    [
        ({"date_from": "2024-02-30"}, "date_from"),
        ({"date_from": "2024-03-02", "date_to": "2024-03-01"}, "date_to"),
        ({"offer": "0"}, "offer"),
        ({"affiliate": "pid-1"}, "affiliate"),
    ],
)
def test_bad_manager_filters_are_a_400_naming_the_field(manager_api, url, params, field):
    response = manager_api.get(url, params)
    assert response.status_code == 400 and list(response.json()) == [field]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/manage/server-postbacks/abc/",
        "/api/v1/manage/server-postbacks/99999999999999999999/",
        "/api/v1/manage/clicks/nope/",
    ],
)
def test_unknown_ids_on_read_only_lists_are_404(manager_api, url):
    assert manager_api.get(url).status_code == 404
