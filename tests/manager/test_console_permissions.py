"""Staff see in the manager console only what their permissions let them see in the admin, and
change only what they may change: a view-only manager can read an affiliate but not block it."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from offers.models import Affiliate
from tests.factories import AdvertiserFactory, AffiliateFactory, UserFactory

pytestmark = pytest.mark.django_db


def staff_browser(*permissions: str) -> Client:
    user = UserFactory(is_staff=True)
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    browser = Client()
    browser.force_login(user)
    return browser


def console_pages() -> dict[str, str]:
    affiliate, advertiser = AffiliateFactory(), AdvertiserFactory()
    return {
        "dashboard": "/admin/dashboard/",
        "work queue": "/admin/work/",
        "affiliate": f"/admin/network/affiliates/{affiliate.pid}/",
        "advertiser": f"/admin/network/advertisers/{advertiser.pk}/",
    }


def answers(browser: Client, pages: dict[str, str]) -> dict[str, int]:
    return {name: browser.get(url).status_code for name, url in pages.items()}


def test_staff_without_permissions_see_no_page_of_the_console_nor_its_links():
    browser, pages = staff_browser(), console_pages()
    assert answers(browser, pages) == dict.fromkeys(pages, 403)
    index = browser.get("/admin/").content.decode()
    assert "/admin/dashboard/" not in index and "/admin/work/" not in index


@pytest.mark.parametrize(
    ("permissions", "allowed"),
    [
        (["conversions.view_conversion"], {"dashboard", "work queue"}),
        (["offers.view_affiliate"], {"affiliate"}),
        (["offers.view_advertiser"], {"advertiser"}),
    ],
)
def test_each_page_needs_the_right_to_see_what_it_shows(permissions, allowed):
    pages = console_pages()
    expected = {name: 200 if name in allowed else 403 for name in pages}
    assert answers(staff_browser(*permissions), pages) == expected


@pytest.mark.parametrize(
    ("url", "action", "view_permission"),
    [
        ("/admin/offers/affiliate/", "block", "offers.view_affiliate"),
        ("/admin/offers/offer/", "pause", "offers.view_offer"),
        ("/admin/offers/offeraccess/", "reject", "offers.view_offeraccess"),
        ("/admin/api/apikey/", "revoke", "api.view_apikey"),
    ],
)
def test_a_view_only_manager_is_not_offered_the_admins_changing_actions(url, action, view_permission):
    browser = staff_browser(view_permission)
    page = browser.get(url)
    assert page.status_code == 200
    assert f'value="{action}"' not in page.content.decode()


def test_a_view_only_manager_cannot_block_an_affiliate_by_posting_the_action():
    affiliate = AffiliateFactory()
    browser = staff_browser("offers.view_affiliate")
    browser.post(
        "/admin/offers/affiliate/", {"action": "block", "_selected_action": [affiliate.pk], "post": "yes"}
    )
    affiliate.refresh_from_db()
    assert affiliate.status == Affiliate.Status.ACTIVE
