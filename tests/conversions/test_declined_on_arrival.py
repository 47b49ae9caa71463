"""A postback for a goal the offer lacks, or for a click older than the offer's click lifetime, is
recorded as Affise records it: a declined conversion with the reason, counted and sent to the
affiliate as declined, which a manager may approve once the cause is fixed."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from conversions.models import Conversion, ServerPostback
from offers import access
from offers.models import Goal
from postbacks import macros
from postbacks.models import Delivery
from tests.factories import OfferFactory, PostbackFactory
from tests.stats.rollup import expected, stored
from tracking.models import Click, new_click_id

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


@pytest.fixture
def offer():
    return OfferFactory(
        click_lifetime_days=7,
        goals=[
            {"value": "install", "title": "Install", "payout": "1", "revenue": "2"},
            {"value": "sale", "title": "Sale", "payout": "5", "revenue": "8"},
        ],
    )


@pytest.fixture
def click_id(client, offer, affiliate):
    return client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()["click_id"]


def postback(client, **params):
    return client.get("/postback?" + urlencode(params))


def conversion_rows(rollup):
    return {key: values for key, values in rollup.items() if len(key) == 5}


def expire(click_id, days=8):
    """The click made `days` ago instead: its id, which names its time, with it."""
    made = timezone.now() - timedelta(days=days)
    aged = new_click_id(at=made.timestamp())
    Click.objects.filter(click_id=click_id).update(click_id=aged, created_at=made)
    return aged


def test_a_postback_for_a_goal_the_offer_lacks_is_a_declined_conversion_without_money(
    client, click_id, offer
):
    response = postback(client, clickid=click_id, goal="purchase", action_id="O-1", status="1", sum="40")
    assert response.status_code == 200
    assert response.json()["status"] == 1 and response.json()["message"] == "declined: Goal not found"
    conversion = Conversion.objects.get()
    assert (conversion.status, conversion.decline_reason) == (3, "Goal not found")
    assert (conversion.payout, conversion.revenue, conversion.order_sum) == (0, 0, 40)
    assert conversion.goal_value == "purchase" and conversion.goal == offer.goal_for()
    assert ServerPostback.objects.get().outcome == "created"


def test_a_postback_for_an_expired_click_is_a_declined_conversion_with_its_goals_money(client, click_id):
    click_id = expire(click_id)
    response = postback(client, clickid=click_id, goal="sale", status="1")
    assert response.status_code == 200 and response.json()["message"] == "declined: Click session expired"
    conversion = Conversion.objects.get()
    assert (conversion.status, conversion.decline_reason, conversion.goal.value) == (
        3,
        "Click session expired",
        "sale",
    )
    assert (conversion.payout, conversion.revenue) == (5, 8)


def test_both_reasons_are_kept(client, click_id):
    click_id = expire(click_id)
    postback(client, clickid=click_id, goal="nope")
    assert Conversion.objects.get().decline_reason == "Goal not found; Click session expired"


def test_a_repeat_of_a_declined_postback_is_a_duplicate(client, click_id):
    first = postback(client, clickid=click_id, goal="purchase", action_id="O-1").json()
    again = postback(client, clickid=click_id, goal="purchase", action_id="O-1").json()
    assert again == {**first, "message": "duplicate"}
    assert Conversion.objects.count() == 1


def test_a_declined_conversion_never_takes_the_place_of_a_real_one_of_the_first_goal(client, click_id, offer):
    postback(client, clickid=click_id, goal="purchase", action_id="O-1")
    real = postback(client, clickid=click_id, goal="install", action_id="O-1")
    assert real.json()["message"] == "ok"
    assert sorted(Conversion.objects.values_list("status", "decline_reason")) == [
        (2, ""),
        (3, "Goal not found"),
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [({"secure": "wrong"}, "Access denied"), ({"status": "7"}, "Unknown status"), ({"sum": "x"}, None)],
)
def test_what_is_refused_stays_refused_whatever_the_goal_or_the_clicks_age(
    client, click_id, offer, params, message
):
    offer.secure_code = "right"
    offer.save()
    click_id = expire(click_id)
    params = {"secure": "right", **params}
    response = postback(client, clickid=click_id, goal="nope", **params)
    assert response.status_code in (400, 403) and response.json()["status"] == 2
    if message:
        assert response.json()["message"] == message
    assert not Conversion.objects.exists()


def test_declined_conversions_are_counted_as_declined_and_shown_with_their_reason(
    client, click_id, offer, affiliate, affiliate_api, manager_api, portal
):
    postback(client, clickid=click_id, goal="purchase", action_id="O-1")
    assert stored() == expected()
    conversion = Conversion.objects.get()
    mine = affiliate_api.get(f"/api/v1/conversions/{conversion.conversion_id}/").json()
    assert (mine["status"], mine["decline_reason"], mine["goal"]) == (3, "Goal not found", "purchase")
    managed = manager_api.get(f"/api/v1/manage/conversions/{conversion.conversion_id}/").json()
    assert managed["decline_reason"] == "Goal not found"
    page = portal.get("/statistics/conversions/").content.decode()
    assert "Goal not found" in page
    csv = b"".join(portal.get("/statistics/conversions/csv/").streaming_content).decode()
    assert "decline reason" in csv.splitlines()[0] and "Goal not found" in csv
    stats = affiliate_api.get("/api/v1/stats/").json()
    assert stats["totals"]["conversions"]["declined"] == 1


def test_the_affiliates_postbacks_fire_for_it_per_their_status_filter(client, click_id, offer, affiliate):
    declined = PostbackFactory(
        affiliate=affiliate, offer=offer, status="declined", url="https://t.example/?g={goal}"
    )
    PostbackFactory(affiliate=affiliate, offer=offer, status="approved", url="https://t.example/approved")
    postback(client, clickid=click_id, goal="purchase")
    delivery = Delivery.objects.get()
    assert delivery.postback == declined
    conversion = Conversion.objects.select_related("offer", "goal", "affiliate", "click").get()
    assert macros.values_for(conversion, status=3)["goal"] == "purchase"


def test_a_manager_approves_an_expired_clicks_conversion_and_it_counts_as_approved(
    client, click_id, manager_api
):
    click_id = expire(click_id)
    postback(client, clickid=click_id, goal="sale")
    conversion = Conversion.objects.get()
    answer = manager_api.patch(
        f"/api/v1/manage/conversions/{conversion.conversion_id}/", {"status": 1}, format="json"
    )
    assert answer.status_code == 200
    conversion.refresh_from_db()
    assert (conversion.status, conversion.decline_reason, conversion.payout) == (1, "", 5)
    assert list(conversion.events.values_list("old_status", "new_status")) == [(None, 3), (3, 1)]
    # The click was aged by hand after its day was counted: compare the conversions' rows.
    assert conversion_rows(stored()) == conversion_rows(expected())


def test_a_manager_approves_an_unknown_goals_conversion_once_the_goal_exists(
    client, click_id, offer, manager_api
):
    postback(client, clickid=click_id, goal="purchase", sum="40", action_id="O-9")
    conversion = Conversion.objects.get()
    url = f"/api/v1/manage/conversions/{conversion.conversion_id}/"

    refused = manager_api.patch(url, {"status": 1}, format="json")
    assert refused.status_code == 400
    assert (
        f"The advertiser sent goal 'purchase', which offer #{offer.offer_id} does not have: add that goal to "
        "the offer first, then change the status."
    ) in str(refused.json())
    assert Conversion.objects.get().status == 3

    Goal.objects.create(
        offer=offer, value="Purchase", title="Purchase", payout=Decimal("12"), revenue=Decimal("20")
    )
    assert manager_api.patch(url, {"status": 1}, format="json").status_code == 200
    conversion.refresh_from_db()
    assert (conversion.goal.value, conversion.status, conversion.decline_reason) == ("Purchase", 1, "")
    assert (conversion.payout, conversion.revenue, conversion.goal_value) == (12, 20, "Purchase")
    assert "unknown_goal" not in conversion.extra
    assert stored() == expected()


def test_the_admin_shows_the_reason_and_its_approve_action_reports_a_refusal(client, click_id, admin_client):
    postback(client, clickid=click_id, goal="purchase")
    conversion = Conversion.objects.get()
    listing = admin_client.get(reverse("admin:conversions_conversion_changelist")).content.decode()
    assert "Declined: Goal not found" in listing
    response = admin_client.post(
        reverse("admin:conversions_conversion_changelist"),
        {"action": "approve", "_selected_action": [conversion.pk], "post": "yes"},
        follow=True,
    )
    shown = [str(message) for message in response.context["messages"]]
    assert any("does not have: add that goal to the offer first" in message for message in shown)
    assert Conversion.objects.get().status == 3


def test_after_the_clicks_lifetime_a_stored_conversion_still_takes_its_status_change_and_replays(
    client, click_id
):
    assert (
        postback(client, clickid=click_id, goal="sale", action_id="A1", status="2").json()["message"] == "ok"
    )
    postback(client, clickid=click_id, goal="install")  # without an action id, per click and goal
    click_id = expire(click_id)
    assert (
        postback(client, clickid=click_id, goal="sale", action_id="A1", status="1").json()["message"] == "ok"
    )
    assert postback(client, clickid=click_id, goal="install").json()["message"] == "duplicate"
    assert sorted(Conversion.objects.values_list("goal__value", "status", "decline_reason")) == [
        ("install", 2, ""),
        ("sale", 1, ""),
    ]


def test_two_goals_the_offer_lacks_make_two_declined_conversions(client, click_id):
    postback(client, clickid=click_id, goal="purchase")
    postback(client, clickid=click_id, goal="upsell")
    postback(client, clickid=click_id, goal="PURCHASE")  # goals match case-insensitively
    assert sorted(Conversion.objects.values_list("unknown_goal", flat=True)) == ["purchase", "upsell"]


def test_the_conversions_filter_finds_it_by_the_goal_it_named(client, click_id, portal, offer):
    postback(client, clickid=click_id, goal="purchase")
    postback(client, clickid=click_id, goal="install")
    named = portal.get("/statistics/conversions/", {"goal": "Purchase"}).context["conversions"]
    assert [conversion.goal_value for conversion in named] == ["purchase"]
    first = portal.get("/statistics/conversions/", {"goal": "install"}).context["conversions"]
    assert [conversion.goal_value for conversion in first] == ["install"]


def test_a_postback_for_one_goal_does_not_fire_for_a_goal_the_offer_lacks(client, click_id, offer, affiliate):
    install = offer.goals.get(value="install")
    PostbackFactory(affiliate=affiliate, offer=offer, goal=install, url="https://t.example/install")
    postback(client, clickid=click_id, goal="purchase")
    assert not Delivery.objects.exists()


def test_a_probabilistic_conversion_of_a_goal_added_later_is_approved_beside_others_of_that_goal(
    client, offer, affiliate, manager_api
):
    probabilistic = {"offer_id": offer.offer_id, "pid": affiliate.pid}
    postback(client, goal="purchase", **probabilistic)
    Goal.objects.create(
        offer=offer, value="purchase", title="Purchase", payout=Decimal("3"), revenue=Decimal("4")
    )
    postback(client, goal="purchase", **probabilistic)
    declined = Conversion.objects.get(decline_reason="Goal not found")
    url = f"/api/v1/manage/conversions/{declined.conversion_id}/"
    assert manager_api.patch(url, {"status": 1}, format="json").status_code == 200
    assert sorted(Conversion.objects.values_list("goal__value", "status")) == [
        ("purchase", 1),
        ("purchase", 2),
    ]


def approve(manager_api, conversion):
    return manager_api.patch(
        f"/api/v1/manage/conversions/{conversion.conversion_id}/", {"status": 1}, format="json"
    )


def test_approved_on_a_goal_paying_a_percent_it_is_paid_on_the_sum_it_came_with(
    client, click_id, offer, manager_api
):
    postback(client, clickid=click_id, goal="share", sum="80")
    Goal.objects.create(
        offer=offer,
        value="share",
        title="Share",
        payout_type="percent",
        payout_percent=Decimal("10"),
        revenue_type="percent",
        revenue_percent=Decimal("15"),
    )
    conversion = Conversion.objects.get()
    assert approve(manager_api, conversion).status_code == 200
    conversion.refresh_from_db()
    assert (conversion.payout, conversion.revenue, conversion.status) == (8, 12, 1)


def test_approved_on_a_goal_that_cannot_pay_it_is_refused_with_the_reason(
    client, click_id, offer, manager_api
):
    postback(client, clickid=click_id, goal="share")  # no sum
    Goal.objects.create(
        offer=offer, value="share", title="Share", payout_type="percent", payout_percent=Decimal("10")
    )
    refused = approve(manager_api, Conversion.objects.get())
    assert refused.status_code == 400
    assert "Goal 'share' cannot pay this conversion: This goal pays a percent of the sum: send sum" in str(
        refused.json()
    )
    assert Conversion.objects.get().status == 3


def test_approved_on_a_goal_that_already_has_this_conversion_it_is_refused(
    client, click_id, offer, manager_api
):
    postback(client, clickid=click_id, goal="purchase", action_id="O-5")
    Goal.objects.create(
        offer=offer, value="purchase", title="Purchase", payout=Decimal("3"), revenue=Decimal("4")
    )
    access.clear()  # as CLICK_LOOKUP_CACHE_SECONDS later: postbacks see the new goal
    assert postback(client, clickid=click_id, goal="purchase", action_id="O-5").json()["message"] == "ok"
    declined = Conversion.objects.get(decline_reason="Goal not found")
    refused = approve(manager_api, declined)
    assert refused.status_code == 400
    assert "Goal 'purchase' of the offer already has this conversion." in str(refused.json())


def test_an_offer_without_any_goal_refuses_the_postback_as_goal_not_found(client, affiliate):
    # Only a broken import leaves an offer so: there is no goal to decline the conversion on.
    bare = OfferFactory(goals=[])
    click = client.get(f"/click?pid={affiliate.pid}&offer_id={bare.offer_id}&format=json").json()["click_id"]

    response = postback(client, clickid=click, goal="sale")

    assert (response.status_code, response.json()) == (404, {"status": 2, "message": "Goal not found"})
    assert not Conversion.objects.exists()
