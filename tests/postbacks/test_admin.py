"""The postback admin: affiliates' postbacks edited under the same rules as the portal and the API,
test postbacks sent from the list, and the read-only delivery log with "Retry now"."""

from datetime import UTC, datetime
from html import escape

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from postbacks.models import Delivery, DeliveryAttempt, Postback
from tests.factories import ConversionFactory, DeliveryFactory, OfferFactory, PostbackFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def offer():
    return OfferFactory(goals=[{"value": "sale", "title": "Sale"}])


def _changelist(client, model, **params):
    return client.get(reverse(f"admin:postbacks_{model}_changelist"), params)


def _action(client, model, action, *objects):
    return client.post(
        reverse(f"admin:postbacks_{model}_changelist"),
        {"action": action, "_selected_action": [obj.pk for obj in objects]},
        follow=True,
    )


def _postback_form(affiliate, **fields):
    return {
        "affiliate": affiliate.pk,
        "offer": "",
        "url": "http://127.0.0.1:9/pb?c={clickid}",
        "method": "GET",
        "status": "any",
        "goal": "",
        "integration_method": "default",
        "enabled": "on",
        **fields,
    }


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- Postbacks --------------------------------------------------------------------------


def test_the_postback_pages_load_for_managers(admin_client, affiliate, offer):
    postback = PostbackFactory(affiliate=affiliate, offer=offer, goal=offer.goals.get())
    page = _changelist(admin_client, "postback")
    assert page.status_code == 200 and escape(postback.url) in page.content.decode()
    assert admin_client.get(reverse("admin:postbacks_postback_add")).status_code == 200
    detail = admin_client.get(reverse("admin:postbacks_postback_change", args=[postback.pk]))
    assert detail.status_code == 200
    assert f"{offer.offer_id} {offer.title}: Sale (sale)" in detail.content.decode()


def test_a_postback_is_added_through_the_same_rules_and_warns_about_unknown_macros(
    admin_client, affiliate, offer
):
    response = admin_client.post(
        reverse("admin:postbacks_postback_add"),
        _postback_form(
            affiliate,
            offer=offer.pk,
            goal=offer.goals.get().pk,
            url="http://127.0.0.1:9/pb?c={clickid}&x={clikid}",
        ),
        follow=True,
    )
    assert response.status_code == 200
    postback = Postback.objects.get()
    assert (postback.affiliate, postback.offer, postback.goal.value) == (affiliate, offer, "sale")
    assert "Not macros, sent as they are: {clikid}." in _messages(response)


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://169.254.169.254/latest/meta-data/", "private, local or reserved address"),
        ("ftp://example.com/pb", "Only http:// and https:// URLs are allowed."),
        ("http://user:secret@example.com/pb", "Credentials in the URL"),
    ],
)
def test_the_form_refuses_unsafe_urls(admin_client, affiliate, url, message):
    response = admin_client.post(reverse("admin:postbacks_postback_add"), _postback_form(affiliate, url=url))
    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors["url"])
    assert not Postback.objects.exists()


def test_the_form_refuses_a_goal_of_another_offer_or_on_a_global_postback(admin_client, affiliate, offer):
    other_goal = OfferFactory().goals.get()
    for fields, message in [
        ({"offer": offer.pk, "goal": other_goal.pk}, "This goal belongs to another offer."),
        ({"goal": other_goal.pk}, "A global postback cannot have a goal: it fires for every offer."),
    ]:
        response = admin_client.post(
            reverse("admin:postbacks_postback_add"), _postback_form(affiliate, **fields)
        )
        assert response.context["adminform"].form.errors["goal"] == [message]
    assert not Postback.objects.exists()


def test_re_enabling_a_postback_in_the_form_clears_the_reason(admin_client, affiliate):
    postback = PostbackFactory(affiliate=affiliate, enabled=False, disabled_reason="Every delivery failed")
    admin_client.post(
        reverse("admin:postbacks_postback_change", args=[postback.pk]),
        _postback_form(affiliate, url=postback.url),
    )
    postback.refresh_from_db()
    assert postback.enabled and postback.disabled_reason == ""


