"""Percent and mixed payouts (offers.payouts): the rule, one row per case; the terms a goal may
have, in the database, the admin and the manager API; and how affiliates are shown them."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from offers.models import Goal
from offers.payouts import (
    CURRENCY_NEEDED,
    SUM_NEEDED,
    SUM_TOO_LARGE,
    Amounts,
    PayoutRefused,
    conversion_amounts,
    payout_terms,
)
from tests.factories import AdvertiserFactory, GoalFactory, OfferFactory

FIXED, PERCENT, MIXED = "fixed", "percent", "fixed_plus_percent"


def terms(text: str) -> tuple[str, str, str]:
    """A side's terms written as affiliates read them: "2.5" fixed, "10%", "1+5%"."""
    if "+" in text:
        fixed, percent = text.split("+")
        return MIXED, fixed, percent.rstrip("%")
    if text.endswith("%"):
        return PERCENT, "0", text.rstrip("%")
    return FIXED, text, "0"


def goal(payout="2.5", revenue="4", currency="USD") -> Goal:
    """An unsaved goal: the rule reads nothing else. Each side's terms are written as `terms`
    reads them, or given as (type, fixed amount, percent)."""
    (payout_type, fixed_payout, payout_percent) = terms(payout) if isinstance(payout, str) else payout
    (revenue_type, fixed_revenue, revenue_percent) = terms(revenue) if isinstance(revenue, str) else revenue
    return Goal(
        payout_type=payout_type,
        payout=Decimal(fixed_payout),
        payout_percent=Decimal(payout_percent),
        revenue_type=revenue_type,
        revenue=Decimal(fixed_revenue),
        revenue_percent=Decimal(revenue_percent),
        currency=currency,
    )


def amounts(goal_terms: Goal, sent: str) -> Amounts:
    """`sent`: the sum and its currency ("12.50 EUR"), or "" for none."""
    order_sum, currency = sent.split() if sent else (None, "USD")
    order_sum = None if order_sum is None else Decimal(order_sum)
    return conversion_amounts(goal_terms, country="", order_sum=order_sum, order_currency=currency)


AMOUNT_CASES = [
    # (payout terms, revenue terms, the sum sent, what is paid: payout revenue currency)
    pytest.param("2.5", "4", "100 EUR", "2.5 4 USD", id="fixed pays the goal's amounts in its currency"),
    pytest.param("2.5", "4", "", "2.5 4 USD", id="fixed needs no sum"),
    pytest.param("0.1234", "4", "1 USD", "0.1234 4 USD", id="fixed keeps sub-cent amounts"),
    pytest.param("10%", "20%", "100 EUR", "10.00 20.00 EUR", id="percent of the sum in its currency"),
    pytest.param("1+5%", "30%", "50 USD", "3.50 15.00 USD", id="fixed plus percent in the goal's currency"),
    pytest.param("12.5%", "33.3333%", "19.99 USD", "2.50 6.66 USD", id="fractional percents"),
    pytest.param("12.5%", "10%", "0.04 USD", "0.01 0.00 USD", id="half a cent 0.005 rounds up"),
    pytest.param("10%", "10%", "0.25 USD", "0.03 0.03 USD", id="0.025 rounds up not to even"),
    pytest.param("10%", "10%", "0.0499 USD", "0.00 0.00 USD", id="just under half a cent rounds down"),
    pytest.param("1+5%", "10%", "0 USD", "1.00 0.00 USD", id="a sum of 0 pays the fixed part"),
    pytest.param("100%", "100%", "123.4567 USD", "123.46 123.46 USD", id="100 percent is the sum"),
    pytest.param("2", "10%", "80 USD", "2 8.00 USD", id="a fixed side beside a percent one"),
    pytest.param("10%", "0", "80 GBP", "8.00 0 GBP", id="a fixed side of 0 fits any currency"),
    pytest.param("100%", "0", "9999999999.9949 USD", "9999999999.99 0 USD", id="the largest amount"),
]


