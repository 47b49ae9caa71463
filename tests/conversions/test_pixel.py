"""GET /pixel: the conversion of the click in the afclick cookie; a GIF whatever happens."""

import pytest

from conversions.models import Conversion, ServerPostback
from tests.factories import AffiliateFactory, OfferFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


@pytest.fixture
def offer():
    return OfferFactory(goals=[{"value": "lead", "title": "Lead", "payout": "3"}])


@pytest.fixture
def visitor(client, offer):
    """A browser that went through a tracking link: it carries the afclick cookie."""
    affiliate = AffiliateFactory()
    client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=s1")
    return client


def assert_gif(response):
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a") and response["Cache-Control"] == "no-store"


def test_the_pixel_records_the_conversion_of_the_cookies_click(visitor, offer):
    response = visitor.get(f"/pixel?offer_id={offer.offer_id}&goal=lead&sum=20&afstatus=1")
    assert_gif(response)
    conversion = Conversion.objects.get()
    assert conversion.click.click_id == visitor.cookies["afclick"].value
    assert (conversion.status, conversion.order_sum, conversion.sub1) == (1, 20, "s1")
    assert ServerPostback.objects.get().source == "pixel"


def test_a_repeated_pixel_is_a_duplicate(visitor, offer):
    visitor.get(f"/pixel?offer_id={offer.offer_id}")
    visitor.get(f"/pixel?offer_id={offer.offer_id}")
    assert Conversion.objects.count() == 1
    assert list(ServerPostback.objects.order_by("pk").values_list("outcome", flat=True)) == [
        "created",
        "duplicate",
    ]


@pytest.mark.parametrize("cookie", [None, "", "not-a-click-id", "0" * 24])
def test_without_a_valid_cookie_the_pixel_still_answers_a_gif_and_logs_the_refusal(client, offer, cookie):
    if cookie is not None:
        client.cookies["afclick"] = cookie
    assert_gif(client.get(f"/pixel?offer_id={offer.offer_id}"))
    assert not Conversion.objects.exists()
    assert ServerPostback.objects.get().outcome == "rejected"


def test_a_pixel_for_another_offer_than_the_click_is_refused(visitor):
    other = OfferFactory()
    assert_gif(visitor.get(f"/pixel?offer_id={other.offer_id}"))
    assert not Conversion.objects.exists()
    assert ServerPostback.objects.get().message == "Offer does not match the click"


def test_bad_pixel_input_never_breaks_the_image(visitor, offer):
    assert_gif(visitor.get(f"/pixel?offer_id={offer.offer_id}&afstatus=4&sum=abc&goal={'x' * 600}"))
    assert not Conversion.objects.exists()


def test_a_pixel_without_the_cookie_is_logged_as_missing_its_click_id(client, offer):
    client.get(f"/pixel?offer_id={offer.offer_id}")
    assert ServerPostback.objects.get().message == "Missing mandatory parameter clickid"
