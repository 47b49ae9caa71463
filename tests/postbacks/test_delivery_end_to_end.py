"""Affiliate postbacks end to end: a real Celery worker (and beat where retries need the sweep)
sends deliveries to a real local HTTP server standing in for the affiliate's tracker."""

import hashlib
import hmac
import time

import pytest
from django.test import Client
from werkzeug import Response

from conversions.lifecycle import conversion_set_status
from conversions.models import Conversion, ConversionEvent
from postbacks.models import Delivery
from tests.factories import OfferFactory, PostbackFactory
from tests.processes import celery, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FAST_RETRIES = {"POSTBACK_RETRY_SCHEDULE": "1,1,1", "POSTBACK_SWEEP_SECONDS": "0.5"}


def worker(**env):
    return celery("worker", "--pool=solo", "--loglevel=INFO", ready_line="ready.", env=env)


def beat(tmp_path, **env):
    return celery(
        "beat", "--loglevel=INFO", f"--schedule={tmp_path / 'beat'}", ready_line="beat: Starting", env=env
    )


def click_and_convert(affiliate, offer, query):
    visitor = Client()
    click = visitor.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=aff-77&format=json")
    answer = visitor.get(f"/postback?clickid={click.json()['click_id']}&{query}").json()
    assert answer["message"] == "ok", answer
    return Conversion.objects.get(conversion_id=answer["conversion_id"])


@pytest.fixture
def offer():
    return OfferFactory(goals=[{"value": "sale", "title": "Sale", "payout": "4.5"}])


def test_a_click_and_a_postback_reach_the_affiliate_as_the_url_says(
    httpserver, affiliate, offer, direct_writes
):
    template = "?click={sub1}&status={status}&goal={goal}&sum={sum}&cid={conversion_id}&tx={transactionid}"
    PostbackFactory(affiliate=affiliate, offer=offer, url=httpserver.url_for("/pb") + template)
    httpserver.expect_request("/pb").respond_with_data("ok")

    with worker():
        conversion = click_and_convert(affiliate, offer, "goal=sale&status=2&action_id=A1")
        assert wait_until(lambda: len(httpserver.log) == 1)
        conversion_set_status(conversion=conversion, status=1, source=ConversionEvent.Source.MANAGER)
        assert wait_until(lambda: len(httpserver.log) == 2)

    first, second = (request for request, _ in httpserver.log)
    expected = f"click=aff-77&status=2&goal=sale&sum=4.5&cid={conversion.conversion_id}&tx=A1"
    assert first.query_string.decode() == expected
    assert second.query_string.decode() == expected.replace("status=2", "status=1")
    deliveries = list(Delivery.objects.order_by("pk"))
    assert [d.state for d in deliveries] == ["succeeded", "succeeded"]
    assert [request.headers["X-Postback-Id"] for request, _ in httpserver.log] == [
        str(d.delivery_id) for d in deliveries
    ]
    assert all(d.attempt_log.get().http_code == 200 for d in deliveries)


def test_status_filter_and_goal_decide_which_postbacks_fire(httpserver, affiliate, direct_writes):
    offer = OfferFactory(
        goals=[
            {"value": "lead", "title": "Lead", "payout": "1"},
            {"value": "sale", "title": "Sale", "payout": "9"},
        ]
    )
    lead, sale = offer.goals.order_by("pk")
    for name, options in {
        "created": {"status": "created"},
        "approved": {"status": "approved"},
        "sale-only": {"goal": sale},
        "probabilistic": {"integration_method": "probabilistic"},
    }.items():
        PostbackFactory(
            affiliate=affiliate, offer=offer, url=httpserver.url_for(f"/{name}") + "?s={status}", **options
        )
    httpserver.expect_request("/created").respond_with_data("ok")
    httpserver.expect_request("/approved").respond_with_data("ok")

    with worker():
        conversion = click_and_convert(affiliate, offer, "goal=lead&status=2")
        conversion_set_status(conversion=conversion, status=1, source=ConversionEvent.Source.MANAGER)
        assert wait_until(lambda: len(httpserver.log) == 2)
        time.sleep(1)  # nothing else arrives

    assert sorted(request.full_path for request, _ in httpserver.log) == ["/approved?s=1", "/created?s=2"]


