"""The affiliate portal: who gets in, what each affiliate sees, and the offer pages."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from api.models import ApiKey
from offers.models import Offer, OfferAccess
from tests.factories import PASSWORD, AffiliateFactory, OfferAccessFactory, OfferFactory

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    for url in ["/", "/offers/", "/settings/api-key/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


def test_an_affiliate_logs_in_with_username_and_password(client, affiliate):
    page = client.get("/accounts/login/").content.decode()
    assert 'name="username"' in page and 'name="password"' in page
    response = client.post("/accounts/login/", {"username": affiliate.user.username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    dashboard = client.get("/").content.decode()
    assert f"pid {affiliate.pid}" in dashboard


def test_a_wrong_password_is_refused_with_a_message(client, affiliate):
    response = client.post("/accounts/login/", {"username": affiliate.user.username, "password": "wrong"})
    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()


def test_logout_ends_the_session(portal):
    response = portal.post("/accounts/logout/")
    assert response.status_code == 302
    assert portal.get("/").status_code == 302


def test_an_affiliate_changes_their_password(portal, affiliate):
    response = portal.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-much-better-secret-7",
            "new_password2": "a-much-better-secret-7",
        },
    )
    assert response.status_code == 302
    affiliate.user.refresh_from_db()
    assert affiliate.user.check_password("a-much-better-secret-7")


def test_managers_are_sent_to_the_admin_panel(client, manager):
    client.force_login(manager)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_a_blocked_affiliate_is_refused_with_a_reason(portal, affiliate):
    affiliate.status = "blocked"
    affiliate.save()
    response = portal.get("/offers/")
    assert response.status_code == 403
    assert "blocked" in response.content.decode()


def test_the_layout_has_the_affiliate_navigation_and_local_assets_only(portal):
    page = portal.get("/").content.decode()
    for label in ["Dashboard", "Offers", "Settings", "API key", "Log out"]:
        assert label in page
    assert 'name="viewport"' in page
    assert "/static/css/portal.css" in page
    assert "cdn" not in page.lower() and "https://" not in page


def test_the_offer_list_shows_active_offers_with_access_states(portal, affiliate):
    public = OfferFactory(title="Public sweepstakes")
    private = OfferFactory(title="Private casino", visibility=Offer.Visibility.PRIVATE)
    approved = OfferAccessFactory(
        affiliate=affiliate, status="approved", offer__title="Approved dating"
    ).offer
    paused = OfferFactory(title="Paused offer", status=Offer.Status.PAUSED)
    page = portal.get("/offers/").content.decode()
    assert public.title in page and private.title in page and approved.title in page
    assert paused.title not in page
    assert page.count("Request access") == 1
    assert "access approved" in page


def test_offers_are_searched_by_title_or_id(portal):
    wanted, other = OfferFactory(title="Fitness app"), OfferFactory(title="Casino")
    by_title = portal.get("/offers/", {"q": "fitness"}).content.decode()
    assert wanted.title in by_title and other.title not in by_title
    by_id = portal.get("/offers/", {"q": str(other.offer_id)}).content.decode()
    assert other.title in by_id and wanted.title not in by_id
    assert "No offer matches" in portal.get("/offers/", {"q": "nothing like this"}).content.decode()


def test_the_offer_page_shows_goals_payouts_and_the_tracking_link(portal, affiliate):
    offer = OfferFactory(
        goals=[{"value": "install", "title": "Install", "payout": "1.25", "currency": "EUR"}]
    )
    page = portal.get(f"/offers/{offer.offer_id}/").content.decode()
    assert "Install" in page and "1.25" in page and "EUR" in page
    assert f"/click?pid={affiliate.pid}&amp;offer_id={offer.offer_id}" in page


def test_a_private_offer_page_hides_the_link_until_access_is_approved(portal):
    offer = OfferFactory(visibility=Offer.Visibility.PRIVATE)
    page = portal.get(f"/offers/{offer.offer_id}/").content.decode()
    assert "/click?" not in page and "Request access" in page


def test_requesting_access_reaches_the_managers_queue(portal, affiliate):
    offer = OfferFactory(visibility=Offer.Visibility.PRIVATE)
    response = portal.post(f"/offers/{offer.offer_id}/request-access/", follow=True)
    assert "Access requested" in response.content.decode()
    access = OfferAccess.objects.get(offer=offer, affiliate=affiliate)
    assert access.status == OfferAccess.Status.PENDING


def test_requesting_access_to_a_public_offer_explains_why_not(portal, affiliate):
    offer = OfferFactory()
    response = portal.post(f"/offers/{offer.offer_id}/request-access/", follow=True)
    assert "no access request is needed" in response.content.decode()
    assert not OfferAccess.objects.exists()


@pytest.mark.parametrize("url", ["/offers/{id}/", "/offers/{id}/request-access/"])
def test_unknown_paused_or_absurd_offer_ids_are_not_found(portal, url):
    paused = OfferFactory(status=Offer.Status.PAUSED)
    for offer_id in [paused.offer_id, 424242, 99999999999999999999]:
        response = (
            portal.post(url.format(id=offer_id)) if "request" in url else portal.get(url.format(id=offer_id))
        )
        assert response.status_code == 404


def test_an_affiliate_never_sees_another_affiliates_access_state(portal, affiliate):
    OfferAccessFactory(affiliate=AffiliateFactory(), status="approved", offer__title="Someone else's")
    page = portal.get("/offers/").content.decode()
    assert "Someone else" in page and "access approved" not in page


def test_a_new_api_key_is_shown_once_and_works(portal, affiliate):
    response = portal.post("/settings/api-key/", {"name": "my tracker"}, follow=True)
    raw_key = response.context["new_api_key"]
    assert raw_key in response.content.decode()
    assert raw_key not in portal.get("/settings/api-key/").content.decode()
    assert APIClient().get("/api/v1/me/", HTTP_API_KEY=raw_key).json()["pid"] == affiliate.pid


def test_an_affiliate_revokes_their_key_but_not_anothers(portal, affiliate, other_affiliate):
    portal.post("/settings/api-key/", {"name": "old"})
    own = ApiKey.objects.get(user=affiliate.user)
    portal.post("/settings/api-key/", {"name": "theirs"})
    ApiKey.objects.filter(user=affiliate.user, name="theirs").update(user=other_affiliate.user)
    theirs = ApiKey.objects.get(user=other_affiliate.user)
    assert portal.get(f"/settings/api-key/{theirs.pk}/revoke/").status_code == 404
    assert portal.post(f"/settings/api-key/{theirs.pk}/revoke/", {"confirm": "yes"}).status_code == 404
    assert portal.post("/settings/api-key/", {"revoke": theirs.pk}).status_code == 404
    assert portal.post("/settings/api-key/", {"revoke": "not-a-number"}).status_code == 404
    portal.post(f"/settings/api-key/{own.pk}/revoke/", {"confirm": "yes"})
    own.refresh_from_db()
    theirs.refresh_from_db()
    assert own.revoked_at is not None and theirs.revoked_at is None


def test_portal_forms_require_a_csrf_token(affiliate):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(affiliate.user)
    offer = OfferFactory(visibility=Offer.Visibility.PRIVATE)
    assert strict.post(f"/offers/{offer.offer_id}/request-access/").status_code == 403
    assert not OfferAccess.objects.exists()


def test_pages_link_to_each_other(portal):
    offer = OfferFactory()
    assert reverse("offers:detail", args=[offer.offer_id]) in portal.get("/offers/").content.decode()
