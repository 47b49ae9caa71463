"""API authentication, rights, throttling, pagination and the schema."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from rest_framework.test import APIClient

from api.models import ApiKey
from api.services import api_key_issue, api_key_revoke
from tests.conftest import api_client_for
from tests.factories import OfferFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_request_without_key_is_401(db):
    response = APIClient().get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}


@pytest.mark.parametrize(
    "header", [{"HTTP_API_KEY": "nope"}, {"HTTP_AUTHORIZATION": "Bearer nope"}, {"HTTP_API_KEY": "x" * 5000}]
)
def test_a_wrong_key_is_401(db, header):
    response = APIClient().get("/api/v1/me/", **header)
    assert response.status_code == 401 and response.json() == {"detail": "Invalid API key."}


def test_the_key_is_accepted_as_api_key_header_or_bearer_token(affiliate):
    _, raw_key = api_key_issue(user=affiliate.user)
    assert APIClient().get("/api/v1/me/", HTTP_API_KEY=raw_key).status_code == 200
    assert APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw_key}").status_code == 200


def test_keys_are_stored_hashed(affiliate):
    _, raw_key = api_key_issue(user=affiliate.user)
    stored = ApiKey.objects.get(user=affiliate.user)
    assert raw_key not in (stored.key_hash, stored.prefix) and raw_key.startswith(stored.prefix)


def test_a_revoked_key_or_a_deactivated_user_is_401(affiliate):
    api_key, raw_key = api_key_issue(user=affiliate.user)
    api_key_revoke(api_key=api_key)
    assert APIClient().get("/api/v1/me/", HTTP_API_KEY=raw_key).status_code == 401
    _, raw_key = api_key_issue(user=affiliate.user)
    affiliate.user.is_active = False
    affiliate.user.save()
    assert APIClient().get("/api/v1/me/", HTTP_API_KEY=raw_key).status_code == 401


def test_an_affiliate_key_cannot_use_manager_endpoints(affiliate_api):
    for url in [
        "/api/v1/manage/offers/",
        "/api/v1/manage/advertisers/",
        "/api/v1/manage/affiliates/",
        "/api/v1/manage/offer-access/",
    ]:
        response = affiliate_api.get(url)
        assert response.status_code == 403, url
        assert response.json() == {"detail": "Manager endpoints need a staff user's key."}


def test_a_key_of_a_user_who_is_no_affiliate_cannot_use_partner_endpoints(db):
    client = api_client_for(UserFactory())
    response = client.get("/api/v1/offers/")
    assert response.status_code == 403
    assert response.json() == {"detail": "This key does not belong to an active affiliate."}


def test_a_blocked_affiliates_key_is_refused(affiliate, affiliate_api):
    affiliate.status = "blocked"
    affiliate.save()
    assert affiliate_api.get("/api/v1/offers/").status_code == 403


@override_settings(API_THROTTLE_RATE="3/min")
def test_each_key_is_throttled_on_its_own(affiliate, other_affiliate):
    first, second = api_client_for(affiliate.user), api_client_for(other_affiliate.user)
    assert [first.get("/api/v1/me/").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert second.get("/api/v1/me/").status_code == 200


def test_lists_are_paginated_with_a_count(affiliate_api):
    for _ in range(3):
        OfferFactory()
    body = affiliate_api.get("/api/v1/offers/", {"page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert affiliate_api.get("/api/v1/offers/", {"page": 99}).status_code == 404


def test_the_schema_and_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in [
        "/api/v1/me/",
        "/api/v1/offers/",
        "/api/v1/offers/{id}/tracking-link/",
        "/api/v1/manage/offers/",
        "/api/v1/manage/affiliates/",
        "/api/v1/manage/advertisers/",
        "/api/v1/manage/offer-access/",
    ]:
        assert path in text, path
    assert "API-Key" in text
    docs = client.get("/api/v1/docs/").content.decode()
    assert "swagger-ui" in docs and "/static/drf_spectacular_sidecar/" in docs
    assert "cdn" not in docs.lower()


def test_the_api_key_command_prints_a_working_key_on_its_last_line(affiliate, capsys):
    call_command("api_key", affiliate.user.username)
    raw_key = capsys.readouterr().out.strip().splitlines()[-1]
    assert APIClient().get("/api/v1/me/", HTTP_API_KEY=raw_key).json()["pid"] == affiliate.pid


def test_the_api_key_command_names_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("api_key", "ghost")
