"""Payouts by country (offers.payouts): the terms of a goal in a country, one row per case; how
managers edit them in the admin and the manager API, and what bad input is told; and what
affiliates are shown on the offer page and in the affiliate API (the payout, never the revenue)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from offers.models import Goal, GoalCountryPayout
from offers.payouts import Terms, payout_terms, payouts_by_country, terms_for
from offers.services import goal_set_country_payouts
from tests.factories import OfferFactory

pytestmark = pytest.mark.django_db

PERCENT_GOAL = {
    "value": "sale",
    "title": "Sale",
    "payout": "0",
    "payout_type": "percent",
    "payout_percent": "10",
    "revenue": "0",
    "revenue_type": "percent",
    "revenue_percent": "20",
}


def row(country, payout="0", revenue="0", payout_percent="0", revenue_percent="0") -> dict:
    return {
        "country": country,
        "payout": Decimal(payout),
        "payout_percent": Decimal(payout_percent),
        "revenue": Decimal(revenue),
        "revenue_percent": Decimal(revenue_percent),
    }


@pytest.fixture
def offer():
    offer = OfferFactory(
        goals=[{"value": "lead", "title": "Lead", "payout": "1", "revenue": "2"}, PERCENT_GOAL]
    )
    goal_set_country_payouts(
        goal=offer.goals.get(value="lead"), country_payouts=[row("US", "5", "6"), row("DE", "3", "4")]
    )
    goal_set_country_payouts(
        goal=offer.goals.get(value="sale"),
        country_payouts=[row("US", payout_percent="12.5", revenue_percent="25")],
    )
    return offer


def saved(goal) -> dict:
    return {
        payout.country: (payout.payout, payout.payout_percent, payout.revenue, payout.revenue_percent)
        for payout in GoalCountryPayout.objects.filter(goal=goal)
    }


# --- The rule --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "country", "terms"),
    [
        pytest.param("lead", "US", ("fixed", "5", "0", "fixed", "6", "0"), id="a country's fixed amounts"),
        pytest.param("lead", "DE", ("fixed", "3", "0", "fixed", "4", "0"), id="another country's"),
        pytest.param(
            "lead", "FR", ("fixed", "1", "0", "fixed", "2", "0"), id="a country without: the goal's"
        ),
        pytest.param("lead", "", ("fixed", "1", "0", "fixed", "2", "0"), id="no country: the goal's"),
        pytest.param("lead", "us", ("fixed", "1", "0", "fixed", "2", "0"), id="a code is compared as stored"),
        pytest.param("sale", "US", ("percent", "0", "12.5", "percent", "0", "25"), id="a country's percents"),
        pytest.param(
            "sale", "DE", ("percent", "0", "10", "percent", "0", "20"), id="percents without: the goal's"
        ),
    ],
)
def test_a_goal_pays_a_country_its_own_amounts_under_the_goals_types(offer, value, country, terms):
    payout_type, payout, payout_percent, revenue_type, revenue, revenue_percent = terms
    assert terms_for(offer.goals.get(value=value), country) == Terms(
        payout_type=payout_type,
        payout=Decimal(payout),
        payout_percent=Decimal(payout_percent),
        revenue_type=revenue_type,
        revenue=Decimal(revenue),
        revenue_percent=Decimal(revenue_percent),
        currency="USD",
    )


def test_a_goal_not_saved_yet_pays_every_country_its_own_amounts():
    """A goal being added (the admin's form, the API) has no country rows to read yet."""
    goal = Goal(value="install", payout=Decimal("1.50"), revenue=Decimal("2.00"), currency="EUR")
    terms = terms_for(goal, "US")
    assert (terms.payout, terms.revenue, terms.currency) == (Decimal("1.50"), Decimal("2.00"), "EUR")


def test_affiliates_read_a_goals_payouts_by_country_then_the_other_countries(offer):
    lines = [
        (line.country, line.country_name, line.payout_terms)
        for line in payouts_by_country(offer.goals.get(value="lead"))
    ]
    assert lines == [
        ("DE", "Germany", "3.00 USD"),
        ("US", "United States", "5.00 USD"),
        ("", "Other countries", "1.00 USD"),
    ]
    sale = [line.payout_terms for line in payouts_by_country(offer.goals.get(value="sale"))]
    assert sale == ["12.5% of the sale", "10% of the sale"]
    plain = OfferFactory().goals.get()
    assert [(line.country_name, line.payout_terms) for line in payouts_by_country(plain)] == [
        ("All countries", payout_terms(plain))
    ]


# --- The service -----------------------------------------------------------------------------


def test_setting_a_goals_country_payouts_replaces_them(offer):
    lead = offer.goals.get(value="lead")
    goal_set_country_payouts(goal=lead, country_payouts=[row("DE", "3.5", "4"), row("FR", "2", "2")])
    assert saved(lead) == {"DE": (Decimal("3.5"), 0, 4, 0), "FR": (2, 0, 2, 0)}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([row("US", "1"), row("US", "2")], "US: US is listed twice: give each country once."),
        (
            [row("US", "1", payout_percent="5")],
            "US: A fixed payout takes no percent: set 0, or choose a type with a percent.",
        ),
    ],
)
def test_the_service_refuses_rows_that_cannot_be_and_keeps_the_old_ones(offer, rows, message):
    lead = offer.goals.get(value="lead")
    with pytest.raises(ValidationError) as refused:
        goal_set_country_payouts(goal=lead, country_payouts=rows)
    assert refused.value.message_dict == {"country_payouts": [message]}
    assert set(saved(lead)) == {"US", "DE"}


