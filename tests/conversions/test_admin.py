"""The conversion and inbound postback admin: read-only pages but for the status, which changes
through the list's actions (each confirmed on an intermediate page first) or the status form of
a conversion's page, and sends the affiliate's postbacks."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from conversions.models import Conversion, ConversionEvent, ServerPostback
from offers.choices import ConversionStatus
from postbacks.models import Delivery
from tests.factories import (
    ClickFactory,
    ConversionFactory,
    PostbackFactory,
    ServerPostbackFactory,
    UserFactory,
)

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


def _choose_action(admin_client, action, *conversions, **fields):
    """The list's action form, sent: the action's confirmation page."""
    return admin_client.post(
        reverse("admin:conversions_conversion_changelist"),
        {
            "action": action,
            "index": 0,
            "select_across": 0,
            "_selected_action": [conversion.pk for conversion in conversions],
            **fields,
        },
    )


def _set_status(admin_client, action, *conversions):
    """An action run as its confirmation page's button runs it."""
    return admin_client.post(
        reverse("admin:conversions_conversion_changelist"),
        {"action": action, "_selected_action": [conversion.pk for conversion in conversions], "post": "yes"},
        follow=True,
    )


def _hidden_fields(page: str) -> list[tuple[str, str]]:
    """The hidden fields of a page's forms, CSRF tokens left out (the test client needs none)."""
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return [(name, value) for name, value in found if name != "csrfmiddlewaretoken"]


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


# --- The intermediate page of a status action -----------------------------------------------


@pytest.fixture
def with_postback(conversion):
    """The conversion's affiliate has a global postback for any status: each change sends it."""
    PostbackFactory(affiliate=conversion.affiliate)
    return conversion


@pytest.mark.parametrize(
    "action, status", [("approve", ConversionStatus.APPROVED), ("decline", ConversionStatus.DECLINED)]
)
def test_a_status_action_first_shows_what_it_will_do_and_changes_nothing(
    admin_client, with_postback, action, status
):
    other = ConversionFactory(affiliate=with_postback.affiliate)

    response = _choose_action(admin_client, action, with_postback, other)

    assert response.status_code == 200
    assert response.templates[0].name == "admin/conversions/conversion/set_status_confirmation.html"
    page = response.content.decode()
    label = status.label.lower()
    assert (
        f"<strong>2</strong> of the 2 selected conversion(s) will be set to\n    <strong>{label}</strong>"
        in page
    )
    assert "Affiliate postbacks will be sent" in page
    assert with_postback.conversion_id in page and other.conversion_id in page
    assert sorted(_hidden_fields(page)) == sorted(
        [
            ("_selected_action", str(with_postback.pk)),
            ("_selected_action", str(other.pk)),
            ("action", action),
            ("post", "yes"),
        ]
    )
    assert f'value="Yes, set 2 conversion(s) to {label}"' in page
    assert set(Conversion.objects.values_list("status", flat=True)) == {ConversionStatus.PENDING}
    assert not ConversionEvent.objects.exists() and not Delivery.objects.exists()


def test_confirming_applies_the_action_sends_the_postbacks_and_counts_what_changed(
    admin_client, manager, with_postback
):
    already = ConversionFactory(affiliate=with_postback.affiliate, status=ConversionStatus.APPROVED)
    page = _choose_action(admin_client, "approve", with_postback, already).content.decode()
    assert "<strong>1</strong> of the 2 selected conversion(s)" in page
    assert "1 already has this status: nothing is recorded or sent for it." in page

    # The page's own form, sent as it is.
    response = admin_client.post(
        reverse("admin:conversions_conversion_changelist"),
        _as_data(_hidden_fields(page)),
        follow=True,
    )

    assert response.redirect_chain == [(reverse("admin:conversions_conversion_changelist"), 302)]
    shown = [str(message) for message in response.context["messages"]]
    assert shown == ["1 conversion(s) set to approved. 1 already had this status."]
    with_postback.refresh_from_db()
    assert with_postback.status == ConversionStatus.APPROVED
    event = ConversionEvent.objects.get()
    assert (event.conversion, event.new_status, event.changed_by) == (with_postback, 1, manager)
    assert list(Delivery.objects.values_list("conversion", flat=True)) == [with_postback.pk]


def _as_data(fields: list[tuple[str, str]]) -> dict[str, list[str]]:
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)
    return data


