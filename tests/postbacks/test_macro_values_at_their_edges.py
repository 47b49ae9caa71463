"""Postback macro values at their edges: the conversion's own values before the click's, amounts
without trailing zeros but whole numbers intact, clickless conversions, and the POST body."""

from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest

from conversions.models import Conversion
from postbacks import macros
from tests.factories import ClickFactory, ConversionFactory
from tracking.macros import substitute, unknown_macros

pytestmark = pytest.mark.django_db


def loaded(conversion):
    return Conversion.objects.select_related("offer", "goal", "affiliate", "click").get(pk=conversion.pk)


@pytest.fixture
def click():
    return ClickFactory(ip="198.51.100.4", referrer="https://from.click/", fbclid="click-fb", user_agent="UA")


def test_ip_and_referrer_are_the_clicks_and_the_advertisers_have_their_own_names(click):
    conversion = ConversionFactory(
        offer=click.offer,
        affiliate=click.affiliate,
        click=click,
        ip="203.0.113.7",
        referrer="https://from.postback/",
        fbclid="postback-fb",
    )
    values = macros.values_for(loaded(conversion), status=2)
    assert (values["ip"], values["referrer"]) == ("198.51.100.4", "https://from.click/")
    assert (values["conversion_ip"], values["conversion_referrer"]) == (
        "203.0.113.7",
        "https://from.postback/",
    )
    assert values["fbclid"] == "postback-fb"


def test_a_conversion_without_a_click_has_the_advertisers_ip_and_referrer(click):
    conversion = ConversionFactory(ip="203.0.113.8", referrer="https://from.postback/")
    values = macros.values_for(loaded(conversion), status=2)
    assert (values["ip"], values["referrer"], values["uagent"]) == (
        "203.0.113.8",
        "https://from.postback/",
        "",
    )


def test_without_their_own_the_conversion_takes_the_clicks_ip_referrer_and_fbclid(click):
    conversion = ConversionFactory(offer=click.offer, affiliate=click.affiliate, click=click)
    values = macros.values_for(loaded(conversion), status=2)
    assert (values["ip"], values["referrer"], values["fbclid"], values["uagent"]) == (
        "198.51.100.4",
        "https://from.click/",
        "click-fb",
        "UA",
    )


def test_a_clickless_conversion_keeps_its_own_values_and_leaves_every_click_macro_empty():
    conversion = loaded(ConversionFactory(ip="203.0.113.7", referrer="https://r/", fbclid="fb"))
    values = macros.values_for(conversion, status=3)
    click_macros = ["clickid", "ref_id", "ext1", "ext2", "ext3", "uagent", "os", "click_date"]
    assert {name: values[name] for name in click_macros} == dict.fromkeys(click_macros, "")
    assert (values["ip"], values["referrer"], values["fbclid"], values["status"]) == (
        "203.0.113.7",
        "https://r/",
        "fb",
        "3",
    )


def test_a_clickless_conversion_without_an_ip_has_an_empty_ip():
    assert macros.values_for(loaded(ConversionFactory()), status=2)["ip"] == ""


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("12.5000"), "12.5"),
        (Decimal("3.0000"), "3"),
        (Decimal("100.0000"), "100"),
        (Decimal("100"), "100"),
        (Decimal("0.0001"), "0.0001"),
        (Decimal("0"), "0"),
        (Decimal("1E+2"), "100"),
    ],
)
def test_amounts_lose_trailing_zeros_but_whole_numbers_keep_theirs(amount, shown):
    conversion = loaded(ConversionFactory())
    conversion.payout = conversion.order_sum = amount
    values = macros.values_for(conversion, status=1)
    assert (values["sum"], values["order_sum"]) == (shown, shown)


def test_dates_are_utc_whatever_the_stored_time_zone(click):
    conversion = loaded(ConversionFactory(offer=click.offer, affiliate=click.affiliate, click=click))
    conversion.created_at = datetime(2026, 1, 1, 0, 30, 5, tzinfo=UTC)
    values = macros.values_for(conversion, status=1)
    assert (values["date"], values["date_only"], values["time"], values["timestamp"]) == (
        "2026-01-01 00:30:05",
        "2026-01-01",
        "00:30:05",
        "1767227405",
    )


def test_the_post_body_names_every_macro_but_rand_with_its_value():
    conversion = loaded(ConversionFactory(sub1="a b", extra={"custom_field3": "x&y"}))
    values = macros.values_for(conversion, status=2)
    body = dict(parse_qsl(macros.form_body(values), keep_blank_values=True))
    assert list(body) == [name for name in macros.MACROS if name != "rand"]
    assert body["sub1"] == "a b" and body["custom_field3"] == "x&y" and body["status"] == "2"
    assert body == {name: values[name] for name in body}


def test_a_value_missing_from_the_values_is_an_empty_field_of_the_post_body():
    assert dict(parse_qsl(macros.form_body({"status": "1"}), keep_blank_values=True))["pid"] == ""


def test_substitution_encodes_every_reserved_character_and_repeats_names():
    rendered = substitute("{a}/{a}?b={b}&c={missing}", {"a": "x/y?z=1&w#", "b": 7})
    assert rendered == "x%2Fy%3Fz%3D1%26w%23/x%2Fy%3Fz%3D1%26w%23?b=7&c={missing}"


def test_unknown_names_are_listed_once_each_in_order_of_appearance():
    assert unknown_macros("{b}{a}{b}{known}{a}", {"known"}) == ["b", "a"]
    assert macros.unknown("{offer_id}{custom_field_3}{clickid}{nope}") == ["nope"]


def test_order_currency_is_the_goals_when_the_advertiser_sent_none(click):
    conversion = ConversionFactory(
        offer=click.offer, affiliate=click.affiliate, click=click, order_currency=""
    )
    assert macros.values_for(loaded(conversion), status=2)["order_currency"] == conversion.goal.currency
    sent = ConversionFactory(offer=click.offer, affiliate=click.affiliate, order_currency="EUR")
    assert macros.values_for(loaded(sent), status=2)["order_currency"] == "EUR"
