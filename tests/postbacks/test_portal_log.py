"""Statistics > Affiliate postbacks: the affiliate's postback log, its filters, what happened to each
postback in words, and the Retry button."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import escape

from conversions.models import ConversionEvent
from offers.choices import ConversionStatus
from postbacks import queue, sender
from postbacks.models import Delivery
from postbacks.services import delivery_retry
from tests.factories import ConversionFactory, DeliveryFactory, OfferFactory, PostbackFactory

pytestmark = pytest.mark.django_db

URL = "/statistics/postbacks/"


def _listed(response):
    assert response.status_code == 200
    return [delivery.pk for delivery in response.context["deliveries"]]


def _messages(response):
    return [str(message) for message in response.context["messages"]]


def _retry_url(delivery):
    return f"{URL}{delivery.delivery_id}/retry/"


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_statistics_menu_links_to_the_log_next_to_conversions(portal):
    dashboard = portal.get("/").content.decode()
    conversions = dashboard.index('href="/statistics/conversions/"')
    assert dashboard.index(f'href="{URL}"') > conversions and "Affiliate postbacks" in dashboard
    page = portal.get(URL).content.decode()
    assert f'<a href="{URL}" aria-current="page">Affiliate postbacks</a>' in page
    assert '<summary class="current">Statistics</summary>' in page


def test_the_log_shows_each_delivery_with_its_columns(portal, affiliate):
    offer = OfferFactory(
        title="Fitness app", goals=[{"value": "install", "title": "Install", "payout": "1.5"}]
    )
    conversion = ConversionFactory(
        affiliate=affiliate, offer=offer, status=ConversionStatus.APPROVED, integration_method="probabilistic"
    )
    delivery = DeliveryFactory(
        affiliate=affiliate,
        conversion=conversion,
        event__new_status=ConversionStatus.APPROVED,
        url="http://127.0.0.1:9/pb?c=abc&sum=1.5",
        state=Delivery.State.RETRYING,
        http_code=502,
        error="HTTP 502: a postback needs a 2xx answer",
        attempts=3,
    )

    page = portal.get(URL).content.decode()

    for text in [
        "http://127.0.0.1:9/pb?c=abc&amp;sum=1.5",
        conversion.conversion_id,
        f"#{offer.offer_id} Fitness app",
        "<code>install</code>",
        '<td data-label="Status">Approved',
        "1.50 USD",
        '<td data-label="HTTP code">502</td>',
        "HTTP 502: a postback needs a 2xx answer",
        delivery.created_at.strftime("%Y-%m-%d %H:%M"),
        "Probabilistic attribution",
        "Retrying",
        "3 attempts",
        f'action="{_retry_url(delivery)}"',
    ]:
        assert text in page, text
    assert '<span class="badge">test</span>' not in page


def test_the_status_is_the_events_new_status(portal, affiliate):
    conversion = ConversionFactory(affiliate=affiliate, status=ConversionStatus.DECLINED)
    DeliveryFactory(
        affiliate=affiliate,
        conversion=conversion,
        event__kind=ConversionEvent.Kind.CREATED,
        event__new_status=ConversionStatus.PENDING,
    )
    page = portal.get(URL).content.decode()
    assert '<td data-label="Status">Pending' in page and '<td data-label="Status">Declined' not in page


def test_deliveries_are_newest_first_and_paginated(portal, affiliate):
    now = timezone.now()
    deliveries = [
        DeliveryFactory(affiliate=affiliate, created_at=now - timedelta(minutes=n)) for n in range(52)
    ]

    first = portal.get(URL)
    assert _listed(first) == [delivery.pk for delivery in deliveries[:50]]
    assert "Page 1 of 2" in first.content.decode()
    assert _listed(portal.get(URL, {"page": 2})) == [delivery.pk for delivery in deliveries[50:]]


def test_another_affiliates_deliveries_are_never_shown(portal, affiliate, other_affiliate):
    own = DeliveryFactory(affiliate=affiliate)
    theirs = DeliveryFactory(affiliate=other_affiliate, url="http://127.0.0.1:9/their-secret-endpoint")
    response = portal.get(URL)
    assert _listed(response) == [own.pk]
    page = response.content.decode()
    assert "their-secret-endpoint" not in page and theirs.conversion.conversion_id not in page


def test_test_deliveries_carry_a_test_badge(portal, affiliate):
    DeliveryFactory(affiliate=affiliate, conversion__is_test=True)
    page = portal.get(URL).content.decode()
    assert '<span class="badge">test</span>' in page


def test_a_first_visit_shows_the_last_30_days(portal, affiliate):
    recent = DeliveryFactory(affiliate=affiliate, created_at=timezone.now() - timedelta(days=29))
    DeliveryFactory(affiliate=affiliate, created_at=timezone.now() - timedelta(days=31))
    response = portal.get(URL)
    assert _listed(response) == [recent.pk]
    assert response.context["form"]["date_from"].value()


def test_the_log_filters_by_date_range_state_offer_conversion_and_http_code(portal, affiliate):
    offer = OfferFactory()
    in_june = datetime(2026, 6, 10, 12, tzinfo=UTC)
    on_offer = DeliveryFactory(
        affiliate=affiliate, conversion__offer=offer, state="succeeded", http_code=200, created_at=in_june
    )
    failed = DeliveryFactory(affiliate=affiliate, state="failed", http_code=0, created_at=in_june)
    server_error = DeliveryFactory(
        affiliate=affiliate, state="retrying", http_code=500, created_at=in_june + timedelta(days=1)
    )
    old = DeliveryFactory(
        affiliate=affiliate, state="failed", http_code=0, created_at=in_june - timedelta(days=40)
    )
    june = {"date_from": "2026-06-01", "date_to": "2026-06-30"}

    assert _listed(portal.get(URL, june)) == [server_error.pk, failed.pk, on_offer.pk]
    assert _listed(portal.get(URL, {"date_from": "2026-06-11", "date_to": "2026-06-11"})) == [server_error.pk]
    assert _listed(portal.get(URL, {"date_from": "", "date_to": ""})) == [
        server_error.pk,
        failed.pk,
        on_offer.pk,
        old.pk,
    ]
    assert _listed(portal.get(URL, {**june, "state": "failed"})) == [failed.pk]
    assert _listed(portal.get(URL, {**june, "offer": offer.offer_id})) == [on_offer.pk]
    conversion_id = failed.conversion.conversion_id
    assert _listed(portal.get(URL, {"date_from": "", "conversion": conversion_id.upper()})) == [failed.pk]
    assert _listed(portal.get(URL, {"date_from": "", "http_code": 0})) == [failed.pk, old.pk]
    assert _listed(portal.get(URL, {**june, "http_code": 500})) == [server_error.pk]


def test_the_offer_filter_offers_the_affiliates_offers(portal, affiliate):
    offer = OfferFactory(title="Fitness app")
    choices = portal.get(URL).context["form"].fields["offer"].choices
    assert (offer.offer_id, f"#{offer.offer_id} Fitness app") in choices


@pytest.mark.parametrize(
    "filters, field",
    [
        ({"date_from": "2026-13-01"}, "date_from"),
        ({"date_from": "2026-06-02", "date_to": "2026-06-01"}, "date_to"),
        ({"conversion": "not-an-id"}, "conversion"),
        ({"http_code": "abc"}, "http_code"),
        ({"state": "lost"}, "state"),
    ],
)
def test_invalid_filters_are_explained_and_list_nothing(portal, affiliate, filters, field):
    DeliveryFactory(affiliate=affiliate)
    response = portal.get(URL, filters)
    assert _listed(response) == []
    assert field in response.context["form"].errors
    assert "Correct the filters above" in response.content.decode()


def test_retry_sends_the_delivery_again_with_the_same_postback_id(httpserver, portal, affiliate):
    httpserver.expect_request("/pb").respond_with_data("ok")
    postback = PostbackFactory(affiliate=affiliate, url=httpserver.url_for("/pb"))
    delivery = DeliveryFactory(
        affiliate=affiliate,
        postback=postback,
        url=httpserver.url_for("/pb") + "?c=1",
        host="localhost",
        state=Delivery.State.FAILED,
        attempts=9,
        http_code=500,
        next_attempt_at=None,
    )
    back = URL + "?" + urlencode({"state": "failed", "date_from": ""})

    response = portal.post(_retry_url(delivery), {"next": back}, follow=True)

    assert response.redirect_chain == [(back, 302)]
    assert _messages(response) == ["The postback will be sent again in a moment."]
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.RETRYING and delivery.next_attempt_at <= timezone.now()
    sender.send_claimed(queue.claim([delivery.pk]))
    request, _ = httpserver.log[0]
    assert request.headers["X-Postback-Id"] == str(delivery.delivery_id)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.http_code, delivery.attempts) == ("succeeded", 200, 10)


def test_retry_goes_back_to_the_log_rather_than_another_site(portal, affiliate):
    delivery = DeliveryFactory(affiliate=affiliate, state=Delivery.State.FAILED)
    for back in ["https://evil.example/", "//evil.example/x", ""]:
        response = portal.post(_retry_url(delivery), {"next": back})
        assert response.status_code == 302 and response["Location"] == URL, back


def test_another_affiliates_delivery_cannot_be_retried(portal, other_affiliate):
    theirs = DeliveryFactory(affiliate=other_affiliate, state=Delivery.State.FAILED, next_attempt_at=None)
    assert portal.post(_retry_url(theirs)).status_code == 404
    assert portal.get(_retry_url(theirs)).status_code in (404, 405)
    assert portal.post(f"{URL}not-a-delivery-id/retry/").status_code == 404
    theirs.refresh_from_db()
    assert (theirs.state, theirs.next_attempt_at) == ("failed", None)


def test_a_delivery_whose_postback_was_deleted_cannot_be_retried(portal, affiliate):
    delivery = DeliveryFactory(affiliate=affiliate, state=Delivery.State.FAILED)
    delivery.postback.delete()

    page = portal.get(URL).content.decode()
    assert "postback deleted" in page and _retry_url(delivery) not in page
    response = portal.post(_retry_url(delivery), follow=True)
    assert _messages(response) == ["The postback of this delivery was deleted, so it cannot be sent again."]
    delivery.refresh_from_db()
    assert delivery.state == "failed"


# --- What happened, in words ----------------------------------------------------------------


def _explanation(page: str) -> tuple[str, str, str]:
    """The first explanation on the page: (its title, the words before the technical detail,
    the technical detail)."""
    explanation = page.split('<div class="explanation">', 1)[1].split("</div>", 1)[0]
    words, detail = explanation.split("<details>", 1)
    title = re.search(r"<strong[^>]*>(.*?)</strong>", words).group(1)
    return title, words, detail.split("</details>", 1)[0]


def test_a_failed_delivery_says_what_happened_in_words_with_the_raw_error_one_click_away(portal, affiliate):
    error = "Could not connect: [Errno 111] Connect call failed ('127.0.0.1', 8399)"
    DeliveryFactory(
        affiliate=affiliate,
        url="http://127.0.0.1:8399/pb?c=1",
        state=Delivery.State.FAILED,
        http_code=0,
        error=error,
        attempts=9,
    )

    page = portal.get(URL).content.decode()

    title, words, detail = _explanation(page)
    assert title == "Connection refused"
    assert "Is your server running and listening on port 8399?" in words
    assert "[Errno" not in words and "HTTP 0" not in page
    assert escape(error) in detail and "No answer" in detail
    assert '<td data-label="HTTP code">No answer</td>' in page


def test_an_answer_that_is_not_2xx_is_named_with_its_code_and_what_to_check(portal, affiliate):
    DeliveryFactory(
        affiliate=affiliate,
        state=Delivery.State.RETRYING,
        http_code=404,
        error="HTTP 404: a postback needs a 2xx answer",
        attempts=1,
    )

    title, words, detail = _explanation(portal.get(URL).content.decode())

    assert title == "Answered 404 (Not Found)" and "check the path in your postback URL" in words
    assert "HTTP 404: a postback needs a 2xx answer" in detail


def test_a_delivered_postback_is_not_offered_a_retry_which_would_send_a_duplicate(portal, affiliate):
    delivered = DeliveryFactory(
        affiliate=affiliate, state=Delivery.State.SUCCEEDED, http_code=200, attempts=1, next_attempt_at=None
    )
    failed = DeliveryFactory(affiliate=affiliate, state=Delivery.State.FAILED, http_code=500, attempts=9)

    page = portal.get(URL).content.decode()

    assert _retry_url(failed) in page and _retry_url(delivered) not in page
    assert page.count('<div class="explanation">') == 1  # the failed one's


def test_a_retry_posted_for_a_delivered_postback_is_refused(
    portal, affiliate, django_capture_on_commit_callbacks
):
    delivered = DeliveryFactory(
        affiliate=affiliate, state=Delivery.State.SUCCEEDED, http_code=200, attempts=1, next_attempt_at=None
    )

    with django_capture_on_commit_callbacks() as queued:
        response = portal.post(_retry_url(delivered), {"next": URL}, follow=True)

    assert response.redirect_chain == [(URL, 302)]
    assert _messages(response) == [
        "This postback was already delivered: sending it again would send a duplicate."
    ]
    delivered.refresh_from_db()
    assert (delivered.state, delivered.next_attempt_at, delivered.attempts) == ("succeeded", None, 1)
    assert queued == []


def test_a_retry_of_a_delivery_that_succeeded_since_it_was_read_is_refused(affiliate):
    delivery = DeliveryFactory(affiliate=affiliate, state=Delivery.State.RETRYING, attempts=1)
    Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.SUCCEEDED, next_attempt_at=None)

    with pytest.raises(ValidationError, match="already delivered"):
        delivery_retry(delivery)

    delivery.refresh_from_db()
    assert (delivery.state, delivery.next_attempt_at) == ("succeeded", None)
