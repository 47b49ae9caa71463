"""A delivery that succeeded is never sent again by hand: the receiving server has it already, and
a second request would be a duplicate. The rule is the service's (postbacks.services.delivery_retry);
the portal, the API and the admin only show its refusal: the API as a 409 with the reason."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from postbacks.models import Delivery
from postbacks.services import delivery_retry
from tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db

ALREADY_DELIVERED = "This postback was already delivered: sending it again would send a duplicate."


@pytest.fixture
def delivered(affiliate):
    return DeliveryFactory(
        affiliate=affiliate, state=Delivery.State.SUCCEEDED, http_code=200, attempts=1, next_attempt_at=None
    )


def _unchanged(delivery):
    delivery.refresh_from_db()
    return (delivery.state, delivery.next_attempt_at, delivery.attempts) == ("succeeded", None, 1)


def test_the_service_refuses_to_send_a_delivered_postback_again(
    delivered, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued, pytest.raises(ValidationError) as refused:
        delivery_retry(delivered)

    assert refused.value.messages == [ALREADY_DELIVERED]
    assert _unchanged(delivered) and queued == []


def test_the_api_answers_a_409_with_the_reason_and_sends_nothing(
    delivered, affiliate_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued:
        response = affiliate_api.post(f"/api/v1/postback-deliveries/{delivered.delivery_id}/retry/")

    assert response.status_code == 409
    assert response.json() == {"detail": ALREADY_DELIVERED}
    assert _unchanged(delivered) and queued == []


def test_the_api_answers_a_409_for_a_delivery_being_sent_right_now(affiliate, affiliate_api):
    held = DeliveryFactory(
        affiliate=affiliate,
        state=Delivery.State.RETRYING,
        attempts=2,
        locked_until=timezone.now() + timedelta(minutes=1),
    )

    response = affiliate_api.post(f"/api/v1/postback-deliveries/{held.delivery_id}/retry/")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "This delivery is being sent right now; its result will show in a moment."
    }


def test_the_admins_retry_now_sends_the_failed_ones_and_names_the_delivered_ones(
    client, manager, affiliate, delivered, django_capture_on_commit_callbacks
):
    failed = DeliveryFactory(
        affiliate=affiliate, state=Delivery.State.FAILED, attempts=9, next_attempt_at=None
    )
    client.force_login(manager)

    with django_capture_on_commit_callbacks() as queued:
        response = client.post(
            reverse("admin:postbacks_delivery_changelist"),
            {"action": "retry_now", "_selected_action": [delivered.pk, failed.pk]},
            follow=True,
        )

    messages = [str(message) for message in response.context["messages"]]
    assert messages == [
        "1 delivery queued to be sent again.",
        f"1 not sent again: {ALREADY_DELIVERED} ({delivered.delivery_id})",
    ]
    assert _unchanged(delivered) and len(queued) == 1
    failed.refresh_from_db()
    assert failed.state == Delivery.State.RETRYING


def _retry_now(client, deliveries):
    response = client.post(
        reverse("admin:postbacks_delivery_changelist"),
        {"action": "retry_now", "_selected_action": [delivery.pk for delivery in deliveries]},
        follow=True,
    )
    return [str(message) for message in response.context["messages"]]


def test_retry_now_counts_the_refused_ones_by_reason_in_one_message(client, manager, affiliate):
    delivered = [
        DeliveryFactory(affiliate=affiliate, state=Delivery.State.SUCCEEDED, attempts=1) for _ in range(7)
    ]
    client.force_login(manager)

    [message] = _retry_now(client, delivered)

    assert message.startswith(f"7 not sent again: {ALREADY_DELIVERED} (")
    assert message.endswith(", ...)") and message.count(", ") == 5


def test_retry_now_refuses_a_selection_larger_than_it_sends_at_once(
    client, manager, affiliate, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("postbacks.admin.RETRY_AT_ONCE", 2)
    failed = [
        DeliveryFactory(affiliate=affiliate, state=Delivery.State.FAILED, attempts=9, next_attempt_at=None)
        for _ in range(3)
    ]
    client.force_login(manager)

    with django_capture_on_commit_callbacks() as queued:
        messages = _retry_now(client, failed)

    assert messages == ["Select at most 2 deliveries to retry at once: nothing was sent."]
    assert queued == []
    assert set(Delivery.objects.filter(pk__in=[d.pk for d in failed]).values_list("state", flat=True)) == {
        Delivery.State.FAILED
    }
