"""The tracker templates in the admin's postback form: the same chooser as the portal's, filling
the URL as the manager types, and without JavaScript by "Use template"."""

from urllib.parse import urlencode

import pytest
from django.utils.html import escape

from postbacks import trackers
from postbacks.models import Postback
from tests.factories import PostbackFactory
from tests.portal.screens import SIZES

CHOICE = {
    "use_template": "1",
    "template-tracker": "voluum",
    "template-click_id_sub": "sub2",
    "template-domain": "track.example.com",
}
FILLED = trackers.fill(trackers.BY_KEY["voluum"], click_id_sub="sub2", blanks={"domain": "track.example.com"})


@pytest.fixture
def staff(client, manager):
    client.force_login(manager)
    return client


def test_use_template_fills_a_new_postbacks_url_and_status(staff):
    page = staff.get(f"/admin/postbacks/postback/add/?{urlencode(CHOICE)}").content.decode()
    assert f'value="{escape(FILLED.url)}"' in page
    assert f'<option value="{FILLED.status}" selected>' in page


def test_use_template_shows_an_existing_postback_with_the_templates_url_and_saves_nothing(staff):
    postback = PostbackFactory(url="https://old.example/pb?c={sub1}", status=Postback.StatusFilter.ANY)
    page = staff.get(f"/admin/postbacks/postback/{postback.pk}/change/?{urlencode(CHOICE)}").content.decode()
    assert f'value="{escape(FILLED.url)}"' in page and 'value="https://old.example' not in page
    postback.refresh_from_db()
    assert postback.url == "https://old.example/pb?c={sub1}"


def test_use_template_with_a_blank_missing_says_so_and_leaves_the_form(staff):
    response = staff.get(f"/admin/postbacks/postback/add/?{urlencode({**CHOICE, 'template-domain': ''})}")
    assert response.status_code == 200
    assert "domain" in response.context["template_form"].errors
    assert response.context["adminform"].form["url"].value() in (None, "")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", SIZES)
def test_choosing_a_template_in_the_admin_fills_the_url_as_the_server_does(screen, manager, size):
    browser = screen(manager, size)
    browser.goto("/admin/postbacks/postback/add/")
    page = browser.page
    page.click(".tracker-template summary")
    page.select_option("#id_template-tracker", "voluum")
    page.select_option("#id_template-click_id_sub", "sub2")
    page.fill("#id_template-domain", "https://track.example.com/")
    assert page.input_value("#id_url") == FILLED.url
    assert page.input_value("#id_status") == FILLED.status
    browser.check("admin-tracker-template")
