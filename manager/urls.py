"""The manager console: purpose-built pages inside the admin (same login, same look), for staff
allowed to see what each page shows: the network's traffic and money (the conversions), an
affiliate, an advertiser. Its actions check the right to change what they change."""

from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.urls import path

from manager.views import dashboard, explain, partners, work

NETWORK = "conversions.view_conversion"
AFFILIATE = "offers.view_affiliate"
ADVERTISER = "offers.view_advertiser"


def console_page(view, permission: str):
    return admin.site.admin_view(permission_required(permission, raise_exception=True)(view))


urlpatterns = [
    path("dashboard/", console_page(dashboard.network_dashboard, NETWORK), name="admin-dashboard"),
    path("explain/", console_page(explain.conversion_explain, NETWORK), name="admin-explain"),
    path("work/", console_page(work.work_queue, NETWORK), name="admin-work-queue"),
    path(
        "work/access/<row_id:pk>/approve/",
        console_page(work.access_approve, NETWORK),
        name="admin-work-access-approve",
    ),
    path(
        "work/access/<row_id:pk>/reject/",
        console_page(work.access_reject, NETWORK),
        name="admin-work-access-reject",
    ),
    path(
        "work/postbacks/<row_id:pk>/enable/",
        console_page(work.postback_enable, NETWORK),
        name="admin-work-postback-enable",
    ),
    path(
        "network/affiliates/<public_id:pid>/",
        console_page(partners.affiliate_overview, AFFILIATE),
        name="admin-affiliate-overview",
    ),
    path(
        "network/affiliates/<public_id:pid>/api-keys/<row_id:pk>/revoke/",
        console_page(partners.affiliate_api_key_revoke, AFFILIATE),
        name="admin-affiliate-api-key-revoke",
    ),
    path(
        "network/advertisers/<row_id:pk>/",
        console_page(partners.advertiser_overview, ADVERTISER),
        name="admin-advertiser-overview",
    ),
]
