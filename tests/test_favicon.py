"""The site's icon: every page names it, and /favicon.ico answers for the answers that cannot
(JSON, images), so no browser request for an icon fails."""

from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static

pytestmark = pytest.mark.django_db

ICON = static("favicon.svg")


def test_favicon_ico_leads_to_the_icon_among_the_static_files(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 302 and response["Location"] == ICON
    # A static file, collected and served like the others (the browser test loads it).
    assert Path(finders.find("favicon.svg")).read_text().startswith("<svg ")


def test_favicon_ico_keeps_no_query_string(client):
    assert client.get("/favicon.ico?x=%00").headers["Location"] == ICON


def names_the_icon(page) -> bool:
    return page.status_code == 200 and f'<link rel="icon" href="{ICON}"' in page.content.decode()


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/accounts/password/reset/", "/accounts/password/reset/sent/"]
)
def test_pages_for_visitors_name_the_icon(client, path):
    assert names_the_icon(client.get(path))


@pytest.mark.parametrize("path", ["/", "/offers/", "/statistics/"])
def test_portal_pages_name_the_icon(portal, path):
    assert names_the_icon(portal.get(path))


def test_the_admin_login_names_the_icon(client):
    assert names_the_icon(client.get("/admin/login/"))


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/dashboard/", "/admin/offers/offer/", "/admin/offers/offer/add/"]
)
def test_admin_pages_name_the_icon(admin_client, path):
    assert names_the_icon(admin_client.get(path))
