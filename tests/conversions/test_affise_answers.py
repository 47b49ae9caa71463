"""Advertiser postbacks answered as Affise's integrations expect: refusals as HTTP 200 for the
advertisers who ask, `/postback/` with a slash, click ids in upper case, and Affise's own words."""

from decimal import Decimal
from urllib.parse import urlencode

import pytest

from conversions.intake import INVALID_SUM
from conversions.models import Conversion, ServerPostback
from tests.factories import AffiliateFactory, OfferFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


@pytest.fixture
def offer():
    return OfferFactory(goals=[{"value": "sale", "title": "Sale", "default_status": 2}])


@pytest.fixture
def click_id(client, offer):
    query = f"pid={AffiliateFactory().pid}&offer_id={offer.offer_id}&format=json"
    return client.get(f"/click?{query}").json()["click_id"]


def postback(client, path="/postback", **params):
    return client.get(f"{path}?{urlencode(params)}")


def answer(response):
    return response.status_code, response.json()


def test_by_default_a_refusal_is_answered_with_its_4xx(client, click_id, offer):
    assert answer(postback(client, clickid=click_id, status="9")) == (
        400,
        {"status": 2, "message": "Unknown status"},
    )


def test_an_advertiser_asking_for_200_gets_every_refusal_of_its_offers_as_200_with_the_reason(
    client, click_id, offer
):
    offer.advertiser.refusals_answer_200 = True
    offer.advertiser.save()
    offer.secure_code = "right"
    offer.save()
    assert answer(postback(client, clickid=click_id, secure="wrong")) == (
        200,
        {"status": 2, "message": "Access denied"},
    )
    assert answer(postback(client, clickid=click_id, secure="right", status="9")) == (
        200,
        {"status": 2, "message": "Unknown status"},
    )
    assert answer(postback(client, clickid=click_id, secure="right", sum="x")) == (
        200,
        {"status": 2, "message": INVALID_SUM},
    )
    log = ServerPostback.objects.order_by("pk")
    assert [(row.outcome, row.http_status) for row in log] == [("rejected", 200)] * 3
    assert not Conversion.objects.exists()


def test_a_refused_status_change_is_a_200_too_for_such_an_advertiser(client, click_id, offer):
    offer.advertiser.refusals_answer_200 = True
    offer.advertiser.save()
    assert postback(client, clickid=click_id, action_id="A1", status="1").json()["message"] == "ok"
    assert answer(postback(client, clickid=click_id, action_id="A1", status="2")) == (
        200,
        {"status": 2, "message": "Conversion status is not pending"},
    )
    assert Conversion.objects.get().status == 1


def test_refusals_that_name_no_offer_keep_their_4xx_whatever_the_advertiser_asks(client, click_id, offer):
    offer.advertiser.refusals_answer_200 = True
    offer.advertiser.save()
    assert postback(client, clickid="f" * 24).status_code == 404
    assert postback(client, clickid="xyz").status_code == 400
    assert postback(client).status_code == 400


def test_the_postback_address_with_a_trailing_slash_works_the_same(client, click_id):
    response = postback(client, path="/postback/", clickid=click_id, action_id="slash")
    assert answer(response)[0] == 200 and response.json()["message"] == "ok"
    post = client.post("/postback/", {"clickid": click_id, "action_id": "slash-post"})
    assert post.status_code == 200 and post.json()["message"] == "ok"
    assert Conversion.objects.count() == 2


def test_a_click_id_in_upper_case_names_the_same_click(client, click_id):
    response = postback(client, clickid=click_id.upper())
    assert response.json()["message"] == "ok"
    assert Conversion.objects.get().click.click_id == click_id
    assert postback(client, click_id=click_id.upper()).json()["message"] == "duplicate"


@pytest.mark.parametrize("params", [{"offer_id": "5"}, {"pid": "5"}])
def test_a_probabilistic_postback_missing_offer_id_or_pid_is_told_so_in_affise_words(client, params):
    assert answer(postback(client, **params)) == (
        400,
        {"status": 2, "message": "Missing mandatory parameters offer_id and pid"},
    )


@pytest.mark.parametrize(("first", "then"), [("1", "2"), ("3", "1"), ("5", "2")])
def test_a_refused_status_change_says_the_conversion_is_not_pending(client, click_id, first, then):
    postback(client, clickid=click_id, action_id="B", status=first)
    assert answer(postback(client, clickid=click_id, action_id="B", status=then)) == (
        409,
        {"status": 2, "message": "Conversion status is not pending"},
    )


def test_the_advertiser_option_is_edited_in_the_manager_api(manager_api, offer):
    url = f"/api/v1/manage/advertisers/{offer.advertiser_id}/"
    assert manager_api.get(url).json()["refusals_answer_200"] is False
    assert manager_api.patch(url, {"refusals_answer_200": True}, format="json").status_code == 200
    offer.advertiser.refresh_from_db()
    assert offer.advertiser.refusals_answer_200 is True


def test_a_refusal_naming_the_clicks_offer_wrongly_is_a_200_too_for_such_an_advertiser(
    client, click_id, offer
):
    offer.advertiser.refusals_answer_200 = True
    offer.advertiser.save()
    other = OfferFactory()
    assert answer(postback(client, clickid=click_id, offer_id=other.offer_id)) == (
        200,
        {"status": 2, "message": "Offer does not match the click"},
    )


def test_a_probabilistic_postback_for_an_unknown_pid_is_a_200_too_for_such_an_advertiser(client, offer):
    offer.advertiser.refusals_answer_200 = True
    offer.advertiser.save()
    assert answer(postback(client, offer_id=offer.offer_id, pid="999999")) == (
        200,
        {"status": 2, "message": "Affiliate not found"},
    )


@pytest.fixture
def answering_200(offer):
    offer.advertiser.refusals_answer_200 = True
    offer.advertiser.save()
    return offer


def test_an_action_id_of_another_clicks_conversion_is_refused_with_a_200_for_such_an_advertiser(
    client, answering_200, click_id
):
    query = f"pid={AffiliateFactory().pid}&offer_id={answering_200.offer_id}&format=json"
    other_click = client.get(f"/click?{query}").json()["click_id"]
    assert postback(client, clickid=click_id, action_id="A1").json()["message"] == "ok"

    assert answer(postback(client, clickid=other_click, action_id="A1", status="1")) == (
        200,
        {"status": 2, "message": "Action_id belongs to another click's conversion"},
    )
    assert Conversion.objects.get().status == 2


@pytest.fixture
def percent_offer(answering_200):
    answering_200.goals.update(
        payout_type="fixed_plus_percent", payout=Decimal("1.00"), payout_percent=Decimal("10"), currency="USD"
    )
    return answering_200


def test_a_sum_a_percent_goal_cannot_pay_is_refused_with_a_200_for_such_an_advertiser(
    client, percent_offer, click_id
):
    status, body = answer(postback(client, clickid=click_id))

    assert (status, body["status"]) == (200, 2)
    assert "sum" in body["message"]
    assert not Conversion.objects.exists()


def test_a_status_change_with_a_sum_the_goal_cannot_pay_is_refused_with_a_200_for_such_an_advertiser(
    client, percent_offer, click_id
):
    assert postback(client, clickid=click_id, sum="100").json()["message"] == "ok"

    status, body = answer(postback(client, clickid=click_id, status="1", sum="50", currency="EUR"))

    assert (status, body["status"]) == (200, 2)
    assert "USD" in body["message"]
    assert (Conversion.objects.get().status, Conversion.objects.get().payout) == (2, Decimal("11.0000"))
