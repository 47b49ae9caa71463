"""Postback macros: every macro's value, encoding, unknown names and empty values."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from conversions.models import Conversion
from postbacks import macros
from tests.factories import AffiliateFactory, ClickFactory, ConversionFactory, OfferFactory

pytestmark = pytest.mark.django_db

CONVERTED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
CLICKED = datetime(2026, 3, 1, 22, 0, 1, tzinfo=UTC)


@pytest.fixture
def conversion():
    offer = OfferFactory(
        offer_id=321, title="Summer & Sale", goals=[{"value": "Purchase", "title": "Buy", "payout": "12.5"}]
    )
    affiliate = AffiliateFactory(pid=77)
    click = ClickFactory(
        offer=offer,
        affiliate=affiliate,
        created_at=CLICKED,
        ref_id="ref 1",
        ext1="e1",
        ext2="e2",
        ext3="e3",
        os_id="android",
        ip="198.51.100.4",
        user_agent="Mozilla/5.0 (X11)",
        referrer="https://ref.example/page",
        fbclid="fb-from-click",
        country="US",
        region="California",
        city="Mountain View",
        os_family="iOS",
        os_version="17.2",
        device_type="tablet",
        device_model="iPad",
        browser="Mobile Safari",
        language="en-US",
    )
    made = ConversionFactory(
        offer=offer,
        affiliate=affiliate,
        click=click,
        status=2,
        action_id="tx/42",
        currency="EUR",
        order_sum=Decimal("99.9000"),
        order_currency="USD",
        comment="first order",
        device_type="mobile",
        user_id="u-9",
        promo_code="SPRING",
        extra={"custom_field1": "c1", "custom_field7": "c7", "custom_field9": "not a macro"},
        sub1="my click",
        sub8="s8",
        more_subs={"sub9": "nine", "sub30": "thirty"},
        ip="203.0.113.9",
        referrer="https://advertiser.example/thanks",
        created_at=CONVERTED,
    )
    return Conversion.objects.select_related("offer", "goal", "affiliate", "click").get(pk=made.pk)


def expected_values(conversion):
    return {
        "clickid": conversion.click.click_id,
        "pid": "77",
        "offerid": "321",
        "offer_id": "321",
        "offer_name": "Summer & Sale",
        "conversion_id": conversion.conversion_id,
        "transactionid": "tx/42",
        "goal": "Purchase",
        "status": "1",
        "sum": "12.5",
        "currency": "EUR",
        "order_sum": "99.9",
        "order_currency": "USD",
        "sub1": "my click",
        "sub2": "",
        "sub8": "s8",
        "sub9": "nine",
        "sub10": "",
        "sub30": "thirty",
        "ref_id": "ref 1",
        "ext1": "e1",
        "ext2": "e2",
        "ext3": "e3",
        "os_id": "android",
        "ip": "198.51.100.4",
        "conversion_ip": "203.0.113.9",
        "uagent": "Mozilla/5.0 (X11)",
        "referrer": "https://ref.example/page",
        "conversion_referrer": "https://advertiser.example/thanks",
        "device_type": "mobile",
        "geo": "US",
        "region": "California",
        "city": "Mountain View",
        "os": "iOS",
        "os_version": "17.2",
        "click_device_type": "tablet",
        "device_model": "iPad",
        "browser": "Mobile Safari",
        "language": "en-US",
        "comment": "first order",
        "fbclid": "fb-from-click",
        "promo_code": "SPRING",
        "user_id": "u-9",
        "custom_field1": "c1",
        "custom_field_1": "c1",
        "custom_field2": "",
        "custom_field7": "c7",
        "custom_field_7": "c7",
        "date": "2026-03-04 05:06:07",
        "date_only": "2026-03-04",
        "time": "05:06:07",
        "click_date": "2026-03-01 22:00:01",
        "timestamp": str(int(CONVERTED.timestamp())),
        "integration_method": "default",
    }


def test_every_macro_renders_its_value_percent_encoded(conversion):
    values = macros.values_for(conversion, status=1)
    for name, expected in expected_values(conversion).items():
        rendered = macros.render(f"https://t.example/pb?v={{{name}}}", values)
        assert rendered == "https://t.example/pb?v=" + _quoted(expected), name


def _quoted(value):
    from urllib.parse import quote

    return quote(value, safe="")


def test_every_documented_macro_is_covered_by_this_test(conversion):
    covered = set(expected_values(conversion)) | {"rand"} | {f"sub{n}" for n in range(1, 31)}
    covered |= {f"custom_field{n}" for n in range(1, 8)} | {f"custom_field_{n}" for n in range(1, 8)}
    assert covered >= macros.KNOWN


def test_rand_is_a_new_uuid_for_every_delivery(conversion):
    values = macros.values_for(conversion, status=2)
    first, second = (macros.render("{rand}", values) for _ in range(2))
    assert first != second and uuid.UUID(first) and uuid.UUID(second)


def test_a_conversion_without_click_leaves_click_macros_empty():
    conversion = ConversionFactory(sub3="from postback")
    values = macros.values_for(conversion, status=2)
    rendered = macros.render("c={clickid}&s={sub3}&ua={uagent}&d={click_date}&o={order_sum}", values)
    assert rendered == "c=&s=from%20postback&ua=&d=&o="


def test_unknown_macros_stay_with_their_braces_percent_encoded_as_sent_and_are_reported():
    conversion = ConversionFactory()
    values = macros.values_for(conversion, status=2)
    template = "https://t.example/{path}?a={clickid}&b={click_id}&c={sum}&d={custom_field9}&e={}"
    assert macros.render(template, values).startswith("https://t.example/%7Bpath%7D?a=&b=%7Bclick_id%7D&c=")
    assert macros.unknown(template) == ["path", "click_id", "custom_field9"]


def test_the_template_itself_is_not_re_encoded():
    conversion = ConversionFactory()
    values = macros.values_for(conversion, status=2)
    template = "https://t.example/a%20b?x=1&y=%7Bkept%7D&s={status}"
    assert macros.render(template, values) == "https://t.example/a%20b?x=1&y=%7Bkept%7D&s=2"


def test_post_body_carries_every_macro_by_name():
    conversion = ConversionFactory(sub1="a b")
    body = macros.form_body(macros.values_for(conversion, status=2))
    assert f"conversion_id={conversion.conversion_id}" in body and "sub1=a+b" in body and "status=2" in body
