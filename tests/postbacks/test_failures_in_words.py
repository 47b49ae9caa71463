"""A failure is said in words with what to check, and its raw error ("[Errno 111] Connect call
failed ...") stays one click away, in a <details> element: the reason the platform disabled a
postback (in the portal's list and form, the integration test and the admin), and the admin's
delivery list, a delivery's page and its attempts. postbacks.explanations explains them all."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from postbacks import queue
from postbacks.explanations import disabled_reason, explain_disabled
from postbacks.models import Delivery, Postback
from postbacks.outbound import Outcome
from tests.factories import DeliveryFactory, OfferFactory, PostbackFactory, failed_delivery_with_attempt

pytestmark = pytest.mark.django_db

REFUSED = "Could not connect: [Errno 111] Connect call failed ('127.0.0.1', 8399)"
DISABLED = f"Disabled on 2026-01-02 03:04 UTC: every delivery failed for 3 days. Last error: {REFUSED}"
URL = "http://127.0.0.1:8399/pb?c={clickid}"


def outside_details(page: str) -> str:
    """The page without its <details> elements: what shows before any click."""
    return re.sub(r"<details>.*?</details>", "", page, flags=re.S)


def assert_in_words(page: str, raw: str, *words: str):
    """`words` show on the page, and `raw` only inside a <details> element."""
    assert escape(raw) in page, raw
    assert escape(raw) not in outside_details(page) and raw not in outside_details(page)
    for text in words:
        assert text in outside_details(page), text


# --- The reason a postback was disabled -------------------------------------------------------


@pytest.mark.parametrize(
    "error, title, advice",
    [
        (REFUSED, "Connection refused", "Is your server running and listening on port 8399?"),
        (
            "HTTP 500: a postback needs a 2xx answer",
            "Answered 500 (Internal Server Error)",
            "check its error log",
        ),
        ("HTTP 404: a postback needs a 2xx answer", "Answered 404 (Not Found)", "check the path"),
        (
            "Redirect (302) to https://example.com/new not followed",
            "Redirect (302) not followed",
            "example.com/new",
        ),
        ("Timed out connecting (after 3 s)", "Timed out connecting", "within 3 seconds"),
    ],
)
def test_the_stored_reason_reads_back_as_when_why_and_the_last_failure_explained(error, title, advice):
    reason = disabled_reason(at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC), days=3, error=error)

    why = explain_disabled(reason, url=URL)

    assert why.summary == "Disabled on 2026-01-02 03:04 UTC: every delivery failed for 3 days."
    assert (why.last_failure.title, why.last_failure.detail) == (title, error)
    assert advice in why.last_failure.advice
    assert error not in why.text and why.text.startswith(f"{why.summary} Last failure: {title}.")


def test_a_reason_that_names_no_last_error_is_kept_as_it_is():
    why = explain_disabled("Disabled by hand", url=URL)
    assert (why.summary, why.last_failure, why.text) == ("Disabled by hand", None, "Disabled by hand")


def test_a_reason_cut_to_its_field_still_reads_back():
    long_error = "Could not connect: " + "x" * 400
    reason = disabled_reason(at=timezone.now(), days=3, error=long_error)[:255]

    why = explain_disabled(reason)

    assert (
        why.last_failure.title == "Not delivered"
        and why.last_failure.detail == reason.split("Last error: ")[1]
    )


def test_the_platform_disables_a_failing_postback_with_a_reason_that_reads_back(affiliate):
    postback = PostbackFactory(affiliate=affiliate, url=URL)
    Postback.objects.filter(pk=postback.pk).update(failing_since=timezone.now() - timedelta(days=30))
    [row] = queue.claim([DeliveryFactory(affiliate=affiliate, postback=postback).pk])

    queue.record([(row, 0.0, Outcome(0, REFUSED, "", 5))])

    postback.refresh_from_db()
    assert not postback.enabled
    why = explain_disabled(postback.disabled_reason, url=postback.url)
    assert (why.last_failure.title, why.last_failure.detail) == ("Connection refused", REFUSED)


@pytest.fixture
def disabled(affiliate):
    offer = OfferFactory(goals=[{"value": "sale", "title": "Sale"}])
    return PostbackFactory(affiliate=affiliate, offer=offer, url=URL, enabled=False, disabled_reason=DISABLED)


def test_the_portals_postback_list_says_why_in_words(portal, disabled):
    page = portal.get(f"/offers/{disabled.offer.offer_id}/postbacks/").content.decode()
    assert_in_words(
        page,
        REFUSED,
        "every delivery failed for 3 days. The last failure:",
        "Connection refused",
        "Is your server running and listening on port 8399?",
    )


def test_the_portals_postback_form_says_why_in_words_and_how_to_enable_it(portal, disabled):
    page = portal.get(f"/offers/{disabled.offer.offer_id}/postbacks/{disabled.pk}/").content.decode()
    assert_in_words(page, REFUSED, "Connection refused", "Tick “Enabled” and save to turn it on again.")


def test_the_integration_test_names_the_last_failure_without_the_raw_error(portal, disabled):
    page = portal.post(
        "/integration-test/",
        {"offer": disabled.offer.offer_id, "postback": disabled.pk, "url": ""},
    ).content.decode()
    assert "This postback is disabled, so real conversions do not reach it" in page
    assert "Last failure: Connection refused." in page
    assert escape(REFUSED) not in outside_details(page)


# --- The admin's postbacks and deliveries ------------------------------------------------------


@pytest.fixture
def admin_client(client, manager):
    client.force_login(manager)
    return client


def test_the_admins_postback_list_and_page_say_why_in_words(admin_client, disabled):
    listed = admin_client.get(reverse("admin:postbacks_postback_changelist")).content.decode()
    assert_in_words(listed, REFUSED, "Connection refused", "Is your server running")

    page = admin_client.get(reverse("admin:postbacks_postback_change", args=[disabled.pk])).content.decode()
    assert_in_words(page, REFUSED, "Disabled because", "Connection refused", "Is your server running")


@pytest.fixture
def failed_delivery(affiliate):
    return failed_delivery_with_attempt(affiliate=affiliate, error=REFUSED)


def test_the_admins_delivery_list_says_what_happened_in_words(admin_client, failed_delivery):
    page = admin_client.get(reverse("admin:postbacks_delivery_changelist")).content.decode()
    assert_in_words(page, REFUSED, "What happened", "Connection refused", "Is your server running")


def test_a_deliverys_admin_page_and_its_attempts_say_what_happened_in_words(admin_client, failed_delivery):
    page = admin_client.get(
        reverse("admin:postbacks_delivery_change", args=[failed_delivery.pk])
    ).content.decode()
    assert_in_words(page, REFUSED, "Connection refused", "listening on port 8399")
    # The delivery's last attempt and the attempt's row, each explained.
    assert outside_details(page).count("Connection refused") == 2


def test_a_delivered_postback_is_said_delivered(admin_client, affiliate):
    DeliveryFactory(affiliate=affiliate, state=Delivery.State.SUCCEEDED, http_code=200, attempts=1)
    page = admin_client.get(reverse("admin:postbacks_delivery_changelist")).content.decode()
    assert '<td class="field-what_happened">Delivered</td>' in page