def test_postbacks_are_searched_by_url_and_pid_and_filtered(admin_client, affiliate, other_affiliate, offer):
    global_ = PostbackFactory(affiliate=affiliate, url="http://127.0.0.1:9/tracker-one")
    local = PostbackFactory(affiliate=other_affiliate, offer=offer, enabled=False)
    for params, expected in [
        ({"q": "tracker-one"}, [global_]),
        ({"q": f" {other_affiliate.pid} "}, [local]),
        ({"q": "999999999999"}, []),
        ({"q": other_affiliate.user.username}, [local]),
        ({"scope": "global"}, [global_]),
        ({"scope": "local"}, [local]),
        ({"enabled__exact": 0}, [local]),
        ({"offer__id__exact": offer.pk}, [local]),
    ]:
        result = _changelist(admin_client, "postback", **params).context["cl"].result_list
        assert list(result) == expected, params


def test_send_test_postback_reports_each_result(httpserver, admin_client, affiliate, offer):
    httpserver.expect_request("/ok").respond_with_data("thanks", status=200)
    httpserver.expect_request("/broken").respond_with_data("nope", status=500)
    working = PostbackFactory(affiliate=affiliate, offer=offer, url=httpserver.url_for("/ok") + "?g={goal}")
    broken = PostbackFactory(affiliate=affiliate, url=httpserver.url_for("/broken"))
    response = _action(admin_client, "postback", "send_test", working, broken)
    messages = _messages(response)
    assert (
        f"Test postback succeeded: {httpserver.url_for('/ok')}?g=sale (HTTP 200). Answer: thanks" in messages
    )
    failed = next(message for message in messages if message.startswith("Test postback failed"))
    assert failed.startswith(f"Test postback failed: {httpserver.url_for('/broken')}. Answer: nope")
    assert "Answered 500 (Internal Server Error)" in failed and "check its error log" in failed
    assert "<summary>Technical detail</summary>" in failed
    assert "<code>HTTP 500: a postback needs a 2xx answer</code>" in failed
    assert len(httpserver.log) == 2
    assert Delivery.objects.filter(conversion__is_test=True).count() == 2


def test_send_test_postback_says_why_it_could_not_send(admin_client, affiliate):
    postback = PostbackFactory(affiliate=affiliate)  # global, and no offer to convert on
    response = _action(admin_client, "postback", "send_test", postback)
    assert _messages(response) == [
        f"{postback.url}: There is no offer you can run to send a test conversion for."
    ]
    assert not Delivery.objects.exists()


# --- Deliveries -------------------------------------------------------------------------


