"""Send test postback: a sample conversion through the real delivery path to one postback."""

import pytest

from postbacks.models import Delivery
from postbacks.services import postback_send_test
from tests.factories import OfferFactory, PostbackFactory

pytestmark = pytest.mark.django_db


def test_a_test_postback_reaches_the_affiliate_server_and_shows_the_answer(httpserver, affiliate):
    offer = OfferFactory(goals=[{"value": "sale", "title": "Sale", "payout": "2.5"}])
    httpserver.expect_request("/pb").respond_with_data("thanks", status=200)
    postback = PostbackFactory(
        affiliate=affiliate,
        offer=offer,
        url=httpserver.url_for("/pb") + "?c={conversion_id}&s={sum}&g={goal}",
    )

    delivery = postback_send_test(postback)

    request, _ = httpserver.log[0]
    assert request.args["s"] == "2.5" and request.args["g"] == "sale"
    assert request.headers["X-Postback-Id"] == str(delivery.delivery_id)
    assert (delivery.state, delivery.http_code, delivery.response_excerpt) == ("succeeded", 200, "thanks")
    assert delivery.conversion.is_test and request.args["c"] == delivery.conversion.conversion_id
    assert Delivery.objects.count() == 1
