"""GET /api/v1/conversions/: an affiliate's own conversions, with the SPEC's fields and filters."""

from datetime import UTC, datetime

import pytest

from offers.choices import ConversionStatus
from tests.factories import ClickFactory, ConversionFactory, OfferFactory

pytestmark = pytest.mark.django_db

FIELDS = {
    "id",
    "click_id",
    "offer",
    "pid",
    "goal",
    "status",
    "decline_reason",
    "payout",
    "currency",
    "action_id",
    "integration_method",
    *(f"sub{n}" for n in range(1, 31)),
    "created_at",
    "updated_at",
    "is_test",
}


def _ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_a_conversion_carries_the_partner_fields_and_never_the_revenue(affiliate, affiliate_api):
    offer = OfferFactory(goals=[{"value": "sale", "title": "Sale", "payout": "3.5", "currency": "EUR"}])
    click = ClickFactory(offer=offer, affiliate=affiliate)
    conversion = ConversionFactory(
        offer=offer,
        affiliate=affiliate,
        click=click,
        action_id="A-1",
        sub1="abc",
        status=ConversionStatus.HOLD,
    )
    body = affiliate_api.get(f"/api/v1/conversions/{conversion.conversion_id}/").json()
    assert set(body) == FIELDS
    assert body["id"] == conversion.conversion_id and body["click_id"] == click.click_id
    assert (body["offer"], body["pid"], body["goal"]) == (offer.offer_id, affiliate.pid, "sale")
    assert (body["status"], body["payout"], body["currency"]) == (5, "3.5000", "EUR")
    assert (body["action_id"], body["integration_method"], body["sub1"], body["sub2"]) == (
        "A-1",
        "default",
        "abc",
        "",
    )
    assert body["is_test"] is False and body["created_at"] and body["updated_at"]
    listed = affiliate_api.get("/api/v1/conversions/").json()
    assert listed["count"] == 1 and listed["results"] == [body]
    assert "revenue" not in str(listed) and "4.0000" not in str(listed)


def test_a_conversion_without_a_click_has_a_null_click_id(affiliate, affiliate_api):
    conversion = ConversionFactory(affiliate=affiliate, integration_method="probabilistic")
    body = affiliate_api.get(f"/api/v1/conversions/{conversion.conversion_id}/").json()
    assert body["click_id"] is None and body["integration_method"] == "probabilistic"


def test_another_affiliates_conversion_is_not_found_and_not_listed(affiliate, other_affiliate, affiliate_api):
    own = ConversionFactory(affiliate=affiliate)
    theirs = ConversionFactory(affiliate=other_affiliate, offer=own.offer)
    response = affiliate_api.get(f"/api/v1/conversions/{theirs.conversion_id}/")
    assert response.status_code == 404
    assert _ids(affiliate_api.get("/api/v1/conversions/")) == [own.conversion_id]
    assert _ids(affiliate_api.get("/api/v1/conversions/", {"offer": own.offer.offer_id})) == [
        own.conversion_id
    ]


@pytest.mark.parametrize("conversion_id", ["nothing", "0" * 24, "x" * 300])
def test_unknown_conversion_ids_are_404(affiliate_api, conversion_id):
    assert affiliate_api.get(f"/api/v1/conversions/{conversion_id}/").status_code == 404


def test_the_list_is_filtered_by_status_offer_goal_and_sub_values(affiliate, affiliate_api):
    offer = OfferFactory(goals=[{"value": "install", "title": "Install"}, {"value": "Sale", "title": "Sale"}])
    install, sale = offer.goals.all()
    approved = ConversionFactory(affiliate=affiliate, offer=offer, goal=install, status=1, sub1="a", sub8="z")
    pending = ConversionFactory(affiliate=affiliate, offer=offer, goal=sale, status=2, sub1="b")
    elsewhere = ConversionFactory(affiliate=affiliate, status=3, sub1="a")
    for params, expected in [
        ({"status": "1"}, [approved]),
        ({"status": "3"}, [elsewhere]),
        ({"offer": offer.offer_id}, [pending, approved]),
        ({"goal": "SALE"}, [pending]),
        ({"goal": "install", "offer": offer.offer_id}, [approved]),
        ({"sub1": "a"}, [elsewhere, approved]),
        ({"sub1": "a", "sub8": "z"}, [approved]),
        ({"sub1": "A"}, []),
        ({"offer": 424242}, []),
    ]:
        assert _ids(affiliate_api.get("/api/v1/conversions/", params)) == [
            c.conversion_id for c in expected
        ], params


