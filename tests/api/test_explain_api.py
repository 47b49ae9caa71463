"""`GET /api/v1/explain/` (the affiliate's own chains) and `GET /api/v1/manage/explain/` (anyone's,
with the advertiser's side): the same chain and reasons as the portal's page."""

import json
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from conversions.models import ServerPostback
from postbacks.models import Delivery
from tests.conftest import api_client_for
from tests.factories import AffiliateFactory, OfferFactory, PostbackFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

URL = "/api/v1/explain/"
MANAGE_URL = "/api/v1/manage/explain/"
REVENUE = "987.6500"


@pytest.fixture
def offer():
    return OfferFactory(goals=[{"value": "install", "title": "Install", "revenue": Decimal(REVENUE)}])


@pytest.fixture
def click_id(client, offer, affiliate):
    query = urlencode({"pid": affiliate.pid, "offer_id": offer.offer_id, "format": "json"})
    click_id = client.get(f"/click?{query}").json()["click_id"]
    client.get(
        f"/postback?{urlencode({'clickid': click_id, 'status': 2, 'sum': '55.10', 'action_id': 'A-1'})}"
    )
    return click_id


def test_the_chain_lists_each_postback_with_whether_it_fired_and_why(
    affiliate_api, affiliate, offer, click_id
):
    # Made after the conversion: it could not have fired for it.
    PostbackFactory(affiliate=affiliate)

    response = affiliate_api.get(URL, {"click_id": click_id})
    assert response.status_code == 200
    data = response.json()
    assert [entry["type"] for entry in data["entries"]] == [
        "click",
        "advertiser_postback",
        "conversion_event",
    ]
    (postback,) = data["entries"][2]["postbacks"]
    assert postback["fired"] is False
    assert postback["reasons"][0]["code"] == "created_after"
    assert "could not fire for it" in postback["reasons"][0]["text"]


def test_fired_in_the_api_is_exactly_where_a_delivery_was_made(client, affiliate_api, affiliate, offer):
    local = PostbackFactory(affiliate=affiliate, offer=offer, status="approved")
    global_ = PostbackFactory(affiliate=affiliate)
    query = urlencode({"pid": affiliate.pid, "offer_id": offer.offer_id, "format": "json"})
    click_id = client.get(f"/click?{query}").json()["click_id"]
    client.get(f"/postback?clickid={click_id}&status=2")
    client.get(f"/postback?clickid={click_id}&status=1")

    events = [
        e
        for e in affiliate_api.get(URL, {"click_id": click_id}).json()["entries"]
        if e["type"] == "conversion_event"
    ]
    fired = [{p["postback"] for p in event["postbacks"] if p["fired"]} for event in events]
    delivered = [
        set(Delivery.objects.filter(event__new_status=status).values_list("postback_id", flat=True))
        for status in (2, 1)
    ]
    assert fired == delivered == [set(), {local.pk}]
    created_reasons = {p["postback"]: [r["code"] for r in p["reasons"]] for p in events[0]["postbacks"]}
    assert created_reasons == {local.pk: ["status"], global_.pk: ["consider_global_off"]}
    assert [d["state"] for d in events[1]["postbacks"][0]["deliveries"]] == ["pending"]


def test_the_affiliate_gets_no_revenue_order_sum_or_advertiser_address(affiliate_api, click_id):
    data = affiliate_api.get(URL, {"click_id": click_id}).json()
    text = json.dumps(data)
    assert "revenue" not in text and "987.65" not in text and "55.10" not in text and "order_sum" not in text
    hit = next(entry for entry in data["entries"] if entry["type"] == "advertiser_postback")
    assert "ip" not in hit and "sum=***" in hit["query"]


def test_a_manager_gets_the_advertisers_side(manager_api, click_id):
    response = manager_api.get(MANAGE_URL, {"action_id": "A-1"})
    assert response.status_code == 200
    entries = response.json()["entries"]
    conversion = next(entry for entry in entries if entry["type"] == "conversion_event")["conversion"]
    assert conversion["revenue"] == REVENUE and conversion["order_sum"] == "55.1000"
    hit = next(entry for entry in entries if entry["type"] == "advertiser_postback")
    assert "sum=55.10" in hit["query"] and "ip" in hit


def test_another_affiliates_chain_is_not_found(offer, click_id):
    other = api_client_for(AffiliateFactory().user)
    conversion_id = ServerPostback.objects.get().conversion.conversion_id
    for query in ({"click_id": click_id}, {"conversion_id": conversion_id}, {"action_id": "A-1"}):
        response = other.get(URL, query)
        assert response.status_code == 404
        assert response.json() == {"detail": f"No click or conversion of yours has this {next(iter(query))}."}


def test_the_manager_endpoint_is_for_staff_only(affiliate_api, click_id):
    assert affiliate_api.get(MANAGE_URL, {"click_id": click_id}).status_code == 403


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Give one of click_id, conversion_id or action_id."),
        (f"click_id={'a' * 24}&conversion_id={'b' * 24}", "Give only one of"),
        ("click_id=xyz", "click_id is 24 characters, digits 0-9 and letters a-f."),
        (f"click_id={'a' * 24}&click_id={'b' * 24}", "Give click_id once."),
        (f"action_id={'x' * 513}", "action_id is at most 512 characters."),
        ("action_id=a%00b", "action_id cannot contain control characters."),
    ],
)
def test_bad_input_is_a_400_that_says_what_is_wrong(affiliate_api, manager_api, query, message):
    for api, url in ((affiliate_api, URL), (manager_api, MANAGE_URL)):
        response = api.get(f"{url}?{query}")
        assert response.status_code == 400
        assert message in response.json()["non_field_errors"][0]


def test_an_unknown_id_is_a_404(affiliate_api, manager_api):
    assert affiliate_api.get(URL, {"conversion_id": "0" * 24}).status_code == 404
    assert manager_api.get(MANAGE_URL, {"conversion_id": "0" * 24}).status_code == 404


def test_an_action_id_of_two_affiliates_shows_each_conversion_with_its_own_affiliates_postbacks(
    client, manager_api
):
    chains = []
    for affiliate in (AffiliateFactory(), AffiliateFactory()):
        offer = OfferFactory()
        postback = PostbackFactory(affiliate=affiliate)
        query = urlencode({"pid": affiliate.pid, "offer_id": offer.offer_id, "format": "json"})
        click_id = client.get(f"/click?{query}").json()["click_id"]
        client.get(f"/postback?clickid={click_id}&action_id=SHARED-1")
        chains.append((affiliate.pid, postback.pk))

    entries = manager_api.get(MANAGE_URL, {"action_id": "SHARED-1"}).json()["entries"]
    events = [entry for entry in entries if entry["type"] == "conversion_event"]
    shown = [
        (event["conversion"]["pid"], [p["postback"] for p in event["postbacks"] if p["fired"]])
        for event in events
    ]
    assert shown == [(pid, [postback]) for pid, postback in chains]
