"""A click, the advertiser's postback, and everyone seeing the resulting conversion."""

import pytest
from django.urls import reverse

from conversions.models import ServerPostback
from tests.factories import OfferFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("buffered_writes")]


def test_a_click_and_a_postback_reach_the_affiliate_the_manager_and_the_log(
    client, portal, affiliate, affiliate_api, manager, manager_api
):
    offer = OfferFactory(goals=[{"value": "sale", "title": "Sale", "payout": "4.5"}])
    visitor = client.__class__()
    click_id = visitor.get(
        f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=my-click&format=json"
    ).json()["click_id"]
    answer = visitor.get(f"/postback?click_id={click_id}&goal=sale&status=2&sum=30").json()
    assert answer["message"] == "ok"
    conversion_id = answer["conversion_id"]

    page = portal.get("/statistics/conversions/").content.decode()
    assert conversion_id in page and "my-click" in page
    listed = affiliate_api.get("/api/v1/conversions/").json()["results"]
    assert [(c["id"], c["click_id"], c["status"], c["payout"]) for c in listed] == [
        (conversion_id, click_id, 2, "4.5000")
    ]

    changed = manager_api.patch(f"/api/v1/manage/conversions/{conversion_id}/", {"status": 1}, format="json")
    assert changed.status_code == 200
    assert affiliate_api.get(f"/api/v1/conversions/{conversion_id}/").json()["status"] == 1

    log = ServerPostback.objects.get()
    assert (log.outcome, log.conversion.conversion_id) == ("created", conversion_id)
    events = list(log.conversion.events.values_list("old_status", "new_status", "source", "changed_by"))
    assert events == [(None, 2, "postback", None), (2, 1, "manager", manager.pk)]
    admin = client.__class__()
    admin.force_login(manager)
    assert conversion_id in admin.get(reverse("admin:conversions_serverpostback_changelist")).content.decode()