@pytest.fixture
def failed_delivery(affiliate, offer):
    delivery = DeliveryFactory(
        affiliate=affiliate,
        conversion=ConversionFactory(affiliate=affiliate, offer=offer),
        state=Delivery.State.FAILED,
        attempts=1,
        http_code=503,
        error="HTTP 503: a postback needs a 2xx answer",
        next_attempt_at=None,
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    DeliveryAttempt.objects.create(
        delivery=delivery,
        started_at=timezone.now(),
        url=delivery.url,
        http_code=503,
        error=delivery.error,
        duration_ms=42,
        response_excerpt="maintenance window",
    )
    return delivery


def test_the_delivery_log_lists_and_shows_each_delivery_with_its_attempts(
    admin_client, failed_delivery, offer
):
    page = _changelist(admin_client, "delivery").content.decode()
    assert str(failed_delivery.delivery_id) in page and str(offer) in page and "HTTP 503" in page
    detail = admin_client.get(reverse("admin:postbacks_delivery_change", args=[failed_delivery.pk]))
    content = detail.content.decode()
    assert detail.status_code == 200 and str(failed_delivery.delivery_id) in content
    assert "maintenance window" in content and "42" in content


def test_the_delivery_log_is_searched_and_filtered(admin_client, failed_delivery):
    pending = DeliveryFactory(created_at=datetime(2026, 3, 5, tzinfo=UTC))
    for params, expected in [
        ({"q": f" {str(failed_delivery.delivery_id).upper()} "}, [failed_delivery]),
        ({"q": pending.conversion.conversion_id.upper()}, [pending]),
        ({"q": "nothing-like-an-id"}, []),
        ({"state__exact": "failed"}, [failed_delivery]),
        ({"state__exact": "pending"}, [pending]),
        ({"created_at__gte": "2026-03-02 00:00:00+00:00"}, [pending]),
    ]:
        result = _changelist(admin_client, "delivery", **params).context["cl"].result_list
        assert list(result) == expected, params


def test_the_delivery_log_is_read_only(admin_client, failed_delivery):
    assert admin_client.get(reverse("admin:postbacks_delivery_add")).status_code == 403
    admin_client.post(
        reverse("admin:postbacks_delivery_change", args=[failed_delivery.pk]), {"state": "succeeded"}
    )
    failed_delivery.refresh_from_db()
    assert failed_delivery.state == Delivery.State.FAILED
    delete = reverse("admin:postbacks_delivery_delete", args=[failed_delivery.pk])
    assert admin_client.get(delete).status_code == 403


def test_retry_now_queues_deliveries_again_and_names_those_it_cannot_send(
    admin_client, failed_delivery, django_capture_on_commit_callbacks
):
    orphan = DeliveryFactory(state=Delivery.State.FAILED, attempts=9, next_attempt_at=None)
    orphan.postback.delete()
    with django_capture_on_commit_callbacks() as queued:
        response = _action(admin_client, "delivery", "retry_now", failed_delivery, orphan)
    messages = _messages(response)
    assert "1 delivery queued to be sent again." in messages
    assert (
        "1 not sent again: The postback of this delivery was deleted, so it cannot be sent again. "
        f"({orphan.delivery_id})" in messages
    )
    assert len(queued) == 1
    failed_delivery.refresh_from_db()
    orphan.refresh_from_db()
    assert failed_delivery.state == Delivery.State.RETRYING and failed_delivery.next_attempt_at is not None
    assert orphan.state == Delivery.State.FAILED


def test_staff_without_the_change_right_see_deliveries_but_cannot_retry(client, failed_delivery):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_delivery"))
    client.force_login(viewer)
    page = _changelist(client, "delivery")
    assert page.status_code == 200 and page.context["action_form"] is None
    _action(client, "delivery", "retry_now", failed_delivery)
    failed_delivery.refresh_from_db()
    assert failed_delivery.state == Delivery.State.FAILED


def test_non_staff_users_are_sent_to_the_admin_login(client, affiliate, failed_delivery):
    client.force_login(affiliate.user)
    for model in ["postback", "delivery"]:
        response = _changelist(client, model)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    _action(client, "delivery", "retry_now", failed_delivery)
    failed_delivery.refresh_from_db()
    assert failed_delivery.state == Delivery.State.FAILED


def test_a_manager_deleting_postbacks_keeps_their_deliveries_in_the_log(admin_client):
    one, other = DeliveryFactory(), DeliveryFactory()
    alone = admin_client.post(
        reverse("admin:postbacks_postback_delete", args=[one.postback_id]), {"post": "yes"}, follow=True
    )
    assert alone.status_code == 200
    together = _action(admin_client, "postback", "delete_selected", other.postback)
    admin_client.post(
        reverse("admin:postbacks_postback_changelist"),
        {"action": "delete_selected", "_selected_action": [other.postback_id], "post": "yes"},
    )
    assert together.status_code == 200
    assert not Postback.objects.exists()
    assert {delivery.postback_id for delivery in Delivery.objects.all()} == {None}
    assert Delivery.objects.count() == 2
