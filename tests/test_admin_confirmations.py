"""The admin's actions that cannot be taken back with one click ask first, like "Delete selected"
and the conversions' status actions: revoking API keys, approving or rejecting access requests,
pausing offers and blocking affiliates.
The list's form answers with a page that says what will happen and lists the selection, and
changes nothing; its button (`post=yes`) runs the action through the service."""

import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from api.services import api_key_issue
from offers.models import Affiliate, Offer, OfferAccess
from tests.factories import AffiliateFactory, OfferAccessFactory, OfferFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, manager):
    client.force_login(manager)
    return client


def _run(client, model, action, objects, *, confirm=False, url_query="", **extra):
    data = {"action": action, "index": 0, "_selected_action": [obj.pk for obj in objects], **extra}
    if confirm:
        data["post"] = "yes"
    return client.post(reverse(f"admin:{model}_changelist") + url_query, data, follow=confirm)


def _hidden_fields(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- Revoking API keys ------------------------------------------------------------------------


@pytest.fixture
def keys():
    issued = [api_key_issue(user=AffiliateFactory().user, name=f"tracker {n}") for n in range(2)]
    for api_key, raw_key in issued:
        api_key.raw_key = raw_key
    return [api_key for api_key, _ in issued]


def _works(api_key) -> bool:
    return APIClient().get("/api/v1/me/", HTTP_API_KEY=api_key.raw_key).status_code == 200


def test_revoking_keys_shows_what_it_does_and_revokes_nothing_yet(admin_client, keys):
    response = _run(admin_client, "api_apikey", "revoke", keys)

    assert response.status_code == 200
    assert response.templates[0].name == "admin/action_confirmation.html"
    page = response.content.decode()
    assert "Revoke 2 API key(s)?" in page
    assert "the API refuses them from now on (401), for good" in page
    for api_key in keys:
        assert f"{api_key.prefix}…" in page and api_key.name in page
        assert ("_selected_action", str(api_key.pk)) in _hidden_fields(page)
    assert ("action", "revoke") in _hidden_fields(page) and ("post", "yes") in _hidden_fields(page)
    assert 'value="Yes, revoke 2 key(s)"' in page
    assert all(_works(api_key) for api_key in keys)


def test_the_confirmation_page_button_revokes_the_keys(admin_client, keys):
    response = _run(admin_client, "api_apikey", "revoke", keys, confirm=True)

    assert _messages(response) == ["2 key(s) revoked."]
    assert not any(_works(api_key) for api_key in keys)


def test_a_key_revoked_already_is_named_and_left_as_it_was(admin_client, keys):
    _run(admin_client, "api_apikey", "revoke", keys[:1], confirm=True)
    keys[0].refresh_from_db()
    revoked_at = keys[0].revoked_at

    page = _run(admin_client, "api_apikey", "revoke", keys).content.decode()
    assert "1 of the 2 selected key(s) will be revoked" in page
    assert "1 of them already revoked: nothing changes for them." in page

    response = _run(admin_client, "api_apikey", "revoke", keys, confirm=True)
    assert _messages(response) == ["1 key(s) revoked."]
    keys[0].refresh_from_db()
    assert keys[0].revoked_at == revoked_at


# --- Deciding access requests -----------------------------------------------------------------


@pytest.fixture
def requests_():
    offer = OfferFactory(visibility="private", title="Private sweepstakes")
    return OfferAccessFactory.create_batch(2, offer=offer, status=OfferAccess.Status.PENDING)


@pytest.mark.parametrize(
    "action, status, consequence",
    [
        ("approve", "approved", "clicks on their links to it are accepted within seconds"),
        ("reject", "rejected", "clicks on their links to it are refused (“Access denied”) within seconds"),
    ],
)
def test_deciding_requests_shows_what_it_does_and_decides_nothing_yet(
    admin_client, requests_, action, status, consequence
):
    response = _run(admin_client, "offers_offeraccess", action, requests_)

    assert response.status_code == 200
    page = response.content.decode()
    assert f"{action.capitalize()} 2 access request(s)?" in page
    assert f"2 of the 2 selected request(s) will be {status}." in page and consequence in page
    assert "Private sweepstakes" in page and str(requests_[0].affiliate) in page
    assert f'value="Yes, {action} 2 request(s)"' in page
    assert set(OfferAccess.objects.values_list("status", "decided_by")) == {("pending", None)}


@pytest.mark.parametrize("action, status", [("approve", "approved"), ("reject", "rejected")])
def test_the_confirmation_page_button_decides_the_requests(admin_client, manager, requests_, action, status):
    response = _run(admin_client, "offers_offeraccess", action, requests_, confirm=True)

    assert _messages(response) == [f"2 request(s) {status}."]
    assert set(OfferAccess.objects.values_list("status", "decided_by")) == {(status, manager.pk)}


def test_a_selection_across_every_page_is_posted_back_on_the_lists_filters(admin_client, requests_):
    decided = OfferAccessFactory(status=OfferAccess.Status.APPROVED)
    query = "?status__exact=pending"

    response = _run(
        admin_client, "offers_offeraccess", "reject", requests_[:1], url_query=query, select_across=1
    )

    page = response.content.decode()
    assert "Reject 2 access request(s)?" in page  # both pending ones, not the approved one
    assert ("select_across", "1") in _hidden_fields(page)
    assert f'href="{reverse("admin:offers_offeraccess_changelist")}{query}"' in page  # "No, take me back"
    decided.refresh_from_db()
    assert decided.status == OfferAccess.Status.APPROVED


# --- Pausing offers, blocking affiliates ------------------------------------------------------


def test_pausing_offers_shows_what_it_does_and_pauses_nothing_yet(admin_client):
    offers = [OfferFactory(title="Summer sale"), OfferFactory(title="Winter sale")]

    page = _run(admin_client, "offers_offer", "pause", offers).content.decode()

    assert "Pause 2 offer(s)?" in page and "Summer sale" in page and "Winter sale" in page
    assert "advertiser postbacks for them are refused (“Offer disabled”), also for clicks made before" in page
    assert {offer.status for offer in Offer.objects.all()} == {"active"}

    response = _run(admin_client, "offers_offer", "pause", offers, confirm=True)
    assert _messages(response) == ["2 offer(s) paused."]
    assert {offer.status for offer in Offer.objects.all()} == {"paused"}


def test_blocking_affiliates_shows_what_it_does_and_blocks_nothing_yet(admin_client):
    affiliates = [AffiliateFactory(), AffiliateFactory()]

    page = _run(admin_client, "offers_affiliate", "block", affiliates).content.decode()

    assert "Block 2 affiliate(s)?" in page and "the portal and the API refuse them (403)" in page
    assert all(affiliate.user.email in page for affiliate in affiliates)
    assert {affiliate.status for affiliate in Affiliate.objects.all()} == {"active"}

    response = _run(admin_client, "offers_affiliate", "block", affiliates, confirm=True)
    assert _messages(response) == ["2 affiliate(s) blocked."]
    assert {affiliate.status for affiliate in Affiliate.objects.all()} == {"blocked"}
