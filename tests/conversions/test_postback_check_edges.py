"""The checks of an advertiser postback (README, "Conversions") at their edges: the longest value
each parameter may have, the last moment of a click's lifetime, the largest sum, and what each
accepted parameter becomes on the conversion."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from conversions.models import Conversion, ServerPostback
from tests.factories import OfferFactory
from tracking.models import Click, new_click_id

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


@pytest.fixture
def offer():
    return OfferFactory(
        click_lifetime_days=7,
        goals=[
            {"value": "lead", "title": "Lead", "payout": "1", "revenue": "2", "default_status": 2},
            {"value": "Sale", "title": "Sale", "payout": "10", "revenue": "15", "default_status": 1},
        ],
    )


@pytest.fixture
def click_id(client, offer, affiliate):
    link = f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=from-click&sub8=eight&format=json"
    return client.get(link).json()["click_id"]


def postback(client, **params):
    return client.get("/postback?" + urlencode(params))


def refusal(response) -> tuple[int, str]:
    return response.status_code, response.json()["message"]


def created(response) -> Conversion:
    assert response.status_code == 200 and response.json()["message"] == "ok", response.json()
    return Conversion.objects.get(conversion_id=response.json()["conversion_id"])


# --- Lengths ------------------------------------------------------------------------------


def test_a_parameter_of_exactly_512_characters_is_accepted(client, click_id):
    conversion = created(postback(client, clickid=click_id, comment="c" * 512, user_id="u" * 512))
    assert conversion.comment == "c" * 512 and conversion.user_id == "u" * 512


def test_a_parameter_of_513_characters_is_refused_by_name(client, click_id):
    response = postback(client, clickid=click_id, promo_code="p" * 513)
    assert refusal(response) == (400, "Parameter promo_code is longer than 512 characters")
    assert not Conversion.objects.exists()


def test_a_referrer_may_be_2048_characters_long_but_not_2049(client, click_id):
    long_referrer = "https://shop.example/" + "r" * (2048 - 21)
    conversion = created(postback(client, clickid=click_id, referrer=long_referrer))
    assert conversion.referrer == long_referrer and len(long_referrer) == 2048

    response = postback(client, clickid=click_id, referrer=long_referrer + "r", action_id="again")
    assert refusal(response) == (400, "Parameter referrer is longer than 2048 characters")


def test_only_the_referrer_has_the_longer_limit(client, click_id):
    response = postback(client, clickid=click_id, comment="c" * 600)
    assert refusal(response) == (400, "Parameter comment is longer than 512 characters")


def test_an_unknown_parameter_is_held_to_the_same_limit_and_named_in_at_most_32_characters(client, click_id):
    name = "n" * 40
    response = postback(client, clickid=click_id, **{name: "v" * 513})
    assert refusal(response) == (400, f"Parameter {'n' * 32} is longer than 512 characters")


def test_a_control_character_in_a_long_name_is_named_in_32_characters_too(client, click_id):
    response = postback(client, clickid=click_id, **{"x" * 40: "tab\there"})
    assert refusal(response) == (400, f"Parameter {'x' * 32} contains control characters")


def test_the_length_check_comes_before_every_other_check(client):
    response = postback(client, clickid="not-a-click", comment="c" * 513)
    assert refusal(response) == (400, "Parameter comment is longer than 512 characters")


@pytest.mark.parametrize("name", ["clickid", "click_id", "afclick"])
def test_the_click_id_may_come_under_each_of_its_names(client, click_id, name):
    assert created(postback(client, **{name: click_id})).click.click_id == click_id


def test_an_empty_click_id_under_one_name_lets_the_next_name_count(client, click_id):
    conversion = created(postback(client, clickid="", click_id="", afclick=click_id))
    assert conversion.click.click_id == click_id


@pytest.mark.parametrize("value", ["0123456789abcdef0123456", "0" * 25, "0123456789abcdef0123456g"])
def test_a_click_id_that_is_not_24_hex_characters_is_refused_as_malformed(client, value):
    assert refusal(postback(client, clickid=value)) == (400, "Click_id: invalid format")


# --- The click's lifetime -----------------------------------------------------------------


def age(click_id, **delta):
    """The click made that long ago instead: its id, which names its time, with it."""
    made = timezone.now() - timedelta(**delta)
    aged = new_click_id(at=made.timestamp())
    Click.objects.filter(click_id=click_id).update(click_id=aged, created_at=made)
    return aged


def test_a_click_is_converted_until_the_end_of_the_offers_click_lifetime(client, click_id):
    click_id = age(click_id, days=7, minutes=-1)
    assert created(postback(client, clickid=click_id)).click.click_id == click_id


def test_a_click_older_than_the_offers_click_lifetime_is_expired(client, click_id):
    click_id = age(click_id, days=7, minutes=1)
    response = postback(client, clickid=click_id)
    assert response.json()["message"] == "declined: Click session expired"
    conversion = Conversion.objects.get(conversion_id=response.json()["conversion_id"])
    assert (conversion.status, conversion.decline_reason) == (3, "Click session expired")
    assert ServerPostback.objects.get().http_status == 200


def test_an_offer_id_naming_the_clicks_own_offer_is_accepted(client, click_id, offer):
    conversion = created(postback(client, clickid=click_id, offer_id=str(offer.offer_id)))
    assert conversion.offer == offer


def test_an_offer_id_naming_another_offer_is_refused(client, click_id, offer):
    other = OfferFactory()
    response = postback(client, clickid=click_id, offer_id=str(other.offer_id))
    assert refusal(response) == (400, "Offer does not match the click")


# --- Secure codes -------------------------------------------------------------------------


def test_the_offers_secure_code_wins_over_the_advertisers(client, click_id, offer):
    offer.secure_code = "offer-code"
    offer.save()
    offer.advertiser.secure_code = "advertiser-code"
    offer.advertiser.save()
    assert refusal(postback(client, clickid=click_id, secure="advertiser-code")) == (403, "Access denied")
    assert created(postback(client, clickid=click_id, secure="offer-code")).offer == offer


def test_the_advertisers_secure_code_is_asked_when_the_offer_has_none(client, click_id, offer):
    offer.advertiser.secure_code = "advertiser-code"
    offer.advertiser.save()
    assert refusal(postback(client, clickid=click_id, secure="")) == (403, "Access denied")
    assert created(postback(client, clickid=click_id, secure="advertiser-code")).offer == offer


def test_without_any_secure_code_a_secure_parameter_is_ignored(client, click_id):
    assert created(postback(client, clickid=click_id, secure="anything")).click.click_id == click_id


# --- Goal, status, sum and currency -------------------------------------------------------


def test_without_a_goal_the_offers_first_goal_counts(client, click_id):
    conversion = created(postback(client, clickid=click_id))
    assert (conversion.goal.value, conversion.payout, conversion.revenue) == ("lead", 1, 2)
    assert conversion.status == 2  # the goal's default status


def test_a_goal_is_found_whatever_its_case(client, click_id):
    conversion = created(postback(client, clickid=click_id, goal="sALE"))
    assert (conversion.goal.value, conversion.payout, conversion.status) == ("Sale", 10, 1)


@pytest.mark.parametrize(("code", "status"), [("1", 1), ("2", 2), ("3", 3), ("5", 5)])
def test_each_status_code_is_stored_as_sent(client, click_id, code, status):
    assert created(postback(client, clickid=click_id, goal="Sale", status=code)).status == status


@pytest.mark.parametrize("value", ["0", "4", "6", "01", " 1", "hold"])
def test_any_other_status_is_unknown(client, click_id, value):
    assert refusal(postback(client, clickid=click_id, status=value)) == (400, "Unknown status")


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("99999999999999.9999", "99999999999999.9999"),
        ("99999999999999.99994", "99999999999999.9999"),
        ("1.23456", "1.2346"),
        ("0.00004", "0"),
    ],
)
def test_a_sum_is_kept_to_four_decimals_up_to_the_largest_amount(client, click_id, value, stored):
    assert created(postback(client, clickid=click_id, sum=value)).order_sum == Decimal(stored)


@pytest.mark.parametrize(
    "value", ["100000000000000", "99999999999999.99995", "1" + "0" * 30, "1" + "0" * 40 + ".5"]
)
def test_a_sum_of_1e14_or_more_after_rounding_is_refused(client, click_id, value):
    status, message = refusal(postback(client, clickid=click_id, sum=value))
    assert (status, message) == (
        400,
        "Invalid sum: send a number such as 12.50 (digits 0-9, a dot before decimals)",
    )
    assert not Conversion.objects.exists()


def test_what_a_postback_does_not_send_is_stored_empty(client, click_id):
    conversion = created(postback(client, clickid=click_id))
    assert (conversion.order_sum, conversion.order_currency, conversion.ip) == (None, "", None)
    kept = ["comment", "fbclid", "device_type", "user_id", "promo_code", "referrer", "action_id"]
    assert {name: getattr(conversion, name) for name in kept} == dict.fromkeys(kept, "")
    assert conversion.extra == {}


@pytest.mark.parametrize(("value", "stored"), [("usd", "USD"), ("Eur", "EUR"), ("GBP", "GBP")])
def test_a_currency_is_three_letters_stored_in_capitals(client, click_id, value, stored):
    assert created(postback(client, clickid=click_id, currency=value)).order_currency == stored


@pytest.mark.parametrize("value", ["US", "USDX", "U5D", "US "])
def test_a_currency_of_anything_but_three_letters_is_refused(client, click_id, value):
    status, message = refusal(postback(client, clickid=click_id, currency=value))
    assert (status, message) == (400, "Invalid currency: send a three-letter code such as USD")


def test_the_checks_after_the_goal_come_in_the_readmes_order(client, click_id):
    bad = {"status": "4", "sum": "x", "currency": "x"}
    assert refusal(postback(client, clickid=click_id, **bad))[1] == "Unknown status"
    assert refusal(postback(client, clickid=click_id, **{**bad, "status": "1"}))[1].startswith("Invalid sum")
    response = postback(client, clickid=click_id, **{**bad, "status": "1", "sum": "1"})
    assert refusal(response)[1].startswith("Invalid currency")


# --- What is stored -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("203.0.113.5", "203.0.113.5"),
        (" 203.0.113.6 ", "203.0.113.6"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("not-an-ip", None),
        ("", None),
    ],
)
def test_the_ip_parameter_is_stored_normalised_or_not_at_all(client, click_id, sent, stored):
    assert created(postback(client, clickid=click_id, ip=sent)).ip == stored


def test_every_kept_parameter_is_stored_and_the_subs_come_from_the_click(client, click_id):
    params = {
        "comment": "note",
        "fbclid": "fb-1",
        "device_type": "tablet",
        "user_id": "user-9",
        "promo_code": "SPRING",
        "referrer": "https://ref.example/",
        "action_id": "ORD-7",
        "sub1": "ignored",
        "custom_field1": "one",
        "custom_field15": "fifteen",
        "custom_field2": "",
        "timestamp": "1700000000",
        "action_timestamp": "1700000001",
        "country": "FR",
        "platform": "ios",
        "unlisted": "dropped",
    }
    conversion = created(postback(client, clickid=click_id, **params))
    assert (conversion.comment, conversion.fbclid, conversion.device_type) == ("note", "fb-1", "tablet")
    assert (conversion.user_id, conversion.promo_code, conversion.action_id) == ("user-9", "SPRING", "ORD-7")
    assert conversion.referrer == "https://ref.example/"
    assert conversion.extra == {
        "custom_field1": "one",
        "custom_field15": "fifteen",
        "timestamp": "1700000000",
        "action_timestamp": "1700000001",
        "country": "FR",
        "platform": "ios",
    }
    assert (conversion.sub1, conversion.sub2, conversion.sub8) == ("from-click", "", "eight")
    assert not conversion.is_test and conversion.integration_method == "default"
    assert conversion.hold_until is None


def test_a_conversion_of_a_test_click_is_a_test_conversion(client, click_id):
    Click.objects.filter(click_id=click_id).update(is_test=True)
    assert created(postback(client, clickid=click_id)).is_test


def test_a_conversion_created_on_hold_of_an_offer_without_a_hold_period_ends_its_hold_at_once(
    client, click_id, offer
):
    before = timezone.now()
    conversion = created(postback(client, clickid=click_id, status="5"))
    assert before <= conversion.hold_until <= timezone.now()


def test_a_conversion_created_pending_on_an_offer_with_a_hold_period_has_no_hold_end(client, click_id, offer):
    offer.hold_period_days = 4
    offer.save()
    assert created(postback(client, clickid=click_id, status="2")).hold_until is None
