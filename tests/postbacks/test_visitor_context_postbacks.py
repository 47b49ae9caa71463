"""The visitor context in affiliate postbacks: the click's country, region, city, OS, device,
browser and language reach the affiliate's server; `{device_type}` is the advertiser's, else the
click's."""

from urllib.parse import parse_qs

import pytest
from django.test import Client

from conversions.models import Conversion
from postbacks import macros
from postbacks.models import Postback
from postbacks.services import postback_send_test
from tests.factories import ConversionFactory, OfferFactory, PostbackFactory
from tests.processes import celery, wait_until

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Mobile/15E148 Safari/604.1"
)
TEMPLATE = "?" + "&".join(f"{name}={{{name}}}" for name in [*macros.VISITOR_CONTEXT, "device_type"])
US_IPHONE = {
    "geo": "US",
    "region": "California",
    "city": "Mountain View",
    "os": "iOS",
    "os_version": "17.2",
    "click_device_type": "mobile",
    "device_model": "iPhone",
    "browser": "Mobile Safari",
    "language": "en-US",
}


def received(request) -> dict[str, str]:
    return {
        name: values[0]
        for name, values in parse_qs(request.query_string.decode(), keep_blank_values=True).items()
    }


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_click_from_a_us_iphone_reaches_the_affiliate_postback_with_its_visitor_context(
    httpserver, affiliate, direct_writes
):
    offer = OfferFactory(goals=[{"value": "sale", "title": "Sale", "payout": "3"}])
    PostbackFactory(affiliate=affiliate, offer=offer, url=httpserver.url_for("/get") + TEMPLATE)
    PostbackFactory(
        affiliate=affiliate, offer=offer, url=httpserver.url_for("/post"), method=Postback.Method.POST
    )
    httpserver.expect_request("/get").respond_with_data("ok")
    httpserver.expect_request("/post").respond_with_data("ok")

    with celery("worker", "--pool=solo", "--loglevel=INFO", ready_line="ready."):
        visitor = Client(REMOTE_ADDR="8.8.8.8", HTTP_USER_AGENT=IPHONE, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
        click = visitor.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()
        answer = (
            Client().get(f"/postback?clickid={click['click_id']}&goal=sale&device_type=smartphone").json()
        )
        assert answer["message"] == "ok", answer
        assert wait_until(lambda: len(httpserver.log) == 2)

    by_path = {request.path: request for request, _ in httpserver.log}
    assert received(by_path["/get"]) == {**US_IPHONE, "device_type": "smartphone"}
    posted = {name: values[0] for name, values in parse_qs(by_path["/post"].get_data(as_text=True)).items()}
    assert {name: posted[name] for name in US_IPHONE} == US_IPHONE
    conversion = Conversion.objects.get()
    assert (conversion.country, conversion.os_family, conversion.click_device_type) == ("US", "iOS", "mobile")


@pytest.mark.django_db
def test_a_conversion_without_a_click_has_only_its_own_country():
    conversion = ConversionFactory(country="DE", device_type="desktop")
    values = macros.values_for(Conversion.objects.select_related("click").get(pk=conversion.pk), status=2)
    assert {name: values[name] for name in [*macros.VISITOR_CONTEXT, "device_type"]} == {
        **dict.fromkeys(macros.VISITOR_CONTEXT, ""),
        "geo": "DE",
        "device_type": "desktop",
    }


@pytest.mark.django_db
def test_a_conversion_without_a_click_or_a_device_type_leaves_device_type_empty():
    conversion = ConversionFactory(country="", device_type="")
    values = macros.values_for(Conversion.objects.select_related("click").get(pk=conversion.pk), status=2)
    assert (values["geo"], values["device_type"]) == ("", "")


@pytest.mark.django_db
def test_a_test_postback_carries_a_sample_visitor(httpserver, affiliate):
    offer = OfferFactory(goals=[{"value": "sale", "title": "Sale", "payout": "1"}])
    httpserver.expect_request("/pb").respond_with_data("ok")
    postback = PostbackFactory(affiliate=affiliate, offer=offer, url=httpserver.url_for("/pb") + TEMPLATE)

    postback_send_test(postback)

    assert received(httpserver.log[0][0]) == {**US_IPHONE, "device_type": "mobile"}


def test_the_sample_visitor_fills_every_visitor_context_macro():
    assert set(macros.SAMPLE_VISITOR) == set(macros.VISITOR_CONTEXT) and all(macros.SAMPLE_VISITOR.values())


@pytest.mark.django_db
def test_device_type_is_the_clicks_when_the_advertiser_sends_none(affiliate, direct_writes):
    offer = OfferFactory(goals=[{"value": "sale", "title": "Sale", "payout": "3"}])
    visitor = Client(REMOTE_ADDR="8.8.8.8", HTTP_USER_AGENT=IPHONE)
    click = visitor.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()
    assert Client().get(f"/postback?clickid={click['click_id']}&goal=sale").json()["message"] == "ok"

    conversion = Conversion.objects.select_related("click").get()
    values = macros.values_for(conversion, status=conversion.status)

    assert (values["device_type"], values["click_device_type"]) == ("mobile", "mobile")