@pytest.mark.parametrize(("payout", "revenue", "sent", "paid"), AMOUNT_CASES)
def test_a_conversion_is_paid_by_its_goals_terms(payout, revenue, sent, paid):
    computed = amounts(goal(payout, revenue), sent)
    assert f"{computed.payout} {computed.revenue} {computed.currency}" == paid


CURRENCY_OF_USD_GOAL = CURRENCY_NEEDED.format(goal="USD", sent="EUR")
REFUSAL_CASES = [
    # (payout terms, revenue terms, the sum sent, the answer)
    pytest.param("10%", "4", "", SUM_NEEDED, id="a percent without a sum"),
    pytest.param("2", "10%", "", SUM_NEEDED, id="a revenue percent without a sum"),
    pytest.param("1+5%", "10%", "50 EUR", CURRENCY_OF_USD_GOAL, id="fixed plus percent in another currency"),
    pytest.param("10%", "4", "50 EUR", CURRENCY_OF_USD_GOAL, id="a fixed revenue beside a percent payout"),
    pytest.param("100%", "0", "9999999999.995 USD", SUM_TOO_LARGE, id="an amount too large to store"),
    pytest.param("1%", "100%", "10000000000 USD", SUM_TOO_LARGE, id="a revenue too large to store"),
]


@pytest.mark.parametrize(("payout", "revenue", "sent", "answer"), REFUSAL_CASES)
def test_terms_that_cannot_pay_on_a_sum_say_why(payout, revenue, sent, answer):
    with pytest.raises(PayoutRefused) as refused:
        amounts(goal(payout, revenue), sent)
    assert refused.value.message == answer


def test_the_currency_refusal_names_the_currency_to_send():
    assert CURRENCY_OF_USD_GOAL == (
        "This goal adds a fixed amount in USD to a percent of the sum: send the sum in USD "
        "(currency=USD), not in EUR"
    )


@pytest.mark.parametrize(
    ("payout", "shown"),
    [
        ("2.5", "2.50 USD"),
        ("0.125", "0.125 USD"),
        ("12.5%", "12.5% of the sale"),
        ("10%", "10% of the sale"),
        ("1+5.25%", "1.00 USD + 5.25% of the sale"),
    ],
)
def test_affiliates_read_the_payout_in_words(payout, shown):
    assert payout_terms(goal(payout)) == shown


# --- The terms a goal may have --------------------------------------------------------------

NO_PAYOUT_PERCENT = "A payout with a percent needs a percent above 0."
NO_FIXED_REVENUE = "Fixed plus percent needs a fixed revenue above 0; or choose percent."

