"""The conversion and inbound postback admin: read-only pages, status changes only through actions."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from conversions.models import Conversion, ConversionEvent, ServerPostback
from offers.choices import ConversionStatus
from tests.factories import ClickFactory, ConversionFactory, ServerPostbackFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def conversion():
    return ConversionFactory(click=ClickFactory(), action_id="ORDER-17")


@pytest.fixture
def server_postback(conversion):
    return ServerPostbackFactory(
        conversion=conversion, query=f"clickid={conversion.click.click_id}&goal=1&sum=9.90", ip="203.0.113.9"
    )


def _changelist(admin_client, model, **params):
    return admin_client.get(reverse(f"admin:conversions_{model}_changelist"), params)


def _set_status(admin_client, action, *conversions):
    return admin_client.post(
        reverse("admin:conversions_conversion_changelist"),
        {"action": action, "_selected_action": [conversion.pk for conversion in conversions]},
        follow=True,
    )


def test_the_conversion_list_and_page_load_for_managers(admin_client, conversion):
    page = _changelist(admin_client, "conversion")
    assert page.status_code == 200 and conversion.conversion_id in page.content.decode()
    detail = admin_client.get(reverse("admin:conversions_conversion_change", args=[conversion.pk]))
    assert detail.status_code == 200 and "ORDER-17" in detail.content.decode()


def test_the_list_filters_by_status_offer_affiliate_method_and_test_flag(admin_client, conversion):
    other = ConversionFactory(status=ConversionStatus.APPROVED, is_test=True)
    for params, expected in [
        ({"status__exact": 1}, [other]),
        ({"offer__id__exact": conversion.offer_id}, [conversion]),
        ({"affiliate__id__exact": other.affiliate_id}, [other]),
        ({"integration_method__exact": "default"}, [other, conversion]),
        ({"is_test__exact": 0}, [conversion]),
        ({"created_at__gte": "2000-01-01 00:00:00+00:00"}, [other, conversion]),
    ]:
        result = _changelist(admin_client, "conversion", **params).context["cl"].result_list
        assert list(result) == expected, params


@pytest.mark.parametrize("term", ["conversion_id", "action_id", "click_id"])
def test_conversions_are_found_by_exact_id(admin_client, conversion, term):
    ConversionFactory()
    value = {
        "conversion_id": f" {conversion.conversion_id.upper()} ",
        "action_id": "ORDER-17",
        "click_id": conversion.click.click_id,
    }[term]
    result = _changelist(admin_client, "conversion", q=value).context["cl"].result_list
    assert list(result) == [conversion]
    assert not _changelist(admin_client, "conversion", q="ORDER-1").context["cl"].result_list


def test_conversions_cannot_be_added_edited_or_deleted_in_a_form(admin_client, conversion):
    assert admin_client.get(reverse("admin:conversions_conversion_add")).status_code == 403
    admin_client.post(
        reverse("admin:conversions_conversion_change", args=[conversion.pk]), {"status": 1, "payout": "99"}
    )
    conversion.refresh_from_db()
    assert conversion.status == ConversionStatus.PENDING and conversion.payout == 2.5
    assert (
        admin_client.get(reverse("admin:conversions_conversion_delete", args=[conversion.pk])).status_code
        == 403
    )
    assert Conversion.objects.count() == 1


@pytest.mark.parametrize(
    "action, status",
    [
        ("approve", ConversionStatus.APPROVED),
        ("decline", ConversionStatus.DECLINED),
        ("hold", ConversionStatus.HOLD),
    ],
)
def test_an_action_changes_the_status_and_records_who_did_it(
    admin_client, manager, conversion, action, status
):
    response = _set_status(admin_client, action, conversion)
    assert "1 conversion(s) set to" in response.content.decode()
    conversion.refresh_from_db()
    assert conversion.status == status
    event = ConversionEvent.objects.get(conversion=conversion)
    assert (event.kind, event.old_status, event.new_status) == ("status_changed", 2, status)
    assert (event.source, event.changed_by) == (ConversionEvent.Source.MANAGER, manager)


def test_setting_the_status_a_conversion_already_has_records_nothing(admin_client, conversion):
    approved = ConversionFactory(status=ConversionStatus.APPROVED)
    response = _set_status(admin_client, "set_pending", conversion, approved)
    assert "1 conversion(s) set to pending. 1 already had this status." in response.content.decode()
    approved.refresh_from_db()
    assert approved.status == ConversionStatus.PENDING
    assert list(ConversionEvent.objects.values_list("conversion", flat=True)) == [approved.pk]


def test_the_conversion_page_shows_its_history(admin_client, manager, conversion):
    _set_status(admin_client, "approve", conversion)
    _set_status(admin_client, "decline", conversion)
    page = admin_client.get(reverse("admin:conversions_conversion_change", args=[conversion.pk]))
    history = page.content.decode()
    assert "History" in history and history.count("Manager") >= 2
    assert "Approved" in history and "Declined" in history and manager.username in history


def test_staff_without_the_change_right_get_no_status_actions(client, conversion):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_conversion"))
    client.force_login(viewer)
    page = _changelist(client, "conversion")
    assert page.status_code == 200 and page.context["action_form"] is None
    _set_status(client, "approve", conversion)
    conversion.refresh_from_db()
    assert conversion.status == ConversionStatus.PENDING


def test_non_staff_users_are_sent_to_the_admin_login(client, affiliate, conversion, server_postback):
    client.force_login(affiliate.user)
    for model in ["conversion", "serverpostback"]:
        response = _changelist(client, model)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    _set_status(client, "approve", conversion)
    conversion.refresh_from_db()
    assert conversion.status == ConversionStatus.PENDING


def test_the_server_postback_log_lists_and_shows_each_call(admin_client, server_postback):
    page = _changelist(admin_client, "serverpostback").content.decode()
    assert "203.0.113.9" in page and server_postback.conversion.conversion_id in page
    detail = admin_client.get(reverse("admin:conversions_serverpostback_change", args=[server_postback.pk]))
    assert detail.status_code == 200 and "sum=9.90" in detail.content.decode()


def test_the_server_postback_log_is_searched_and_filtered(admin_client, server_postback):
    rejected = ServerPostbackFactory(
        conversion=None,
        source=ServerPostback.Source.PIXEL,
        query="offer_id=5&goal=nope",
        outcome=ServerPostback.Outcome.REJECTED,
        http_status=404,
        message="Goal not found",
    )
    for params, expected in [
        ({"q": "goal not"}, [rejected]),
        ({"q": "sum=9.90"}, [server_postback]),
        ({"q": server_postback.conversion.conversion_id}, [server_postback]),
        ({"outcome__exact": "rejected"}, [rejected]),
        ({"source__exact": "postback"}, [server_postback]),
        ({"received_at__gte": "2000-01-01 00:00:00+00:00"}, [rejected, server_postback]),
    ]:
        result = _changelist(admin_client, "serverpostback", **params).context["cl"].result_list
        assert list(result) == expected, params


def test_the_server_postback_log_is_read_only(admin_client, server_postback):
    assert admin_client.get(reverse("admin:conversions_serverpostback_add")).status_code == 403
    admin_client.post(
        reverse("admin:conversions_serverpostback_change", args=[server_postback.pk]), {"message": "edited"}
    )
    server_postback.refresh_from_db()
    assert server_postback.message == "ok"
    delete = reverse("admin:conversions_serverpostback_delete", args=[server_postback.pk])
    assert admin_client.get(delete).status_code == 403
