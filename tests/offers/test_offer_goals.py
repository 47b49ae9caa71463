"""An offer's goals: one rule (offers.services.goals_problem) and one writer
(offers.services.offer_save_with_goals), for the admin's inline rows and the API's list alike."""

import pytest
from django.urls import reverse

from offers.services import goals_problem
from tests.factories import ConversionFactory, OfferFactory

pytestmark = pytest.mark.django_db

NONE = "An offer needs at least one goal."
TWINS = "Goal values must be unique (case-insensitive)."


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ([], NONE),
        (["install"], None),
        (["install", "sale"], None),
        (["install", "INSTALL"], TWINS),
        (["install", "sale", "Sale"], TWINS),
    ],
)
def test_an_offer_has_at_least_one_goal_and_no_two_values_that_differ_by_case_only(values, problem):
    assert goals_problem(values) == problem


@pytest.fixture
def admin_client(client, manager):
    client.force_login(manager)
    return client


def _admin_form(offer, rows: list[dict]) -> dict:
    """The admin's change form of `offer`, its goal rows as given (`id` for a saved goal)."""
    data = {
        "offer_id": str(offer.offer_id),
        "advertiser": offer.advertiser_id,
        "title": offer.title,
        "description": "",
        "status": offer.status,
        "visibility": offer.visibility,
        "destination_url": offer.destination_url,
        "preview_url": "",
        "trafficback_url": "",
        "click_lifetime_days": "30",
        "hold_period_days": "0",
        "secure_code": "",
        "goals-TOTAL_FORMS": str(len(rows)),
        "goals-INITIAL_FORMS": str(sum("id" in row for row in rows)),
        "goals-MIN_NUM_FORMS": "1",
        "goals-MAX_NUM_FORMS": "1000",
    }
    for n, row in enumerate(rows):
        fields = {
            **{"payout_type": "fixed", "payout": "1", "payout_percent": "0"},
            **{"revenue_type": "fixed", "revenue": "2", "revenue_percent": "0"},
            **{"currency": "USD", "default_status": "2", **row},
        }
        data.update({f"goals-{n}-{name}": value for name, value in fields.items()})
        data[f"goals-{n}-offer"] = offer.pk
    return data


@pytest.mark.parametrize(
    ("values", "problem"), [([], NONE), (["install", "INSTALL"], TWINS)], ids=["none", "twins"]
)
def test_the_admin_and_the_api_refuse_the_same_goals_with_the_same_message(
    admin_client, manager_api, values, problem
):
    offer = OfferFactory(goals=[{"value": "old", "title": "Old"}])
    old = offer.goals.get()
    rows = [{"id": old.pk, "value": "old", "title": "Old", "DELETE": "on"}]
    rows += [{"value": value, "title": value} for value in values]

    page = admin_client.post(reverse("admin:offers_offer_change", args=[offer.pk]), _admin_form(offer, rows))
    answer = manager_api.patch(
        f"/api/v1/manage/offers/{offer.offer_id}/",
        {"goals": [{"value": value, "title": value} for value in values]},
        format="json",
    )

    assert page.status_code == 200 and problem in page.content.decode()
    assert answer.status_code == 400 and answer.json() == {"goals": [problem]}
    assert list(offer.goals.values_list("value", flat=True)) == ["old"]


def test_the_admin_renames_a_goal_in_place_adds_and_deletes_goals(admin_client):
    offer = OfferFactory(goals=[{"value": "reg", "title": "Reg"}, {"value": "dep", "title": "Dep"}])
    reg, dep = offer.goals.order_by("pk")
    converted = ConversionFactory(offer=offer, goal=reg)
    rows = [
        {"id": reg.pk, "value": "registration", "title": "Registration"},
        {"id": dep.pk, "value": "dep", "title": "Dep", "DELETE": "on"},
        {"value": "ftd", "title": "First deposit"},
    ]

    response = admin_client.post(
        reverse("admin:offers_offer_change", args=[offer.pk]), _admin_form(offer, rows)
    )

    assert response.status_code == 302
    goals = list(offer.goals.order_by("pk").values_list("pk", "value"))
    assert goals[0] == (reg.pk, "registration") and [value for _, value in goals] == ["registration", "ftd"]
    converted.refresh_from_db()
    assert converted.goal_id == reg.pk
