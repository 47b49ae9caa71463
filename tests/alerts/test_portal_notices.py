"""What an affiliate sees of their alerts in the portal: a notice on every page while a postback
is failing or disabled, and of its recovery; only their own; dismissed until the next change;
Settings > Alerts turns the emails off and on, as the API's `me` does."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from alerts.models import PostbackAlert
from alerts.services import alerts_evaluate
from tests.alerts.conftest import FAILED, SUCCEEDED, deliver
from tests.conftest import api_client_for
from tests.factories import OfferFactory, PostbackFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing(affiliate):
    postback = PostbackFactory(affiliate=affiliate, offer=OfferFactory(title="Fitness App"))
    deliver(postback, FAILED, times=5)
    alerts_evaluate(now=timezone.now())
    return postback


def test_a_failing_postback_shows_a_notice_on_every_page(portal, failing):
    for page in ["portal:dashboard", "offers:list", "postbacks:log", "alerts:settings"]:
        html = portal.get(reverse(page)).content.decode()
        assert f'id="alert-notice-{failing.alert.pk}"' in html, page
        assert "Postback failing:" in html
        assert "The last 5 deliveries failed." in html
        assert reverse("postbacks:offer-edit", args=[failing.offer.offer_id, failing.pk]) in html


def test_a_disabled_postback_shows_a_notice(portal, affiliate):
    PostbackFactory(affiliate=affiliate, enabled=False, disabled_reason="Disabled on ...")
    alerts_evaluate(now=timezone.now())

    html = portal.get(reverse("portal:dashboard")).content.decode()

    assert "Postback disabled:" in html
    assert "No conversion reaches it until you enable it again." in html


def test_a_recovery_replaces_the_trouble_notice(portal, failing):
    deliver(failing, SUCCEEDED)
    alerts_evaluate(now=timezone.now())

    html = portal.get(reverse("portal:dashboard")).content.decode()

    assert "Postback working again:" in html
    assert "Postback failing:" not in html


def test_an_affiliate_sees_only_their_own_notices(client, failing, other_affiliate):
    client.force_login(other_affiliate.user)

    html = client.get(reverse("portal:dashboard")).content.decode()

    assert "alert-notice" not in html


def test_another_affiliates_notice_cannot_be_dismissed(client, failing, other_affiliate):
    client.force_login(other_affiliate.user)

    response = client.post(reverse("alerts:dismiss", args=[failing.alert.pk]))

    assert response.status_code == 404
    assert PostbackAlert.objects.get(pk=failing.alert.pk).notice_shown


def test_a_dismissed_notice_stays_away_until_the_next_change(portal, failing):
    back = reverse("postbacks:log") + "?state=failed"
    response = portal.post(reverse("alerts:dismiss", args=[failing.alert.pk]), {"next": back})

    assert response.status_code == 302 and response.url == back
    assert "alert-notice" not in portal.get(reverse("portal:dashboard")).content.decode()
    deliver(failing, SUCCEEDED)
    alerts_evaluate(now=timezone.now())
    assert "Postback working again:" in portal.get(reverse("portal:dashboard")).content.decode()


@pytest.mark.parametrize(
    "hostile", ["https://evil.example/", "//evil.example/", "javascript:alert(1)", "", "x" * 5000]
)
def test_dismissing_goes_back_only_to_a_page_of_the_portal(portal, failing, hostile):
    response = portal.post(reverse("alerts:dismiss", args=[failing.alert.pk]), {"next": hostile})

    assert response.status_code == 302 and response.url == reverse("portal:dashboard")


def test_dismissing_answers_bad_requests_with_4xx(portal, failing):
    assert portal.get(reverse("alerts:dismiss", args=[failing.alert.pk])).status_code == 405
    assert portal.post("/alerts/999999999999999999/dismiss/").status_code == 404
    assert portal.post("/alerts/9999999999999999999/dismiss/").status_code == 404
    assert portal.post("/alerts/abc/dismiss/").status_code == 404


def test_the_settings_page_turns_alert_emails_off_and_on(portal, affiliate):
    page = portal.get(reverse("alerts:settings")).content.decode()
    assert 'name="alert_emails"' in page and "checked" in page
    assert "Nothing to tell" in page

    response = portal.post(reverse("alerts:settings"), {})
    assert response.status_code == 302
    affiliate.refresh_from_db()
    assert affiliate.alert_emails is False
    assert "Alert emails turned off." in portal.get(reverse("alerts:settings")).content.decode()

    portal.post(reverse("alerts:settings"), {"alert_emails": "on"})
    affiliate.refresh_from_db()
    assert affiliate.alert_emails is True


def test_the_settings_page_is_for_affiliates(client, manager):
    assert client.get(reverse("alerts:settings")).status_code == 302  # to the login
    client.force_login(manager)
    assert client.get(reverse("alerts:settings")).status_code == 302  # to the admin


def test_the_api_reads_and_sets_alert_emails(affiliate):
    api = api_client_for(affiliate.user)
    assert api.get("/api/v1/me/").json()["alert_emails"] is True

    response = api.patch("/api/v1/me/", {"alert_emails": False}, format="json")

    assert response.status_code == 200 and response.json()["alert_emails"] is False
    affiliate.refresh_from_db()
    assert affiliate.alert_emails is False
    assert api.patch("/api/v1/me/", {"alert_emails": "maybe"}, format="json").status_code == 400


def test_the_notices_are_read_in_one_query_however_many(portal, affiliate):
    for title in ["One", "Two", "Three"]:
        deliver(PostbackFactory(affiliate=affiliate, offer=OfferFactory(title=title)), FAILED, times=5)
    alerts_evaluate(now=timezone.now())

    with CaptureQueriesContext(connection) as queries:
        html = portal.get(reverse("portal:dashboard")).content.decode()

    assert html.count('class="message notice') == 3
    assert len([query for query in queries if "alerts_postbackalert" in query["sql"]]) == 1
    assert len([query for query in queries if query["sql"].startswith('SELECT "offers_offer"')]) < 3
