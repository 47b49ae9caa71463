"""The portal's destructive steps ask first: revoking an API key, and replacing or clearing the
postback signing secret, each have a confirmation page. A GET says what will happen and changes nothing; a
POST with `confirm=yes` (the page's button) does it; a POST without it changes nothing either."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from api.models import ApiKey
from api.services import api_key_issue

pytestmark = pytest.mark.django_db

CLEAR_URL = "/settings/postbacks/signing-secret/clear/"


@pytest.fixture
def key(affiliate):
    api_key, raw_key = api_key_issue(user=affiliate.user, name="my tracker")
    api_key.raw_key = raw_key
    return api_key


def _messages(response):
    return [str(message) for message in response.context["messages"]]


def _revoke_url(api_key):
    return reverse("portal:api-key-revoke", args=[api_key.pk])


# --- Revoking an API key ---------------------------------------------------------------------


def test_the_key_list_links_each_key_to_its_confirmation_page_instead_of_revoking_it(portal, key):
    page = portal.get("/settings/api-key/").content.decode()
    assert f'href="{_revoke_url(key)}"' in page
    assert 'name="revoke"' not in page


def test_the_revoke_page_names_the_key_and_says_what_revoking_does_without_revoking_it(portal, key):
    response = portal.get(_revoke_url(key))

    assert response.status_code == 200
    page = response.content.decode()
    assert f"Revoke key <code>{key.prefix}…</code>?" in page and "my tracker" in page
    assert "refused from now on (401), for good" in page
    assert '<input type="hidden" name="confirm" value="yes">' in page
    key.refresh_from_db()
    assert key.revoked_at is None
    assert APIClient().get("/api/v1/me/", HTTP_API_KEY=key.raw_key).status_code == 200


def test_confirming_revokes_the_key_and_the_api_refuses_it(portal, key):
    response = portal.post(_revoke_url(key), {"confirm": "yes"}, follow=True)

    assert response.redirect_chain == [("/settings/api-key/", 302)]
    assert _messages(response) == [f"Key {key.prefix}… revoked."]
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert APIClient().get("/api/v1/me/", HTTP_API_KEY=key.raw_key).status_code == 401
    assert list(response.context["api_keys"]) == []


@pytest.mark.parametrize("data", [{}, {"confirm": "no"}, {"confirm": "\x00"}])
def test_a_post_without_the_confirmation_revokes_nothing_and_says_so(portal, key, data):
    response = portal.post(_revoke_url(key), data)

    assert response.status_code == 400
    assert "Nothing was revoked" in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None


def test_a_revoked_keys_page_says_so_and_offers_nothing_to_confirm(portal, key):
    portal.post(_revoke_url(key), {"confirm": "yes"})

    page = portal.get(_revoke_url(key)).content.decode()
    assert "is revoked" in page and 'name="confirm"' not in page


def test_another_users_key_or_an_unknown_one_is_not_found(portal, key, other_affiliate):
    theirs, _ = api_key_issue(user=other_affiliate.user)
    for url in [_revoke_url(theirs), "/settings/api-key/999999999/revoke/"]:
        assert portal.get(url).status_code == 404
        assert portal.post(url, {"confirm": "yes"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_the_list_form_of_old_leads_to_the_confirmation_page(portal, key):
    response = portal.post("/settings/api-key/", {"revoke": key.pk})

    assert response.status_code == 302 and response["Location"] == _revoke_url(key)
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
    assert ApiKey.objects.filter(user=key.user).count() == 1  # and no key was issued instead


# --- Clearing the signing secret ------------------------------------------------------------


@pytest.fixture
def signed(affiliate):
    affiliate.signing_secret = "the-secret"
    affiliate.save(update_fields=["signing_secret"])
    return affiliate


def test_the_settings_page_links_to_the_clear_confirmation_page(portal, signed):
    page = portal.get("/settings/postbacks/").content.decode()
    assert f'href="{CLEAR_URL}"' in page and 'value="clear"' not in page


def test_the_clear_page_says_postbacks_go_unsigned_without_clearing_anything(portal, signed):
    response = portal.get(CLEAR_URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Clear the signing secret?" in page and "sent <strong>unsigned</strong>" in page
    assert '<input type="hidden" name="confirm" value="yes">' in page
    signed.refresh_from_db()
    assert signed.signing_secret == "the-secret"


def test_confirming_clears_the_secret(portal, signed):
    response = portal.post(CLEAR_URL, {"confirm": "yes"}, follow=True)

    assert response.redirect_chain == [("/settings/postbacks/", 302)]
    assert _messages(response) == ["Signing secret cleared: postbacks are sent unsigned."]
    signed.refresh_from_db()
    assert signed.signing_secret == ""


@pytest.mark.parametrize("data", [{}, {"confirm": "no"}])
def test_a_post_without_the_confirmation_clears_nothing_and_says_so(portal, signed, data):
    response = portal.post(CLEAR_URL, data)

    assert response.status_code == 400
    assert "Nothing was cleared" in response.content.decode()
    signed.refresh_from_db()
    assert signed.signing_secret == "the-secret"


def test_the_clear_button_of_old_leads_to_the_confirmation_page(portal, signed):
    response = portal.post("/settings/postbacks/signing-secret/", {"action": "clear"})

    assert response.status_code == 302 and response["Location"] == CLEAR_URL
    signed.refresh_from_db()
    assert signed.signing_secret == "the-secret"


def test_without_a_secret_the_clear_page_has_nothing_to_confirm(portal, affiliate):
    page = portal.get(CLEAR_URL).content.decode()
    assert "No signing secret is set" in page and 'name="confirm"' not in page


# --- Replacing the signing secret -------------------------------------------------------------

REPLACE_URL = "/settings/postbacks/signing-secret/"


def test_the_settings_page_links_to_the_replace_confirmation_page_instead_of_replacing(portal, signed):
    page = portal.get("/settings/postbacks/").content.decode()
    assert f'<a class="button" href="{REPLACE_URL}">Generate a new secret</a>' in page
    assert 'value="generate"' not in page


def test_the_replace_page_says_the_servers_check_breaks_without_replacing_anything(portal, signed):
    response = portal.get(REPLACE_URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert (
        "Replace the signing secret?" in page
        and "refuses them" in page
        and "until it has the new one" in page
    )
    assert '<input type="hidden" name="confirm" value="yes">' in page
    signed.refresh_from_db()
    assert signed.signing_secret == "the-secret"


def test_confirming_replaces_the_secret_and_shows_the_new_one_once(portal, signed):
    response = portal.post(REPLACE_URL, {"action": "generate", "confirm": "yes"}, follow=True)

    assert response.redirect_chain == [("/settings/postbacks/", 302)]
    signed.refresh_from_db()
    assert signed.signing_secret not in {"", "the-secret"}
    assert f'id="new-signing-secret">{signed.signing_secret}</code>' in response.content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {"action": "generate"},
        {"action": "generate", "confirm": "no"},
        {"action": "generate", "confirm": "\x00"},
    ],
)
def test_a_post_without_the_confirmation_replaces_nothing_and_says_so(portal, signed, data):
    response = portal.post(REPLACE_URL, data)

    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was replaced" in page and "Replace the signing secret?" in page
    signed.refresh_from_db()
    assert signed.signing_secret == "the-secret"


def test_without_a_secret_one_is_generated_at_once_since_nothing_is_lost(portal, affiliate):
    page = portal.get("/settings/postbacks/").content.decode()
    assert '<button type="submit" name="action" value="generate">Generate a secret</button>' in page

    portal.post(REPLACE_URL, {"action": "generate"})

    affiliate.refresh_from_db()
    assert len(affiliate.signing_secret) == 64