def test_a_failed_delivery_is_retried_until_it_succeeds(
    tmp_path, httpserver, affiliate, offer, direct_writes
):
    PostbackFactory(affiliate=affiliate, url=httpserver.url_for("/pb"))
    httpserver.expect_ordered_request("/pb").respond_with_data("down", status=500)
    httpserver.expect_ordered_request("/pb").respond_with_data("ok", status=200)

    with worker(**FAST_RETRIES), beat(tmp_path, **FAST_RETRIES):
        click_and_convert(affiliate, offer, "goal=sale")
        assert wait_until(lambda: Delivery.objects.filter(state="succeeded").exists(), timeout=40)

    delivery = Delivery.objects.get()
    assert delivery.attempts == 2
    assert list(delivery.attempt_log.values_list("http_code", flat=True)) == [500, 200]
    assert "HTTP 500" in delivery.attempt_log.first().error
    ids = {request.headers["X-Postback-Id"] for request, _ in httpserver.log}
    assert ids == {str(delivery.delivery_id)}


def test_a_redirect_is_a_failure_and_is_not_followed(httpserver, affiliate, offer, direct_writes):
    PostbackFactory(affiliate=affiliate, url=httpserver.url_for("/pb"))
    httpserver.expect_request("/pb").respond_with_response(
        Response(status=301, headers={"Location": httpserver.url_for("/elsewhere")})
    )

    with worker():
        click_and_convert(affiliate, offer, "goal=sale")
        assert wait_until(lambda: Delivery.objects.filter(attempts=1).exists())

    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.http_code) == ("retrying", 301)
    assert "Redirect" in delivery.error and "/elsewhere" in delivery.error
    assert [request.path for request, _ in httpserver.log] == ["/pb"]


def test_an_endpoint_that_does_not_answer_in_time_is_a_timeout(httpserver, affiliate, offer, direct_writes):
    PostbackFactory(affiliate=affiliate, url=httpserver.url_for("/slow"))
    httpserver.expect_request("/slow").respond_with_handler(lambda request: time.sleep(3) or Response("late"))

    with worker(POSTBACK_TOTAL_TIMEOUT="1"):
        click_and_convert(affiliate, offer, "goal=sale")
        assert wait_until(lambda: Delivery.objects.filter(attempts=1).exists(), timeout=20)

    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.http_code) == ("retrying", 0)
    assert "Timed out" in delivery.error
    assert 900 <= delivery.attempt_log.get().duration_ms < 3000


def test_signed_requests_verify_with_the_affiliate_secret(httpserver, affiliate, offer, direct_writes):
    affiliate.signing_secret = "s3cret"
    affiliate.save()
    PostbackFactory(
        affiliate=affiliate, url=httpserver.url_for("/signed") + "?c={conversion_id}", method="POST"
    )
    httpserver.expect_request("/signed", method="POST").respond_with_data("ok")

    with worker():
        conversion = click_and_convert(affiliate, offer, "goal=sale")
        assert wait_until(lambda: Delivery.objects.filter(state="succeeded").exists())

    [request] = [request for request, _ in httpserver.log if request.path == "/signed"]
    timestamp, digest = (part.split("=", 1)[1] for part in request.headers["X-Postback-Signature"].split(","))
    body = request.get_data(as_text=True)
    message = f"{timestamp}.{request.environ['RAW_URI']}.{body}"  # the target of the request line
    assert hmac.compare_digest(digest, hmac.new(b"s3cret", message.encode(), hashlib.sha256).hexdigest())
    assert abs(int(timestamp) - time.time()) < 30
    assert request.form["conversion_id"] == conversion.conversion_id and request.form["sub1"] == "aff-77"
