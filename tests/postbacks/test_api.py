"""The postback endpoints of the API: an affiliate's postbacks, test postbacks, the postback log
with its retries, and the managers' view of every delivery."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from offers.models import Offer, OfferAccess
from postbacks.models import Delivery, Postback
from tests.factories import (
    ConversionFactory,
    DeliveryFactory,
    OfferAccessFactory,
    OfferFactory,
    PostbackFactory,
)

pytestmark = pytest.mark.django_db

POSTBACK_FIELDS = {
    "id",
    "offer",
    "url",
    "status",
    "goal",
    "integration_method",
    "method",
    "enabled",
    "disabled_reason",
    "warnings",
    "created_at",
}
DELIVERY_FIELDS = {
    "id",
    "postback",
    "conversion",
    "event",
    "state",
    "url",
    "attempts",
    "http_code",
    "error",
    "response_excerpt",
    "next_attempt_at",
    "created_at",
    "delivered_at",
    "offer",
    "goal",
    "status",
    "payout",
    "currency",
    "integration_method",
    "is_test",
    "is_backfill",
    "explanation",
}
URL = "http://127.0.0.1:9/pb?click={sub1}&status={status}"
NOT_RUNNABLE = "There is no offer {} that you can run (a private offer needs approved access)."


@pytest.fixture
def offer():
    return OfferFactory(
        goals=[{"value": "sale", "title": "Sale", "payout": "3.5"}, {"value": "lead", "title": "Lead"}]
    )


def _create(api, **fields):
    return api.post("/api/v1/postbacks/", {"url": URL, **fields}, format="json")


def _ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# --- Postbacks --------------------------------------------------------------------------


def test_a_global_postback_is_created_with_the_spec_fields_and_defaults(affiliate, affiliate_api):
    response = _create(affiliate_api)
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == POSTBACK_FIELDS
    postback = Postback.objects.get()
    assert body == {
        "id": postback.pk,
        "offer": None,
        "url": URL,
        "status": "any",
        "goal": None,
        "integration_method": "default",
        "method": "GET",
        "enabled": True,
        "disabled_reason": "",
        "warnings": [],
        "created_at": body["created_at"],
    }
    assert postback.affiliate == affiliate and postback.is_global


def test_a_local_postback_names_its_offer_and_a_goal_in_any_case(affiliate, affiliate_api, offer):
    response = _create(
        affiliate_api,
        offer=offer.offer_id,
        goal="SALE",
        status="approved",
        integration_method="probabilistic",
        method="POST",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["offer"], body["goal"], body["status"]) == (offer.offer_id, "sale", "approved")
    assert (body["integration_method"], body["method"]) == ("probabilistic", "POST")
    postback = Postback.objects.get()
    assert postback.offer == offer and postback.goal == offer.goals.get(value="sale")


def test_postbacks_are_listed_read_updated_and_deleted(affiliate, affiliate_api, offer):
    global_ = PostbackFactory(affiliate=affiliate)
    local = PostbackFactory(affiliate=affiliate, offer=offer)
    assert _ids(affiliate_api.get("/api/v1/postbacks/")) == [global_.pk, local.pk]
    assert _ids(affiliate_api.get("/api/v1/postbacks/", {"offer": offer.offer_id})) == [local.pk]
    assert affiliate_api.get(f"/api/v1/postbacks/{local.pk}/").json()["offer"] == offer.offer_id

    response = affiliate_api.patch(
        f"/api/v1/postbacks/{local.pk}/", {"status": "declined", "goal": "Lead"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["goal"]) == ("declined", "lead")
    local.refresh_from_db()
    assert local.status == "declined" and local.goal.value == "lead"

    response = affiliate_api.patch(f"/api/v1/postbacks/{local.pk}/", {"goal": None}, format="json")
    assert response.json()["goal"] is None

    assert affiliate_api.delete(f"/api/v1/postbacks/{local.pk}/").status_code == 204
    assert list(Postback.objects.all()) == [global_]


def test_a_postback_is_replaced_with_patch_not_put(affiliate, affiliate_api):
    postback = PostbackFactory(affiliate=affiliate)
    response = affiliate_api.put(f"/api/v1/postbacks/{postback.pk}/", {"url": URL}, format="json")
    assert response.status_code == 405


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://169.254.169.254/latest/meta-data/", "private, local or reserved address"),
        ("http://10.0.0.5/pb", "private, local or reserved address"),
        ("ftp://example.com/pb", "Only http:// and https:// URLs are allowed."),
        ("http://user:secret@example.com/pb", "Credentials in the URL"),
        ("http://{sub1}.example.com/pb", "not in the host"),
        ("not a url", "spaces or control characters"),
    ],
)
def test_unsafe_urls_are_refused_with_a_field_error(affiliate_api, url, message):
    response = _create(affiliate_api, url=url)
    assert response.status_code == 400
    assert set(response.json()) == {"url"} and message in response.json()["url"][0]
    assert not Postback.objects.exists()


def test_an_unsafe_url_cannot_be_patched_in(affiliate, affiliate_api):
    postback = PostbackFactory(affiliate=affiliate)
    response = affiliate_api.patch(
        f"/api/v1/postbacks/{postback.pk}/", {"url": "http://169.254.169.254/"}, format="json"
    )
    assert response.status_code == 400 and set(response.json()) == {"url"}
    postback.refresh_from_db()
    assert postback.url == PostbackFactory.url


def test_a_global_postback_cannot_have_a_goal(affiliate_api):
    response = _create(affiliate_api, goal="sale")
    assert response.status_code == 400
    assert response.json() == {"goal": ["A global postback cannot have a goal: it fires for every offer."]}
    assert not Postback.objects.exists()


def test_a_goal_must_be_one_of_the_offers_goals(affiliate_api, offer):
    other = OfferFactory(goals=[{"value": "install", "title": "Install"}])
    response = _create(affiliate_api, offer=offer.offer_id, goal="install")
    assert response.status_code == 400
    assert response.json() == {"goal": [f"Offer {offer.offer_id} has no goal install."]}
    response = _create(affiliate_api, offer=other.offer_id, goal="install")
    assert response.status_code == 201


def test_moving_a_postback_to_another_offer_keeps_no_goal_of_the_first(affiliate, affiliate_api, offer):
    postback = PostbackFactory(affiliate=affiliate, offer=offer, goal=offer.goals.get(value="sale"))
    other = OfferFactory()
    response = affiliate_api.patch(
        f"/api/v1/postbacks/{postback.pk}/", {"offer": other.offer_id}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"goal": ["This goal belongs to another offer."]}
    response = affiliate_api.patch(f"/api/v1/postbacks/{postback.pk}/", {"offer": None}, format="json")
    assert response.json() == {"goal": ["A global postback cannot have a goal: it fires for every offer."]}
    postback.refresh_from_db()
    assert postback.offer == offer


def test_unknown_macros_are_saved_and_named_in_warnings(affiliate, affiliate_api):
    response = _create(affiliate_api, url="http://127.0.0.1:9/pb?c={clikid}&s={sum}&x={Status}")
    assert response.status_code == 201
    assert response.json()["warnings"] == ["clikid", "Status"]
    postback_id = response.json()["id"]
    assert affiliate_api.get(f"/api/v1/postbacks/{postback_id}/").json()["warnings"] == ["clikid", "Status"]
    response = affiliate_api.patch(
        f"/api/v1/postbacks/{postback_id}/", {"url": "http://127.0.0.1:9/pb?c={clickid}"}, format="json"
    )
    assert response.json()["warnings"] == []


@pytest.mark.parametrize("case", ["unknown", "paused", "private", "private rejected", "not a number"])
def test_a_postback_needs_an_offer_the_affiliate_can_run(affiliate, affiliate_api, case):
    if case == "unknown":
        offer_id = 987654
    elif case == "paused":
        offer_id = OfferFactory(status=Offer.Status.PAUSED).offer_id
    elif case == "private":
        offer_id = OfferFactory(visibility=Offer.Visibility.PRIVATE).offer_id
    elif case == "private rejected":
        offer_id = OfferAccessFactory(affiliate=affiliate, status=OfferAccess.Status.REJECTED).offer.offer_id
    else:
        offer_id = "twelve"
    response = _create(affiliate_api, offer=offer_id)
    assert response.status_code == 400 and set(response.json()) == {"offer"}
    message = response.json()["offer"][0]
    if case == "not a number":
        assert message == "Enter an offer id (a number)."
    else:
        assert message == NOT_RUNNABLE.format(offer_id)
    assert not Postback.objects.exists()


def test_a_private_offer_with_approved_access_takes_postbacks(affiliate, affiliate_api):
    access = OfferAccessFactory(affiliate=affiliate, status=OfferAccess.Status.APPROVED)
    assert _create(affiliate_api, offer=access.offer.offer_id).status_code == 201


def test_a_postback_keeps_an_offer_paused_since_it_was_saved(affiliate, affiliate_api, offer):
    postback = PostbackFactory(affiliate=affiliate, offer=offer)
    Offer.objects.filter(pk=offer.pk).update(status=Offer.Status.PAUSED)
    response = affiliate_api.patch(
        f"/api/v1/postbacks/{postback.pk}/", {"offer": offer.offer_id, "enabled": False}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["offer"] == offer.offer_id and response.json()["enabled"] is False


def test_bad_choices_are_refused_field_by_field(affiliate_api):
    response = _create(
        affiliate_api, status="approve", integration_method="s2s", method="PUT", enabled="perhaps"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"status", "integration_method", "method", "enabled"}
    assert _create(affiliate_api, url="").status_code == 400
    assert not Postback.objects.exists()


def test_re_enabling_a_disabled_postback_clears_the_reason(affiliate, affiliate_api):
    postback = PostbackFactory(affiliate=affiliate, enabled=False, disabled_reason="Every delivery failed")
    body = affiliate_api.get(f"/api/v1/postbacks/{postback.pk}/").json()
    assert (body["enabled"], body["disabled_reason"]) == (False, "Every delivery failed")
    body = affiliate_api.patch(
        f"/api/v1/postbacks/{postback.pk}/", {"enabled": True, "disabled_reason": "ignored"}, format="json"
    ).json()
    assert (body["enabled"], body["disabled_reason"]) == (True, "")


def test_another_affiliates_postback_is_not_found_and_stays_unchanged(other_affiliate, affiliate_api):
    postback = PostbackFactory(affiliate=other_affiliate)
    url = f"/api/v1/postbacks/{postback.pk}/"
    assert affiliate_api.get(url).status_code == 404
    assert affiliate_api.patch(url, {"url": "http://127.0.0.1:9/mine"}, format="json").status_code == 404
    assert affiliate_api.delete(url).status_code == 404
    assert affiliate_api.post(url + "test/").status_code == 404
    assert affiliate_api.get("/api/v1/postbacks/").json()["count"] == 0
    postback.refresh_from_db()
    assert postback.url == PostbackFactory.url and not Delivery.objects.exists()


def test_a_manager_key_cannot_use_the_partner_postback_endpoints(manager_api):
    assert manager_api.get("/api/v1/postbacks/").status_code == 403
    assert manager_api.get("/api/v1/postback-deliveries/").status_code == 403


# --- Test postbacks ---------------------------------------------------------------------


def test_a_test_postback_answers_the_rendered_url_and_the_endpoints_answer(
    httpserver, affiliate, affiliate_api, offer
):
    httpserver.expect_request("/pb").respond_with_data("received", status=200)
    postback = PostbackFactory(
        affiliate=affiliate, offer=offer, url=httpserver.url_for("/pb") + "?g={goal}&s={sum}&x={sub1}"
    )
    response = affiliate_api.post(f"/api/v1/postbacks/{postback.pk}/test/")
    assert response.status_code == 200, response.content
    body = response.json()
    request, _ = httpserver.log[0]
    assert body["id"] == request.headers["X-Postback-Id"]
    assert body["url"] == httpserver.url_for("/pb") + "?g=sale&s=3.5&x=test_sub1"
    assert (body["state"], body["http_code"], body["error"], body["response_excerpt"]) == (
        "succeeded",
        200,
        "",
        "received",
    )
    assert body["is_test"] is True and body["postback"] == postback.pk and body["explanation"] is None
    delivery = Delivery.objects.get()
    assert str(delivery.delivery_id) == body["id"] and delivery.conversion.is_test


def test_a_failing_test_postback_shows_the_error(httpserver, affiliate, affiliate_api):
    OfferFactory()
    httpserver.expect_request("/pb").respond_with_data("no such campaign", status=404)
    postback = PostbackFactory(affiliate=affiliate, url=httpserver.url_for("/pb"))
    body = affiliate_api.post(f"/api/v1/postbacks/{postback.pk}/test/").json()
    assert (body["state"], body["http_code"], body["response_excerpt"]) == ("failed", 404, "no such campaign")
    assert body["error"] == "HTTP 404: a postback needs a 2xx answer"
    assert body["explanation"] == {
        "title": "Answered 404 (Not Found)",
        "advice": "Your server has no page at this address: check the path in your postback URL.",
    }
    assert body["next_attempt_at"] is None


def test_a_global_test_postback_needs_an_offer_to_convert_on(affiliate, affiliate_api):
    postback = PostbackFactory(affiliate=affiliate)
    response = affiliate_api.post(f"/api/v1/postbacks/{postback.pk}/test/")
    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": ["There is no offer you can run to send a test conversion for."]
    }


# --- The postback log -------------------------------------------------------------------


def test_a_delivery_carries_the_spec_fields_and_what_it_reported(affiliate, affiliate_api, offer):
    conversion = ConversionFactory(affiliate=affiliate, offer=offer, status=1)
    delivery = DeliveryFactory(
        affiliate=affiliate,
        conversion=conversion,
        state=Delivery.State.FAILED,
        attempts=9,
        http_code=500,
        error="HTTP 500: a postback needs a 2xx answer",
        response_excerpt="oops",
        next_attempt_at=None,
    )
    body = affiliate_api.get(f"/api/v1/postback-deliveries/{delivery.delivery_id}/").json()
    assert set(body) == DELIVERY_FIELDS
    assert body["id"] == str(delivery.delivery_id) and body["postback"] == delivery.postback_id
    assert (body["conversion"], body["event"]) == (conversion.conversion_id, delivery.event_id)
    assert (body["state"], body["url"], body["attempts"]) == ("failed", delivery.url, 9)
    assert (body["http_code"], body["error"], body["response_excerpt"]) == (500, delivery.error, "oops")
    assert body["next_attempt_at"] is None and body["delivered_at"] is None and body["created_at"]
    assert (body["offer"], body["goal"], body["status"]) == (offer.offer_id, "sale", 1)
    assert (body["payout"], body["currency"], body["integration_method"], body["is_test"]) == (
        "3.5000",
        "USD",
        "default",
        False,
    )
    listed = affiliate_api.get("/api/v1/postback-deliveries/").json()
    assert listed["count"] == 1 and listed["results"] == [body]


def test_a_delivery_of_a_deleted_postback_stays_in_the_log(affiliate, affiliate_api):
    delivery = DeliveryFactory(affiliate=affiliate)
    delivery.postback.delete()
    body = affiliate_api.get(f"/api/v1/postback-deliveries/{delivery.delivery_id}/").json()
    assert body["postback"] is None


def test_deliveries_are_filtered_by_state_offer_conversion_http_code_and_date(
    affiliate, affiliate_api, offer
):
    succeeded = DeliveryFactory(
        affiliate=affiliate,
        conversion=ConversionFactory(affiliate=affiliate, offer=offer),
        state=Delivery.State.SUCCEEDED,
        http_code=200,
        created_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
    )
    no_answer = DeliveryFactory(
        affiliate=affiliate,
        state=Delivery.State.RETRYING,
        http_code=0,
        created_at=datetime(2026, 3, 2, 23, 59, tzinfo=UTC),
    )
    pending = DeliveryFactory(affiliate=affiliate, created_at=datetime(2026, 3, 3, tzinfo=UTC))
    for params, expected in [
        ({}, [pending, no_answer, succeeded]),
        ({"state": "succeeded"}, [succeeded]),
        ({"state": "retrying"}, [no_answer]),
        ({"offer": offer.offer_id}, [succeeded]),
        ({"conversion": no_answer.conversion.conversion_id.upper()}, [no_answer]),
        ({"http_code": 200}, [succeeded]),
        ({"http_code": 0}, [no_answer]),
        ({"date_from": "2026-03-02"}, [pending, no_answer]),
        ({"date_to": "2026-03-02"}, [no_answer, succeeded]),
        ({"date_from": "2026-03-02", "date_to": "2026-03-02"}, [no_answer]),
    ]:
        response = affiliate_api.get("/api/v1/postback-deliveries/", params)
        assert _ids(response) == [str(delivery.delivery_id) for delivery in expected], params


def test_bad_delivery_filters_are_refused_field_by_field(affiliate_api):
    response = affiliate_api.get(
        "/api/v1/postback-deliveries/",
        {"state": "lost", "offer": "x", "conversion": "123", "http_code": "-1", "date_from": "03/01/2026"},
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"state", "offer", "conversion", "http_code", "date_from"}
    assert body["conversion"] == ["Enter a conversion id: 24 hexadecimal characters."]
    assert body["date_from"] == ["Enter a date as YYYY-MM-DD."]


def test_a_failed_delivery_is_retried_with_the_same_id(
    affiliate, affiliate_api, django_capture_on_commit_callbacks
):
    delivery = DeliveryFactory(
        affiliate=affiliate, state=Delivery.State.FAILED, attempts=9, http_code=500, next_attempt_at=None
    )
    with django_capture_on_commit_callbacks() as queued:
        response = affiliate_api.post(f"/api/v1/postback-deliveries/{delivery.delivery_id}/retry/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == str(delivery.delivery_id) and body["state"] == "retrying"
    next_attempt = datetime.fromisoformat(body["next_attempt_at"])
    assert abs(next_attempt - timezone.now()) < timedelta(seconds=5)
    assert len(queued) == 1  # the delivery is handed to a worker once the retry is committed
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.RETRYING and delivery.attempts == 9


def test_a_delivery_whose_postback_was_deleted_cannot_be_retried(affiliate, affiliate_api):
    delivery = DeliveryFactory(affiliate=affiliate, state=Delivery.State.FAILED, attempts=9)
    delivery.postback.delete()
    response = affiliate_api.post(f"/api/v1/postback-deliveries/{delivery.delivery_id}/retry/")
    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": ["The postback of this delivery was deleted, so it cannot be sent again."]
    }
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.FAILED


def test_another_affiliates_delivery_is_not_found_and_not_retried(other_affiliate, affiliate_api):
    delivery = DeliveryFactory(affiliate=other_affiliate, state=Delivery.State.FAILED, attempts=9)
    url = f"/api/v1/postback-deliveries/{delivery.delivery_id}/"
    assert affiliate_api.get(url).status_code == 404
    assert affiliate_api.post(url + "retry/").status_code == 404
    assert affiliate_api.get("/api/v1/postback-deliveries/").json()["count"] == 0
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.FAILED


@pytest.mark.parametrize("delivery_id", ["not-a-uuid", str(uuid.uuid4())])
def test_an_unknown_delivery_id_is_not_found(affiliate_api, delivery_id):
    assert affiliate_api.get(f"/api/v1/postback-deliveries/{delivery_id}/").status_code == 404


# --- Managers ---------------------------------------------------------------------------


def test_managers_read_every_affiliates_deliveries_with_the_affiliate(
    affiliate, other_affiliate, manager_api, offer
):
    mine = DeliveryFactory(
        affiliate=affiliate,
        conversion=ConversionFactory(affiliate=affiliate, offer=offer),
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    theirs = DeliveryFactory(affiliate=other_affiliate, created_at=datetime(2026, 3, 5, tzinfo=UTC))
    for params, expected in [
        ({}, [theirs, mine]),
        ({"affiliate": affiliate.pid}, [mine]),
        ({"offer": offer.offer_id}, [mine]),
        ({"date_from": "2026-03-02"}, [theirs]),
        ({"date_to": "2026-03-01"}, [mine]),
        ({"state": "pending"}, [theirs, mine]),
    ]:
        response = manager_api.get("/api/v1/manage/postback-deliveries/", params)
        assert _ids(response) == [str(delivery.delivery_id) for delivery in expected], params
    body = manager_api.get(f"/api/v1/manage/postback-deliveries/{mine.delivery_id}/").json()
    assert set(body) == DELIVERY_FIELDS | {"affiliate"} and body["affiliate"] == affiliate.pid
    response = manager_api.get("/api/v1/manage/postback-deliveries/", {"affiliate": "0"})
    assert response.status_code == 400 and set(response.json()) == {"affiliate"}


def test_the_manager_delivery_log_is_read_only(affiliate, manager_api):
    delivery = DeliveryFactory(affiliate=affiliate)
    url = f"/api/v1/manage/postback-deliveries/{delivery.delivery_id}/"
    assert manager_api.patch(url, {"state": "failed"}, format="json").status_code == 405
    assert manager_api.delete(url).status_code == 405


def test_an_affiliate_key_cannot_read_the_manager_delivery_log(affiliate, affiliate_api):
    DeliveryFactory(affiliate=affiliate)
    response = affiliate_api.get("/api/v1/manage/postback-deliveries/")
    assert response.status_code == 403
    assert response.json() == {"detail": "Manager endpoints need a staff user's key."}


# --- Profile settings and the schema ------------------------------------------------------


def test_the_signing_secret_is_set_and_cleared_through_me(affiliate, affiliate_api):
    body = affiliate_api.patch("/api/v1/me/", {"signing_secret": "s3cret"}, format="json").json()
    assert body["has_signing_secret"] is True and "signing_secret" not in body
    body = affiliate_api.patch(
        "/api/v1/me/", {"signing_secret": "", "consider_global_postback": True}, format="json"
    ).json()
    assert body["has_signing_secret"] is False and body["consider_global_postback"] is True
    affiliate.refresh_from_db()
    assert affiliate.signing_secret == "" and affiliate.consider_global_postback is True


def test_the_schema_documents_the_postback_endpoints_without_warnings(client, tmp_path):
    text = client.get("/api/v1/schema/").content.decode()
    for path in [
        "/api/v1/postbacks/",
        "/api/v1/postbacks/{id}/test/",
        "/api/v1/postback-deliveries/{id}/retry/",
        "/api/v1/manage/postback-deliveries/",
    ]:
        assert path in text, path
    # --fail-on-warn turns any warning of the schema generator into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
