"""Postback macro values the conversion does not have are empty, dates are UTC whatever the site's
time zone, and only the numbered macros of the reference table (sub1-8, ext1-3, custom_field1-7)
are macros: a neighbouring number stays in the URL as an unknown name."""

from datetime import UTC, datetime

import pytest
from django.test import override_settings

from conversions.models import Conversion
from postbacks import macros
from tests.factories import ClickFactory, ConversionFactory

pytestmark = pytest.mark.django_db


def loaded(conversion):
    return Conversion.objects.select_related("offer", "goal", "affiliate", "click").get(pk=conversion.pk)


def test_a_clickless_conversion_without_a_referrer_or_fbclid_has_them_empty():
    values = macros.values_for(loaded(ConversionFactory()), status=2)
    assert (values["referrer"], values["fbclid"], values["ip"]) == ("", "", "")
    assert (values["os_id"], values["conversion_ip"]) == ("", "")
    rendered = macros.render("https://t.example/?r={referrer}&f={fbclid}&i={ip}", values)
    assert rendered == "https://t.example/?r=&f=&i="


def test_a_custom_field_the_advertiser_did_not_send_is_empty():
    conversion = loaded(ConversionFactory(extra={"custom_field4": "sent"}))
    values = macros.values_for(conversion, status=2)
    assert values["custom_field4"] == values["custom_field_4"] == "sent"
    assert {values[f"custom_field{n}"] for n in [1, 2, 3, 5, 6, 7]} == {""}


def test_a_custom_field_stored_as_null_is_empty_not_the_word_none():
    conversion = ConversionFactory()
    Conversion.objects.filter(pk=conversion.pk).update(extra={"custom_field2": None})
    values = macros.values_for(loaded(conversion), status=2)
    assert values["custom_field2"] == values["custom_field_2"] == ""
    assert macros.render("https://t.example/?c={custom_field2}", values) == "https://t.example/?c="


@pytest.mark.parametrize("name", ["custom_field0", "custom_field8", "custom_field_0", "custom_field_8"])
def test_a_custom_field_outside_one_to_seven_is_not_a_macro_and_stays_in_the_url(name):
    conversion = loaded(ConversionFactory(extra={"custom_field1": "one", "custom_field7": "seven"}))
    values = macros.values_for(conversion, status=2)
    assert name not in values
    template = f"https://t.example/?x={{{name}}}&a={{custom_field1}}&z={{custom_field7}}"
    assert macros.render(template, values) == f"https://t.example/?x=%7B{name}%7D&a=one&z=seven"
    assert macros.unknown(template) == [name]


@override_settings(TIME_ZONE="Asia/Tokyo")
def test_conversion_and_click_dates_are_utc_when_the_site_runs_in_another_time_zone():
    click = ClickFactory(created_at=datetime(2026, 5, 31, 20, 15, 0, tzinfo=UTC))
    conversion = ConversionFactory(
        offer=click.offer,
        affiliate=click.affiliate,
        click=click,
        created_at=datetime(2026, 5, 31, 23, 30, 5, tzinfo=UTC),
    )
    values = macros.values_for(loaded(conversion), status=1)
    # Tokyo is nine hours ahead: there, both are already on June 1st.
    assert (values["date"], values["date_only"], values["time"], values["click_date"]) == (
        "2026-05-31 23:30:05",
        "2026-05-31",
        "23:30:05",
        "2026-05-31 20:15:00",
    )
    assert values["timestamp"] == str(int(datetime(2026, 5, 31, 23, 30, 5, tzinfo=UTC).timestamp()))
