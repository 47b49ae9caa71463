"""The pixel addresses advertisers' thank-you pages already call on Affise: the image pixel
`/success.jpg`, the iframe pixel `/success.php` and the JavaScript pixel `/track.js`, each
recording the conversion of the click in the `afclick` cookie as `/pixel` does."""

import pytest

from conversions.models import Conversion, ServerPostback
from tests.factories import AffiliateFactory, OfferFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def offer():
    return OfferFactory(goals=[{"value": "lead", "title": "Lead", "payout": "3"}])


@pytest.fixture
def visitor(client, offer, direct_writes):
    client.get(f"/click?pid={AffiliateFactory().pid}&offer_id={offer.offer_id}&sub1=s1")
    return client


def test_the_image_pixel_at_affises_address_records_the_conversion(visitor, offer):
    response = visitor.get(f"/success.jpg?offer_id={offer.offer_id}&goal=lead&sum=20&afstatus=1")
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    conversion = Conversion.objects.get()
    assert conversion.click.click_id == visitor.cookies["afclick"].value
    assert (conversion.status, conversion.order_sum, conversion.sub1) == (1, 20, "s1")
    assert ServerPostback.objects.get().source == "pixel"


def test_the_iframe_pixel_records_the_conversion_and_answers_an_empty_page(visitor, offer):
    response = visitor.get(f"/success.php?offer_id={offer.offer_id}&goal=lead")
    assert response.status_code == 200 and response["Content-Type"] == "text/html; charset=utf-8"
    assert response.content == b"<!doctype html><title></title>"
    assert response["Cache-Control"] == "no-store" and "X-Frame-Options" not in response
    assert Conversion.objects.get().goal.value == "lead"


def test_the_iframe_pixel_without_a_cookie_still_answers_its_page_and_logs_the_refusal(client, offer):
    response = client.get(f"/success.php?offer_id={offer.offer_id}")
    assert response.status_code == 200 and response.content.startswith(b"<!doctype html>")
    assert ServerPostback.objects.get().outcome == "rejected" and not Conversion.objects.exists()


@pytest.mark.parametrize("path", ["/success.jpg", "/success.php"])
def test_a_head_of_a_pixel_records_nothing_and_other_methods_are_refused(client, offer, path):
    assert client.head(f"{path}?offer_id={offer.offer_id}").status_code == 200
    refused = client.post(f"{path}?offer_id={offer.offer_id}")
    assert refused.status_code == 405 and refused["Allow"] == "GET, HEAD"
    assert not ServerPostback.objects.exists()


def test_the_javascript_pixel_is_a_script_that_loads_the_image_pixel(client):
    response = client.get("/track.js")
    assert response.status_code == 200 and response["Content-Type"] == "text/javascript; charset=utf-8"
    script = response.content.decode()
    assert 'new URL("/success.jpg?"' in script and "afoffer_id" in script
    assert not ServerPostback.objects.exists()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_thank_you_page_with_the_javascript_pixel_records_the_conversion_in_a_browser(
    live_server, page, direct_writes
):
    offer = OfferFactory(goals=[{"value": "sale", "title": "Sale"}])
    affiliate = AffiliateFactory()
    page.goto(f"{live_server.url}/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json")
    thank_you = f"{live_server.url}/thank-you"
    html = (
        "<!doctype html><title>Thanks</title><p>Thank you for your order.</p>"
        f"<script>var afoffer_id = {offer.offer_id}; var afgoal = 'sale'; var afprice = 49.9;"
        " var afid = 'ORDER-77'; var afstatus = 1;</script>"
        f"<script src='{live_server.url}/track.js'></script>"
    )
    # The advertiser's page, on the tracking domain's site so that the Lax cookie goes along.
    page.route(thank_you, lambda route: route.fulfill(body=html, content_type="text/html"))
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    with page.expect_response(lambda response: "/success.jpg" in response.url) as pixel:
        page.goto(thank_you)
    assert pixel.value.status == 200 and errors == []
    conversion = Conversion.objects.get()
    assert (conversion.goal.value, conversion.action_id, conversion.status) == ("sale", "ORDER-77", 1)
    assert str(conversion.order_sum) == "49.9000"