def test_a_selection_across_every_page_is_confirmed_and_run_on_the_lists_filters(admin_client, conversion):
    others = ConversionFactory.create_batch(2, offer=conversion.offer)
    elsewhere = ConversionFactory()
    changelist = reverse("admin:conversions_conversion_changelist")
    filtered = f"{changelist}?offer__id__exact={conversion.offer_id}"

    page = admin_client.post(
        filtered, {"action": "hold", "index": 0, "select_across": 1, "_selected_action": [conversion.pk]}
    ).content.decode()

    assert "<strong>3</strong> of the 3 selected conversion(s)" in page
    assert ("select_across", "1") in _hidden_fields(page)
    response = admin_client.post(filtered, _as_data(_hidden_fields(page)), follow=True)
    assert [str(message) for message in response.context["messages"]] == ["3 conversion(s) set to hold."]
    held = Conversion.objects.filter(status=ConversionStatus.HOLD)
    assert set(held) == {conversion, *others} and elsewhere not in held


def test_the_confirmation_page_goes_back_to_the_list_it_came_from(admin_client, conversion):
    filtered = f"{reverse('admin:conversions_conversion_changelist')}?status__exact=2"
    page = admin_client.post(
        filtered, {"action": "decline", "index": 0, "_selected_action": [conversion.pk]}
    ).content.decode()
    assert f'<a href="{filtered}" class="button cancel-link">No, take me back</a>' in page


# --- The status form of a conversion's page -------------------------------------------------


def _change_page(admin_client, conversion):
    return admin_client.get(reverse("admin:conversions_conversion_change", args=[conversion.pk]))


def _status_url(conversion):
    return reverse("admin:conversions_conversion_status", args=[conversion.pk])


def test_the_conversion_page_offers_every_other_status(admin_client, conversion):
    response = _change_page(admin_client, conversion)

    form = response.context["status_form"]
    assert [label for _, label in form.fields["status"].choices] == ["Approved", "Declined", "Hold"]
    page = response.content.decode()
    assert f'action="{_status_url(conversion)}"' in page and "Status now: <strong>Pending</strong>" in page


def test_a_status_changed_from_the_conversion_page_is_recorded_and_sends_the_postbacks(
    admin_client, manager, with_postback
):
    response = admin_client.post(_status_url(with_postback), {"status": 1}, follow=True)

    change_url = reverse("admin:conversions_conversion_change", args=[with_postback.pk])
    assert response.redirect_chain == [(change_url, 302)]
    assert [str(message) for message in response.context["messages"]] == [
        f"{with_postback.conversion_id} set to approved."
    ]
    with_postback.refresh_from_db()
    assert with_postback.status == ConversionStatus.APPROVED
    event = ConversionEvent.objects.get()
    assert (event.old_status, event.new_status, event.source, event.changed_by) == (2, 1, "manager", manager)
    assert Delivery.objects.filter(conversion=with_postback).count() == 1
    assert "Status now: <strong>Approved</strong>" in response.content.decode()


def test_a_change_the_status_rules_refuse_shows_their_message_on_the_form(admin_client, conversion):
    Conversion.objects.filter(pk=conversion.pk).update(
        status=ConversionStatus.DECLINED, decline_reason="Goal not found", unknown_goal="purchase"
    )

    response = admin_client.post(_status_url(conversion), {"status": 1})

    assert response.status_code == 400
    page = response.content.decode()
    assert "The status was not changed." in page
    assert "does not have: add that goal to the offer first, then change the status." in page
    assert 'class="errorlist' in page and "<select" in page
    conversion.refresh_from_db()
    assert conversion.status == ConversionStatus.DECLINED and not ConversionEvent.objects.exists()


@pytest.mark.parametrize("data", [{"status": "2"}, {"status": "4"}, {"status": "x"}, {"status": ""}, {}])
def test_the_current_status_or_no_status_is_refused_with_a_reason(admin_client, conversion, data):
    response = admin_client.post(_status_url(conversion), data)

    assert response.status_code == 400
    assert "errorlist" in response.content.decode()
    assert not ConversionEvent.objects.exists()


def test_the_status_page_shows_the_form_on_its_own(admin_client, conversion):
    response = admin_client.get(_status_url(conversion))
    assert response.status_code == 200 and "Change status" in response.content.decode()
    assert admin_client.get(reverse("admin:conversions_conversion_status", args=[999999])).status_code == 404


def test_staff_without_the_change_right_get_no_status_form(client, conversion):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_conversion"))
    client.force_login(viewer)

    page = _change_page(client, conversion)

    assert page.status_code == 200 and "status_form" not in page.context
    assert client.post(_status_url(conversion), {"status": 1}).status_code == 403
    conversion.refresh_from_db()
    assert conversion.status == ConversionStatus.PENDING


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