TERMS_CASES = [
    # (payout terms, revenue terms, {field: message} or {} when valid)
    ((FIXED, "2", "0"), (FIXED, "4", "0"), {}),
    ((PERCENT, "0", "0.0001"), (PERCENT, "0", "100"), {}),
    ((MIXED, "0.01", "1"), (MIXED, "1", "1"), {}),
    ((PERCENT, "0", "0"), (FIXED, "4", "0"), {"payout_percent": NO_PAYOUT_PERCENT}),
    (
        (FIXED, "2", "0"),
        (MIXED, "1", "0"),
        {"revenue_percent": "A revenue with a percent needs a percent above 0."},
    ),
    (
        (FIXED, "2", "5"),
        (FIXED, "4", "0"),
        {"payout_percent": "A fixed payout takes no percent: set 0, or choose a type with a percent."},
    ),
    (
        (PERCENT, "2", "5"),
        (FIXED, "4", "0"),
        {"payout": "A percent payout has no fixed amount: set 0, or choose fixed plus percent."},
    ),
    ((FIXED, "2", "0"), (MIXED, "0", "5"), {"revenue": NO_FIXED_REVENUE}),
    (
        (PERCENT, "0", "100.0001"),
        (FIXED, "4", "0"),
        {"payout_percent": "Ensure this value is less than or equal to 100."},
    ),
    (
        (FIXED, "2", "0"),
        (PERCENT, "0", "-1"),
        {"revenue_percent": "Ensure this value is greater than or equal to 0."},
    ),
    (("flat", "2", "0"), (FIXED, "4", "0"), {"payout_type": "Value 'flat' is not a valid choice."}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("payout", "revenue", "problems"), TERMS_CASES)
def test_a_goals_terms_are_checked_field_by_field(payout, revenue, problems):
    made = goal(payout, revenue)
    made.offer, made.value, made.title = OfferFactory(goals=[]), "sale", "Sale"
    if not problems:
        made.full_clean()
        made.save()
        return
    with pytest.raises(ValidationError) as refused:
        made.full_clean()
    assert {field: messages[0] for field, messages in refused.value.message_dict.items()} == problems


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        ({"payout_type": "flat"}, "goal_payout_type_valid"),
        (
            {"revenue_type": PERCENT, "revenue": Decimal(0), "revenue_percent": Decimal("100.01")},
            "goal_revenue_percent_range",
        ),
        ({"payout_percent": Decimal(5)}, "goal_payout_percent_matches_type"),
        ({"revenue_type": PERCENT, "revenue": Decimal(0)}, "goal_revenue_percent_matches_type"),
        ({"payout_type": PERCENT, "payout_percent": Decimal(5)}, "goal_payout_fixed_matches_type"),
        (
            {"revenue_type": MIXED, "revenue": Decimal(0), "revenue_percent": Decimal(5)},
            "goal_revenue_fixed_matches_type",
        ),
    ],
)
def test_the_database_refuses_terms_that_cannot_be(change, constraint):
    stored = GoalFactory()
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Goal.objects.filter(pk=stored.pk).update(**change)


# --- Managers edit the terms ----------------------------------------------------------------


@pytest.fixture
def admin_client(client, manager):
    client.force_login(manager)
    return client


def _admin_offer_form(advertiser, **goal_fields):
    return {
        "offer_id": "501",
        "advertiser": advertiser.pk,
        "title": "Shop",
        "description": "",
        "status": "active",
        "visibility": "public",
        "destination_url": "https://shop.example/?c={clickid}",
        "preview_url": "",
        "trafficback_url": "",
        "click_lifetime_days": "30",
        "hold_period_days": "0",
        "secure_code": "",
        "goals-TOTAL_FORMS": "1",
        "goals-INITIAL_FORMS": "0",
        "goals-MIN_NUM_FORMS": "1",
        "goals-MAX_NUM_FORMS": "1000",
        **{
            f"goals-0-{name}": value
            for name, value in {
                "value": "sale",
                "title": "Sale",
                "payout_type": FIXED,
                "payout": "0",
                "payout_percent": "0",
                "revenue_type": FIXED,
                "revenue": "0",
                "revenue_percent": "0",
                "currency": "USD",
                "default_status": "2",
                **goal_fields,
            }.items()
        },
    }


@pytest.mark.django_db
def test_a_manager_gives_a_goal_a_percent_payout_and_a_mixed_revenue_in_the_admin(admin_client):
    form = _admin_offer_form(
        AdvertiserFactory(),
        payout_type=PERCENT,
        payout_percent="12.5",
        revenue_type=MIXED,
        revenue="1",
        revenue_percent="20",
    )
    response = admin_client.post(reverse("admin:offers_offer_add"), form)
    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    saved = Goal.objects.get(offer__offer_id=501)
    assert (saved.payout_type, saved.payout, saved.payout_percent) == (PERCENT, 0, Decimal("12.5"))
    assert (saved.revenue_type, saved.revenue, saved.revenue_percent) == (MIXED, 1, 20)


@pytest.mark.django_db
def test_the_admin_refuses_a_percent_payout_without_a_percent_next_to_the_field(admin_client):
    form = _admin_offer_form(AdvertiserFactory(), payout_type=PERCENT)
    response = admin_client.post(reverse("admin:offers_offer_add"), form)
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors
    assert errors == [{"payout_percent": [NO_PAYOUT_PERCENT]}]
    assert not Goal.objects.exists()


