"""Sending a postback for past conversions from the portal, the API and the admin: the preview, the
queued backfill, the refusals, another affiliate's postback out of reach, and the log's mark."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery import app as celery_app
from postbacks import backfill
from postbacks.models import Delivery
from tests.factories import (
    AffiliateFactory,
    ConversionEventFactory,
    ConversionFactory,
    DeliveryFactory,
    OfferFactory,
    PostbackFactory,
)

pytestmark = pytest.mark.django_db


def run_queued(callbacks) -> None:
    """Run the tasks queued after a commit here, as a worker would (the senders they would wake
    are left asleep)."""
    celery_app.conf.task_always_eager = True
    try:
        for callback in callbacks:
            callback()
    finally:
        celery_app.conf.task_always_eager = False


@pytest.fixture
def offer():
    return OfferFactory()


def past_conversions(affiliate, offer, count: int, *, days_ago: int = 1) -> list:
    conversions = []
    for _ in range(count):
        conversion = ConversionFactory(
            affiliate=affiliate, offer=offer, created_at=timezone.now() - timedelta(days=days_ago)
        )
        ConversionEventFactory(conversion=conversion)
        conversions.append(conversion)
    return conversions


def days(first_days_ago: int, last_days_ago: int = 0) -> dict:
    today = timezone.now().date()
    return {
        "date_from": (today - timedelta(days=first_days_ago)).isoformat(),
        "date_to": (today - timedelta(days=last_days_ago)).isoformat(),
    }


def backfill_page(postback) -> str:
    if postback.offer_id:
        return f"/offers/{postback.offer.offer_id}/postbacks/{postback.pk}/backfill/"
    return f"/settings/postbacks/{postback.pk}/backfill/"


# --- Portal ---------------------------------------------------------------------------------


@pytest.mark.parametrize("local", [True, False])
def test_the_postback_list_links_each_enabled_postback_to_its_backfill(portal, affiliate, offer, local):
    postback = PostbackFactory(affiliate=affiliate, offer=offer if local else None)
    PostbackFactory(affiliate=affiliate, offer=offer if local else None, enabled=False)
    page = portal.get(
        f"/offers/{offer.offer_id}/postbacks/" if local else "/settings/postbacks/"
    ).content.decode()
    assert page.count("Send for past conversions") == 1
    assert f'href="{backfill_page(postback)}"' in page


def test_the_page_previews_the_count_then_queues_the_backfill(
    portal, affiliate, offer, django_capture_on_commit_callbacks
):
    postback = PostbackFactory(affiliate=affiliate, offer=offer)
    past_conversions(affiliate, offer, 3)

    first = portal.get(backfill_page(postback))
    assert first.status_code == 200 and first.context["count"] is None
    preview = portal.get(backfill_page(postback), days(6))
    assert preview.context["count"] == 3
    assert "Send 3 postbacks" in preview.content.decode()
    assert not Delivery.objects.exists()

    with django_capture_on_commit_callbacks() as queued:
        sent = portal.post(backfill_page(postback), days(6), follow=True)
    run_queued(queued)

    assert sent.redirect_chain[-1][0] == f"/offers/{offer.offer_id}/postbacks/"
    assert "Queued: 3 postbacks for past conversions" in sent.content.decode()
    assert Delivery.objects.filter(postback=postback, is_backfill=True).count() == 3

    again = portal.post(backfill_page(postback), days(6), follow=True)
    assert "Nothing to send" in again.content.decode()
    assert Delivery.objects.count() == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (days(30), "Choose a period of at most 30 days"),
        (days(0, 3), "The end date is before the start date."),
        ({"date_from": "2026-13-01", "date_to": "x"}, "Enter a date as YYYY-MM-DD."),
        ({"date_from": "", "date_to": ""}, "Enter a day as YYYY-MM-DD."),
        ({"date_from": "1999-01-01", "date_to": "1999-01-02"}, "Enter a date from 2000-01-01"),
    ],
)
def test_a_bad_period_is_refused_on_the_page_with_the_reason(portal, affiliate, data, message):
    postback = PostbackFactory(affiliate=affiliate)
    preview = portal.get(backfill_page(postback), data)
    assert preview.status_code == 200 and preview.context["count"] is None
    assert message in preview.content.decode()
    sent = portal.post(backfill_page(postback), data)
    assert sent.status_code == 400 and message in sent.content.decode()
    assert not Delivery.objects.exists()


TOO_MANY = (
    "This period would send more than 2 postbacks, the most one backfill sends: choose a shorter period."
)


def test_a_period_past_the_most_postbacks_of_one_backfill_is_refused_at_the_preview(
    portal, affiliate_api, affiliate, offer, monkeypatch
):
    monkeypatch.setattr(backfill, "MAX_DELIVERIES", 2)
    postback = PostbackFactory(affiliate=affiliate, offer=offer)
    past_conversions(affiliate, offer, 3)

    # The count past the limit is no figure to show: the preview refuses as sending would.
    preview = portal.get(backfill_page(postback), days(6))
    assert preview.status_code == 200 and preview.context["count"] is None
    assert TOO_MANY in preview.content.decode() and "Send 3" not in preview.content.decode()
    sent = portal.post(backfill_page(postback), days(6))
    assert sent.status_code == 400 and TOO_MANY in sent.content.decode()

    url = f"/api/v1/postbacks/{postback.pk}/backfill/"
    for answer in (affiliate_api.get(url, days(6)), affiliate_api.post(url, days(6), format="json")):
        assert answer.status_code == 400 and answer.json() == {"non_field_errors": [TOO_MANY]}
    assert not Delivery.objects.exists()


def test_another_affiliates_postback_has_no_backfill_page(portal, offer):
    theirs = PostbackFactory(affiliate=AffiliateFactory(), offer=offer)
    past_conversions(theirs.affiliate, offer, 1)
    assert portal.get(backfill_page(theirs), days(6)).status_code == 404
    assert portal.post(backfill_page(theirs), days(6)).status_code == 404
    # A global postback's page does not answer for one of the affiliate's own local ones either.
    assert portal.get(f"/settings/postbacks/{theirs.pk}/backfill/").status_code == 404
    assert not Delivery.objects.exists()


def test_the_log_marks_backfill_deliveries_and_filters_by_kind(portal, affiliate):
    live = DeliveryFactory(affiliate=affiliate)
    backfilled = DeliveryFactory(affiliate=affiliate, is_backfill=True)

    page = portal.get("/statistics/postbacks/")
    assert page.content.decode().count('title="Sent for a past conversion">backfill</span>') == 1

    def listed(kind):
        return [d.pk for d in portal.get("/statistics/postbacks/", {"kind": kind}).context["deliveries"]]

    assert listed("backfill") == [backfilled.pk]
    assert listed("live") == [live.pk]
    assert portal.get("/statistics/postbacks/", {"kind": "other"}).context["form"].errors["kind"]


# --- API ----------------------------------------------------------------------------------------


def test_the_api_previews_then_queues_a_backfill(
    affiliate_api, affiliate, offer, django_capture_on_commit_callbacks
):
    postback = PostbackFactory(affiliate=affiliate, offer=offer)
    past_conversions(affiliate, offer, 2)
    url = f"/api/v1/postbacks/{postback.pk}/backfill/"

    preview = affiliate_api.get(url, days(6))
    assert preview.status_code == 200
    assert preview.json() == {**days(6), "deliveries": 2, "queued": False}

    with django_capture_on_commit_callbacks() as queued:
        answer = affiliate_api.post(url, days(6), format="json")
    assert answer.status_code == 202 and answer.json() == {**days(6), "deliveries": 2, "queued": True}
    assert len(queued) == 1
    run_queued(queued)

    listed = affiliate_api.get("/api/v1/postback-deliveries/", {"kind": "backfill"}).json()
    assert listed["count"] == 2 and all(row["is_backfill"] for row in listed["results"])
    assert affiliate_api.get(url, days(6)).json()["deliveries"] == 0


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (days(31), "date_to", "Choose a period of at most 30 days: "),
        ({"date_from": "yesterday"}, "date_from", "Enter a date as YYYY-MM-DD."),
        ({}, "date_to", "Enter a day as YYYY-MM-DD."),
    ],
)
def test_the_api_refuses_a_bad_period_precisely(affiliate_api, affiliate, data, field, message):
    postback = PostbackFactory(affiliate=affiliate)
    url = f"/api/v1/postbacks/{postback.pk}/backfill/"
    for answer in (affiliate_api.get(url, data), affiliate_api.post(url, data, format="json")):
        assert answer.status_code == 400
        assert answer.json()[field][0].startswith(message)


def test_the_api_refuses_a_body_that_is_no_object_and_a_disabled_postback(affiliate_api, affiliate):
    postback = PostbackFactory(affiliate=affiliate)
    url = f"/api/v1/postbacks/{postback.pk}/backfill/"
    answer = affiliate_api.post(url, ["2026-01-01"], format="json")
    assert answer.status_code == 400 and "object" in answer.json()["non_field_errors"][0]

    postback.enabled = False
    postback.save()
    answer = affiliate_api.post(url, days(3), format="json")
    assert answer.status_code == 400 and "disabled" in answer.json()["non_field_errors"][0]


@pytest.mark.parametrize(
    "value, message",
    [
        (["2026-01-01"], "Send a single value, not a list or an object."),
        ({"day": 1}, "Send a single value, not a list or an object."),
        (5, "Enter a date as YYYY-MM-DD."),
        (True, "Enter a date as YYYY-MM-DD."),
    ],
)
def test_the_api_refuses_a_date_that_is_no_date_precisely(affiliate_api, affiliate, value, message):
    postback = PostbackFactory(affiliate=affiliate)
    answer = affiliate_api.post(
        f"/api/v1/postbacks/{postback.pk}/backfill/", {**days(3), "date_from": value}, format="json"
    )
    assert answer.status_code == 400
    assert answer.json()["date_from"] == [message]


def test_another_affiliates_postback_cannot_be_backfilled_through_the_api(affiliate_api, offer):
    theirs = PostbackFactory(affiliate=AffiliateFactory(), offer=offer)
    past_conversions(theirs.affiliate, offer, 1)
    url = f"/api/v1/postbacks/{theirs.pk}/backfill/"
    assert affiliate_api.get(url, days(3)).status_code == 404
    assert affiliate_api.post(url, days(3), format="json").status_code == 404
    assert not Delivery.objects.exists()


# --- Admin --------------------------------------------------------------------------------------


def test_a_manager_previews_and_queues_a_backfill_in_the_admin(
    client, manager, affiliate, offer, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    postback = PostbackFactory(affiliate=affiliate, offer=offer)
    past_conversions(affiliate, offer, 2)
    url = f"/admin/postbacks/postback/{postback.pk}/backfill/"

    assert url in client.get(f"/admin/postbacks/postback/{postback.pk}/change/").content.decode()
    assert client.get(url, days(6)).context["count"] == 2
    assert client.get(url, days(40)).status_code == 400

    with django_capture_on_commit_callbacks() as queued:
        answer = client.post(url, days(6))
    assert answer.status_code == 302 and len(queued) == 1
    assert client.get(url).status_code == 200
    assert client.get("/admin/postbacks/postback/999999/backfill/").status_code == 404


def test_the_admin_refuses_a_period_past_the_most_postbacks_of_one_backfill_at_the_preview(
    client, manager, affiliate, offer, monkeypatch
):
    monkeypatch.setattr(backfill, "MAX_DELIVERIES", 2)
    client.force_login(manager)
    postback = PostbackFactory(affiliate=affiliate, offer=offer)
    past_conversions(affiliate, offer, 3)
    url = f"/admin/postbacks/postback/{postback.pk}/backfill/"

    preview = client.get(url, days(6))
    assert preview.status_code == 400 and preview.context["count"] is None
    assert TOO_MANY in preview.content.decode()
    sent = client.post(url, days(6))
    assert sent.status_code == 400 and TOO_MANY in sent.content.decode()
    assert not Delivery.objects.exists()


def test_the_admins_delivery_list_marks_backfill_deliveries_and_filters_them(client, manager, affiliate):
    DeliveryFactory(affiliate=affiliate, is_backfill=True, state=Delivery.State.SUCCEEDED)
    DeliveryFactory(affiliate=affiliate, state=Delivery.State.SUCCEEDED)
    client.force_login(manager)
    page = client.get("/admin/postbacks/delivery/").content.decode()
    column = '<td class="field-state_and_kind">'
    assert (
        page.count(f"{column}Succeeded (backfill)</td>") == 1 and page.count(f"{column}Succeeded</td>") == 1
    )
    backfill_only = client.get("/admin/postbacks/delivery/?is_backfill__exact=1").content.decode()
    assert (
        f"{column}Succeeded (backfill)</td>" in backfill_only
        and f"{column}Succeeded</td>" not in backfill_only
    )
