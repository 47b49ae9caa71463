"""Pages and files holding a secret or an affiliate's data are never kept by a browser or proxy cache."""

import pytest
from django.urls import reverse

from tests.factories import ConversionFactory

pytestmark = pytest.mark.django_db


def assert_not_stored(response):
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


def test_the_page_showing_a_new_api_key_is_not_stored(portal):
    portal.post(reverse("portal:api-key"), {"name": "tracker"})
    page = portal.get(reverse("portal:api-key"))

    assert page.context["new_api_key"]
    assert_not_stored(page)


@pytest.mark.parametrize("url", ["/statistics/csv/", "/statistics/conversions/csv/"])
def test_csv_exports_are_not_stored(portal, affiliate, url):
    ConversionFactory(affiliate=affiliate)
    response = portal.get(url)

    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert b"".join(response.streaming_content)
    assert_not_stored(response)


def test_the_page_showing_a_new_signing_secret_is_not_stored(portal):
    portal.post(reverse("postbacks:signing-secret"), {"action": "generate"})
    page = portal.get(reverse("postbacks:settings"))

    assert page.context["new_signing_secret"]
    assert_not_stored(page)


def test_every_api_answer_is_not_stored_an_advertisers_secure_code_included(manager_api, affiliate_api):
    created = manager_api.post("/api/v1/manage/advertisers/", {"name": "Shop"}, format="json")

    assert created.status_code == 201 and created.json()["secure_code"]
    assert_not_stored(created)
    assert_not_stored(affiliate_api.get("/api/v1/me/"))


def test_admin_pages_are_not_stored(client, manager):
    client.force_login(manager)

    assert_not_stored(client.get("/admin/offers/advertiser/"))


def test_answers_to_visitors_not_signed_in_are_left_as_they_are(client):
    response = client.get("/offers/")

    assert response.status_code == 302 and "Cache-Control" not in response