OFFER = {
    "title": "Shop",
    "destination_url": "https://shop.example/?c={clickid}",
    "goals": [{"value": "sale", "title": "Sale", "payout_type": PERCENT, "payout_percent": "7.5"}],
}


@pytest.mark.django_db
def test_a_manager_creates_a_percent_goal_through_the_api(manager_api):
    response = manager_api.post(
        "/api/v1/manage/offers/", {**OFFER, "advertiser": AdvertiserFactory().pk}, format="json"
    )
    assert response.status_code == 201, response.json()
    [sale] = response.json()["goals"]
    assert (sale["payout_type"], sale["payout"], sale["payout_percent"]) == (PERCENT, "0.0000", "7.5000")
    assert (sale["revenue_type"], sale["revenue_percent"]) == (FIXED, "0.0000")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("terms", "field", "message"),
    [
        ({"payout_type": PERCENT}, "payout_percent", NO_PAYOUT_PERCENT),
        ({"revenue_type": MIXED, "revenue_percent": "3"}, "revenue", NO_FIXED_REVENUE),
        ({"payout_percent": "101"}, "payout_percent", "Ensure this value is less than or equal to 100."),
        ({"revenue_type": "cps"}, "revenue_type", '"cps" is not a valid choice.'),
    ],
)
def test_the_api_refuses_bad_terms_on_the_goals_field(manager_api, terms, field, message):
    goals = [{"value": "sale", "title": "Sale", **terms}]
    response = manager_api.post(
        "/api/v1/manage/offers/",
        {**OFFER, "advertiser": AdvertiserFactory().pk, "goals": goals},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"goals": {"0": {field: [message]}}}


@pytest.mark.django_db
def test_a_goal_written_again_without_its_terms_keeps_them(manager_api):
    offer = OfferFactory(
        goals=[
            {"value": "sale", "title": "Sale", "payout": "0", "payout_type": PERCENT, "payout_percent": "9"}
        ]
    )
    response = manager_api.patch(
        f"/api/v1/manage/offers/{offer.offer_id}/",
        {"goals": [{"value": "sale", "title": "Sale renamed"}]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    kept = offer.goals.get()
    assert (kept.title, kept.payout_type, kept.payout_percent) == ("Sale renamed", PERCENT, 9)


# --- Affiliates see the terms ---------------------------------------------------------------


@pytest.fixture
def shop():
    return OfferFactory(
        title="Shop",
        goals=[
            {"value": "lead", "title": "Lead", "payout": "1.5", "currency": "EUR"},
            {
                "value": "sale",
                "title": "Sale",
                "payout": "0",
                "payout_type": PERCENT,
                "payout_percent": "12.5",
            },
            {"value": "vip", "title": "VIP", "payout": "2", "payout_type": MIXED, "payout_percent": "5"},
        ],
    )


@pytest.mark.django_db
def test_the_offer_page_and_the_offer_list_show_a_percent_payout_in_words(portal, shop):
    for url in [f"/offers/{shop.offer_id}/", "/offers/"]:
        page = portal.get(url).content.decode()
        assert "1.50 EUR" in page, url
        assert "12.5% of the sale" in page, url
        assert "2.00 USD + 5% of the sale" in page, url


@pytest.mark.django_db
def test_the_partner_api_gives_the_payout_type_percent_and_words(affiliate_api, shop):
    goals = affiliate_api.get(f"/api/v1/offers/{shop.offer_id}/").json()["goals"]
    assert [(g["value"], g["payout_type"], g["payout_percent"], g["payout_terms"]) for g in goals] == [
        ("lead", FIXED, "0.0000", "1.50 EUR"),
        ("sale", PERCENT, "12.5000", "12.5% of the sale"),
        ("vip", MIXED, "5.0000", "2.00 USD + 5% of the sale"),
    ]
    assert all("revenue" not in name for goal in goals for name in goal)
