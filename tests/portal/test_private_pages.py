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