def test_the_date_range_takes_whole_utc_days_both_included(affiliate, affiliate_api):
    def at(*args):
        return ConversionFactory(affiliate=affiliate, created_at=datetime(*args, tzinfo=UTC))

    before, first, last, after = (
        at(2024, 2, 29, 23, 59, 59),
        at(2024, 3, 1),
        at(2024, 3, 10, 23, 59, 59),
        at(2024, 3, 11),
    )
    response = affiliate_api.get("/api/v1/conversions/", {"date_from": "2024-03-01", "date_to": "2024-03-10"})
    assert _ids(response) == [last.conversion_id, first.conversion_id]
    assert _ids(affiliate_api.get("/api/v1/conversions/", {"date_from": "2024-03-11"})) == [
        after.conversion_id
    ]
    assert _ids(affiliate_api.get("/api/v1/conversions/", {"date_to": "2024-02-29"})) == [
        before.conversion_id
    ]
    one_day = {"date_from": "2024-03-10", "date_to": "2024-03-10"}
    assert _ids(affiliate_api.get("/api/v1/conversions/", one_day)) == [last.conversion_id]
    widest = {"date_from": "2000-01-01", "date_to": "2099-12-31"}
    assert len(_ids(affiliate_api.get("/api/v1/conversions/", widest))) == 4


@pytest.mark.parametrize(
    "params, field, message",
    [
        ({"date_from": "2024-13-01"}, "date_from", "Enter a date as YYYY-MM-DD."),
        ({"date_to": "01.03.2024"}, "date_to", "Enter a date as YYYY-MM-DD."),
        ({"date_from": "yesterday"}, "date_from", "Enter a date as YYYY-MM-DD."),
        (
            {"date_from": "2024-03-10", "date_to": "2024-03-01"},
            "date_to",
            "The end date is before the start date.",
        ),
        ({"status": "4"}, "status", "Select a valid choice. 4 is not one of the available choices."),
        ({"offer": "abc"}, "offer", "Enter a whole number."),
        ({"offer": "99999999999999999999"}, "offer", "Ensure this value is less than or equal to 999999999."),
        ({"sub1": "x" * 513}, "sub1", "Ensure this value has at most 512 characters (it has 513)."),
        ({"goal": "a\x00b"}, "goal", "Null characters are not allowed."),
    ],
)
def test_bad_filters_are_a_400_naming_the_field(affiliate_api, params, field, message):
    response = affiliate_api.get("/api/v1/conversions/", params)
    assert response.status_code == 400
    assert response.json() == {field: [message]}


def test_test_conversions_are_listed_and_flagged(affiliate, affiliate_api):
    ConversionFactory(affiliate=affiliate, is_test=True)
    assert [row["is_test"] for row in affiliate_api.get("/api/v1/conversions/").json()["results"]] == [True]


def test_the_list_is_paginated_newest_first(affiliate, affiliate_api):
    conversions = [
        ConversionFactory(affiliate=affiliate, created_at=datetime(2024, 1, day, tzinfo=UTC))
        for day in (1, 2, 3)
    ]
    body = affiliate_api.get("/api/v1/conversions/", {"page_size": 2}).json()
    assert body["count"] == 3 and body["next"]
    assert [row["id"] for row in body["results"]] == [c.conversion_id for c in conversions[:0:-1]]


def test_manager_keys_and_missing_keys_are_refused(client, manager_api):
    assert manager_api.get("/api/v1/conversions/").status_code == 403
    assert client.get("/api/v1/conversions/").status_code == 401


def test_conversions_are_read_only_for_affiliates(affiliate, affiliate_api):
    conversion = ConversionFactory(affiliate=affiliate)
    url = f"/api/v1/conversions/{conversion.conversion_id}/"
    assert affiliate_api.patch(url, {"status": 1}, format="json").status_code == 405
    assert affiliate_api.delete(url).status_code == 405
    assert affiliate_api.post("/api/v1/conversions/", {}, format="json").status_code == 405
    conversion.refresh_from_db()
    assert conversion.status == ConversionStatus.PENDING


def test_the_schema_documents_the_filters(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    parameters = {p["name"] for p in schema["paths"]["/api/v1/conversions/"]["get"]["parameters"]}
    assert {"date_from", "date_to", "status", "offer", "goal", "sub1", "sub8", "page"} <= parameters