# --- The manager API -------------------------------------------------------------------------


def patch_goals(manager_api, offer, *goals):
    return manager_api.patch(
        f"/api/v1/manage/offers/{offer.offer_id}/", {"goals": list(goals)}, format="json"
    )


def test_a_manager_reads_and_writes_country_payouts_through_the_api(manager_api, offer):
    [lead, sale] = manager_api.get(f"/api/v1/manage/offers/{offer.offer_id}/").json()["goals"]
    assert lead["country_payouts"] == [
        {
            "country": "DE",
            "payout": "3.0000",
            "payout_percent": "0.0000",
            "revenue": "4.0000",
            "revenue_percent": "0.0000",
        },
        {
            "country": "US",
            "payout": "5.0000",
            "payout_percent": "0.0000",
            "revenue": "6.0000",
            "revenue_percent": "0.0000",
        },
    ]
    response = patch_goals(
        manager_api,
        offer,
        # Lower case is taken as upper case; an amount left out is the goal's own.
        {"value": "lead", "country_payouts": [{"country": "fr", "payout": "2.5"}]},
        {"value": "sale", "country_payouts": [{"country": " gb ", "payout_percent": "30"}]},
    )
    assert response.status_code == 200, response.json()
    assert saved(offer.goals.get(value="lead")) == {"FR": (Decimal("2.5"), 0, 2, 0)}
    assert saved(offer.goals.get(value="sale")) == {"GB": (0, 30, 0, 20)}
    assert response.json()["goals"][0]["country_payouts"][0]["country"] == "FR"


def test_a_goal_written_without_country_payouts_keeps_them_and_an_empty_list_removes_them(manager_api, offer):
    assert (
        patch_goals(manager_api, offer, {"value": "lead", "title": "Lead 2"}, {"value": "sale"}).status_code
        == 200
    )
    assert set(saved(offer.goals.get(value="lead"))) == {"US", "DE"}
    assert (
        patch_goals(
            manager_api, offer, {"value": "lead", "country_payouts": []}, {"value": "sale"}
        ).status_code
        == 200
    )
    assert saved(offer.goals.get(value="lead")) == {}


def test_a_new_goal_is_created_with_its_country_payouts(manager_api, offer):
    response = manager_api.post(
        "/api/v1/manage/offers/",
        {
            "advertiser": offer.advertiser_id,
            "title": "New",
            "destination_url": "https://a.example/?c={clickid}",
            "goals": [
                {
                    "value": "1",
                    "title": "Install",
                    "payout": "1",
                    "country_payouts": [{"country": "US", "payout": "4"}],
                }
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["goals"][0]["country_payouts"][0]["payout"] == "4.0000"


COUNTRY_CODE = "is not a country code such as US or DE (ISO 3166-1 alpha-2)."
TWO_LETTERS = "Use a two-letter country code such as US or DE (ISO 3166-1 alpha-2)."


@pytest.mark.parametrize(
    ("rows", "errors"),
    [
        pytest.param(
            [{"country": "XX", "payout": "1"}], {"0": {"country": [f"'XX' {COUNTRY_CODE}"]}}, id="unknown"
        ),
        pytest.param([{"country": "USA"}], {"0": {"country": [TWO_LETTERS]}}, id="three letters"),
        pytest.param([{"country": ""}], {"0": {"country": ["This field may not be blank."]}}, id="blank"),
        pytest.param([{"payout": "1"}], {"0": {"country": ["This field is required."]}}, id="no country"),
        pytest.param([{"country": None}], {"0": {"country": ["This field may not be null."]}}, id="null"),
        pytest.param([{"country": 12}], {"0": {"country": [f"'12' {COUNTRY_CODE}"]}}, id="a number"),
        pytest.param(
            [{"country": "U\x00"}],
            {"0": {"country": [f"'U\\x00' {COUNTRY_CODE}", "Null characters are not allowed."]}},
            id="a NUL byte",
        ),
        pytest.param(
            [{"country": "US", "payout": "1\x00"}],
            {"0": {"payout": ["A valid number is required."]}},
            id="NUL in an amount",
        ),
        pytest.param(
            [{"country": "US", "payout": "-1"}],
            {"0": {"payout": ["Ensure this value is greater than or equal to 0."]}},
            id="negative",
        ),
        pytest.param(
            [{"country": "US", "payout": "NaN"}],
            {"0": {"payout": ["A valid number is required."]}},
            id="not a number",
        ),
        pytest.param(
            [{"country": "US", "payout": "1"}, {"country": "us", "payout": "2"}],
            {"1": {"country": ["US is listed twice: give each country once."]}},
            id="twice in one request",
        ),
        pytest.param(
            [{"country": "US", "payout_percent": "5"}],
            {
                "0": {
                    "payout_percent": [
                        "A fixed payout takes no percent: set 0, or choose a type with a percent."
                    ]
                }
            },
            id="a percent on a fixed goal",
        ),
    ],
)
def test_the_api_refuses_bad_country_payouts_of_a_fixed_goal(manager_api, offer, rows, errors):
    response = patch_goals(manager_api, offer, {"value": "lead", "country_payouts": rows}, {"value": "sale"})
    assert response.status_code == 400
    assert response.json() == {"goals": {"0": {"country_payouts": errors}}}
    assert set(saved(offer.goals.get(value="lead"))) == {"US", "DE"}


@pytest.mark.parametrize(
    ("row", "errors"),
    [
        (
            {"country": "US", "payout_percent": "100.01"},
            {"payout_percent": ["Ensure this value is less than or equal to 100."]},
        ),
        (
            {"country": "US", "payout_percent": "0"},
            {"payout_percent": ["A payout with a percent needs a percent above 0."]},
        ),
        (
            {"country": "US", "payout": "1"},
            {"payout": ["A percent payout has no fixed amount: set 0, or choose fixed plus percent."]},
        ),
    ],
)
def test_the_api_refuses_bad_country_payouts_of_a_percent_goal(manager_api, offer, row, errors):
    response = patch_goals(manager_api, offer, {"value": "lead"}, {"value": "sale", "country_payouts": [row]})
    assert response.status_code == 400
    assert response.json() == {"goals": {"1": {"country_payouts": {"0": errors}}}}


@pytest.mark.parametrize(
    "value", ["US", {"country": "US"}, [["US"]]], ids=["a text", "an object", "a list of lists"]
)
def test_the_api_refuses_country_payouts_that_are_no_list_of_objects(manager_api, offer, value):
    response = patch_goals(manager_api, offer, {"value": "lead", "country_payouts": value}, {"value": "sale"})
    assert response.status_code == 400
    assert "country_payouts" in response.json()["goals"]["0"]


def test_a_goals_terms_cannot_change_under_country_payouts_that_would_not_fit_them(manager_api, offer):
    response = patch_goals(
        manager_api,
        offer,
        {"value": "lead", "payout_type": "percent", "payout": "0", "payout_percent": "10"},
        {"value": "sale"},
    )
    assert response.status_code == 400
    [message] = response.json()["goals"]["0"]["country_payouts"]
    assert message.startswith(
        "Goal 'lead' pays by country in amounts its new terms cannot take (DE: A payout"
    )
    together = {
        "value": "lead",
        "payout_type": "percent",
        "payout": "0",
        "payout_percent": "10",
        "country_payouts": [{"country": "US", "payout": "0", "payout_percent": "20"}],
    }
    assert patch_goals(manager_api, offer, together, {"value": "sale"}).status_code == 200
    assert saved(offer.goals.get(value="lead")) == {"US": (0, 20, 2, 0)}


# --- The admin -------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, manager):
    client.force_login(manager)
    return client


def goal_page(goal) -> str:
    return reverse("admin:offers_goal_change", args=[goal.pk])


def post_country_payouts(admin_client, goal, *rows, existing=()):
    """The goal's page as submitted: its `existing` rows (by pk, each with its fields) and new ones."""
    form = {
        "country_payouts-TOTAL_FORMS": str(len(existing) + len(rows)),
        "country_payouts-INITIAL_FORMS": str(len(existing)),
        "country_payouts-MIN_NUM_FORMS": "0",
        "country_payouts-MAX_NUM_FORMS": "1000",
    }
    for index, fields in enumerate([*existing, *rows]):
        form |= {f"country_payouts-{index}-{name}": value for name, value in fields.items()}
        form[f"country_payouts-{index}-goal"] = str(goal.pk)
    return admin_client.post(goal_page(goal), form)


def test_the_offer_page_links_each_goal_to_its_payouts_by_country(admin_client, offer):
    page = admin_client.get(reverse("admin:offers_offer_change", args=[offer.pk])).content.decode()
    lead = offer.goals.get(value="lead")
    assert f'<a href="{goal_page(lead)}">DE, US</a>' in page
    sale = offer.goals.get(value="sale")
    assert f'<a href="{goal_page(sale)}">US</a>' in page


def test_the_goal_page_shows_only_the_columns_its_types_use(admin_client, offer):
    lead = admin_client.get(goal_page(offer.goals.get(value="lead")))
    assert lead.status_code == 200
    fields = lead.context["inline_admin_formsets"][0].formset.form.base_fields
    assert list(fields) == ["country", "payout", "revenue"]
    # A new row starts with the goal's own amounts.
    assert (fields["payout"].initial, fields["revenue"].initial) == (1, 2)
    sale = admin_client.get(goal_page(offer.goals.get(value="sale")))
    assert list(sale.context["inline_admin_formsets"][0].formset.form.base_fields) == [
        "country",
        "payout_percent",
        "revenue_percent",
    ]
    assert admin_client.get(reverse("admin:offers_goal_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:offers_goal_add")).status_code == 403


def test_a_manager_adds_changes_and_deletes_country_payouts_on_the_goal_page(admin_client, offer):
    lead = offer.goals.get(value="lead")
    us, de = lead.country_payouts.get(country="US"), lead.country_payouts.get(country="DE")
    existing = [
        {"id": us.pk, "country": "US", "payout": "5.5", "revenue": "6"},
        {"id": de.pk, "country": "DE", "payout": "3", "revenue": "4", "DELETE": "on"},
    ]
    response = post_country_payouts(
        admin_client, lead, {"country": "fr", "payout": "2", "revenue": "2"}, existing=existing
    )
    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    assert saved(lead) == {"US": (Decimal("5.5"), 0, 6, 0), "FR": (2, 0, 2, 0)}


ADMIN_REFUSALS = [
    pytest.param(
        {"country": "XX", "payout": "1", "revenue": "1"}, {"country": [f"'XX' {COUNTRY_CODE}"]}, id="unknown"
    ),
    pytest.param(
        {"country": "F\x00", "payout": "1", "revenue": "1"},
        {"country": ["Null characters are not allowed."]},
        id="NUL",
    ),
    pytest.param(
        {"country": "FR", "payout": "-1", "revenue": "1"},
        {"payout": ["Ensure this value is greater than or equal to 0."]},
        id="negative",
    ),
    pytest.param(
        {"country": "FR", "payout": "x", "revenue": "1"}, {"payout": ["Enter a number."]}, id="not a number"
    ),
]


@pytest.mark.parametrize(("fields", "errors"), ADMIN_REFUSALS)
def test_the_goal_page_refuses_bad_rows_with_field_errors(admin_client, offer, fields, errors):
    lead = offer.goals.get(value="lead")
    response = post_country_payouts(admin_client, lead, fields)
    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.errors == [errors]
    assert set(saved(lead)) == {"US", "DE"}


def test_the_goal_page_refuses_a_percent_above_100_and_a_country_twice(admin_client, offer):
    sale = offer.goals.get(value="sale")
    response = post_country_payouts(
        admin_client, sale, {"country": "FR", "payout_percent": "101", "revenue_percent": "5"}
    )
    assert response.context["inline_admin_formsets"][0].formset.errors == [
        {"payout_percent": ["Ensure this value is less than or equal to 100."]}
    ]
    twice = [
        {"country": "FR", "payout_percent": "5", "revenue_percent": "5"},
        {"country": "fr", "payout_percent": "6", "revenue_percent": "5"},
    ]
    response = post_country_payouts(admin_client, sale, *twice)
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert "Please correct the duplicate data for country" in " ".join(formset.non_form_errors())
    assert set(saved(sale)) == {"US"}


def test_the_offer_page_refuses_new_goal_terms_its_country_payouts_do_not_fit(admin_client, offer):
    lead, sale = offer.goals.get(value="lead"), offer.goals.get(value="sale")
    form = {
        "offer_id": offer.offer_id,
        "advertiser": offer.advertiser_id,
        "title": offer.title,
        "description": "",
        "status": "active",
        "visibility": "public",
        "destination_url": offer.destination_url,
        "preview_url": "",
        "trafficback_url": "",
        "target_countries": "",
        "target_os_families": "",
        "click_lifetime_days": "30",
        "hold_period_days": "0",
        "secure_code": "",
        "goals-TOTAL_FORMS": "2",
        "goals-INITIAL_FORMS": "2",
        "goals-MIN_NUM_FORMS": "1",
        "goals-MAX_NUM_FORMS": "1000",
    }
    for index, (goal, payout_type, payout, percent) in enumerate(
        [(lead, "percent", "0", "10"), (sale, "percent", "0", "10")]
    ):
        form |= {
            f"goals-{index}-id": goal.pk,
            f"goals-{index}-offer": offer.pk,
            f"goals-{index}-value": goal.value,
            f"goals-{index}-title": goal.title,
            f"goals-{index}-payout_type": payout_type,
            f"goals-{index}-payout": payout,
            f"goals-{index}-payout_percent": percent,
            f"goals-{index}-revenue_type": goal.revenue_type,
            f"goals-{index}-revenue": goal.revenue,
            f"goals-{index}-revenue_percent": goal.revenue_percent,
            f"goals-{index}-currency": "USD",
            f"goals-{index}-default_status": "2",
        }
    response = admin_client.post(reverse("admin:offers_offer_change", args=[offer.pk]), form)
    assert response.status_code == 200
    [message] = response.context["inline_admin_formsets"][0].formset.non_form_errors()
    assert message.startswith("Goal 'lead' pays by country in amounts its new terms cannot take")
    lead.refresh_from_db()
    assert lead.payout_type == "fixed"


# --- What affiliates see ---------------------------------------------------------------------


def test_the_offer_page_shows_the_payouts_by_country(portal, offer):
    page = portal.get(f"/offers/{offer.offer_id}/").content.decode()
    rows = [
        "<td>Germany (DE)</td><td>3.00 USD</td>",
        "<td>United States (US)</td><td>5.00 USD</td>",
        "<td>Other countries</td><td>1.00 USD</td>",
        "<td>United States (US)</td><td>12.5% of the sale</td>",
        "<td>Other countries</td><td>10% of the sale</td>",
    ]
    flat = "".join(line.strip() for line in page.splitlines())
    positions = [flat.index(row) for row in rows]
    assert positions == sorted(positions)
    assert "6.00" not in page and "25%" not in page  # never the revenue


def test_the_affiliate_api_lists_the_payout_by_country_and_never_the_revenue(affiliate_api, offer):
    for body in [
        affiliate_api.get(f"/api/v1/offers/{offer.offer_id}/").json(),
        affiliate_api.get("/api/v1/offers/").json()["results"][0],
    ]:
        lead = body["goals"][0]
        assert lead["country_payouts"] == [
            {
                "country": "DE",
                "country_name": "Germany",
                "payout": "3.0000",
                "payout_percent": "0.0000",
                "payout_terms": "3.00 USD",
            },
            {
                "country": "US",
                "country_name": "United States",
                "payout": "5.0000",
                "payout_percent": "0.0000",
                "payout_terms": "5.00 USD",
            },
        ]
        assert body["goals"][1]["country_payouts"][0]["payout_terms"] == "12.5% of the sale"
        assert all(
            "revenue" not in name
            for goal in body["goals"]
            for line in goal["country_payouts"]
            for name in line
        )


def test_the_affiliate_api_reads_country_payouts_without_a_query_per_goal(
    affiliate_api, offer, django_assert_max_num_queries
):
    for _ in range(3):
        OfferFactory(goals=[{"value": "a", "title": "A"}, {"value": "b", "title": "B"}])
    affiliate_api.get("/api/v1/offers/")  # the API key's first use is written once
    with django_assert_max_num_queries(12) as queries:
        assert len(affiliate_api.get("/api/v1/offers/").json()["results"]) == 4
    assert sum("offers_goalcountrypayout" in query["sql"] for query in queries.captured_queries) == 1
