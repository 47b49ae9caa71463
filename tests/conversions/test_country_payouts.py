"""Payouts by country through real clicks and advertiser postbacks: a conversion is paid by its
goal's terms for its click's country (8.8.8.8 is in the US, 2a00:1450:4001:80b::200e in Germany,
212.27.48.10 in France), the goal's own where the country has none; status changes and approvals
compute again with the country's terms; the statistics count what was paid."""

from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversions.intake import AdvertiserHit
from conversions.lifecycle import conversion_set_status
from conversions.models import Conversion
from conversions.recording import hits_record
from offers.choices import ConversionStatus
from offers.payouts import CURRENCY_NEEDED
from offers.services import goal_set_country_payouts, offer_save_with_goals
from stats.models import DailyAudienceStat
from tests.factories import OfferFactory
from tests.stats.rollup import expected, stored

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

US, DE, FR = "8.8.8.8", "2a00:1450:4001:80b::200e", "212.27.48.10"
UNKNOWN = "192.0.2.1"  # a documentation address: no country


def country_payout(country, payout="0", revenue="0", payout_percent="0", revenue_percent="0") -> dict:
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
        goals=[
            {"value": "lead", "title": "Lead", "payout": "1", "revenue": "2"},
            {
                "value": "sale",
                "title": "Sale",
                "payout": "0",
                "payout_type": "percent",
                "payout_percent": "10",
                "revenue": "0",
                "revenue_type": "percent",
                "revenue_percent": "20",
            },
        ]
    )
    goal_set_country_payouts(
        goal=offer.goals.get(value="lead"),
        country_payouts=[country_payout("US", "5", "6"), country_payout("DE", "3", "4")],
    )
    goal_set_country_payouts(
        goal=offer.goals.get(value="sale"),
        country_payouts=[country_payout("US", payout_percent="15", revenue_percent="25")],
    )
    return offer


def click(client, offer, affiliate, ip) -> str:
    link = f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json"
    return client.get(link, REMOTE_ADDR=ip).json()["click_id"]


def postback(client, **params) -> Conversion:
    response = client.get("/postback?" + urlencode(params))
    assert response.status_code == 200, response.json()
    return Conversion.objects.get(conversion_id=response.json()["conversion_id"])


def paid(conversion) -> tuple:
    conversion.refresh_from_db()
    return conversion.country, conversion.payout, conversion.revenue, conversion.currency


# --- Fixed amounts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "country", "payout", "revenue"),
    [
        pytest.param(US, "US", "5", "6", id="a US click is paid the US payout"),
        pytest.param(DE, "DE", "3", "4", id="a German click is paid the German payout"),
        pytest.param(FR, "FR", "1", "2", id="a French click is paid the goal's own"),
        pytest.param(UNKNOWN, "", "1", "2", id="a click without a country is paid the goal's own"),
    ],
)
def test_a_conversion_is_paid_by_its_clicks_country(client, offer, affiliate, ip, country, payout, revenue):
    conversion = postback(client, clickid=click(client, offer, affiliate, ip), goal="lead")
    assert paid(conversion) == (country, Decimal(payout), Decimal(revenue), "USD")


def test_a_probabilistic_postback_without_a_click_is_paid_by_the_country_the_advertiser_sent(
    client, offer, affiliate
):
    german = postback(client, offer_id=offer.offer_id, pid=affiliate.pid, goal="lead", country="de")
    unsent = postback(client, offer_id=offer.offer_id, pid=affiliate.pid, goal="lead", action_id="o-2")
    # Upper-cased, "ß" would be "SS" (South Sudan): only two ASCII letters name a country.
    unknown = postback(
        client, offer_id=offer.offer_id, pid=affiliate.pid, goal="lead", action_id="o-3", country="ß"
    )
    assert paid(german) == ("DE", Decimal(3), Decimal(4), "USD")
    assert paid(unsent) == paid(unknown) == ("", Decimal(1), Decimal(2), "USD")


def test_a_probabilistic_postback_linked_to_a_click_is_paid_by_the_clicks_country(client, offer, affiliate):
    click(client, offer, affiliate, US)
    conversion = postback(
        client, offer_id=offer.offer_id, pid=affiliate.pid, goal="lead", ip=US, country="DE"
    )
    assert paid(conversion) == ("US", Decimal(5), Decimal(6), "USD")


def test_a_change_of_the_country_payouts_pays_later_conversions_and_keeps_earlier_ones(
    client, offer, affiliate, settings
):
    # Offers are cached for a few seconds on the conversion path: here, not at all.
    settings.CLICK_LOOKUP_CACHE_SECONDS = 0
    earlier = postback(client, clickid=click(client, offer, affiliate, US), goal="lead")
    goal_set_country_payouts(goal=offer.goals.get(value="lead"), country_payouts=[])
    later = postback(client, clickid=click(client, offer, affiliate, US), goal="lead")
    assert paid(earlier)[1:3] == (Decimal(5), Decimal(6))
    assert paid(later)[1:3] == (Decimal(1), Decimal(2))


# --- Percents -------------------------------------------------------------------------------


def test_a_percent_goal_pays_the_countrys_percent_of_the_sum(client, offer, affiliate):
    american = postback(
        client, clickid=click(client, offer, affiliate, US), goal="sale", sum="80", currency="EUR"
    )
    french = postback(
        client, clickid=click(client, offer, affiliate, FR), goal="sale", sum="80", currency="EUR"
    )
    assert paid(american) == ("US", Decimal("12.00"), Decimal("20.00"), "EUR")
    assert paid(french) == ("FR", Decimal("8.00"), Decimal("16.00"), "EUR")


def test_a_status_change_with_a_new_sum_is_paid_by_the_countrys_terms(client, offer, affiliate):
    click_id = click(client, offer, affiliate, US)
    conversion = postback(client, clickid=click_id, goal="sale", sum="100", action_id="o-1")
    assert paid(conversion)[1:3] == (Decimal("15.00"), Decimal("25.00"))
    postback(client, clickid=click_id, goal="sale", sum="60", status=1, action_id="o-1")
    assert paid(conversion) == ("US", Decimal("9.00"), Decimal("15.00"), "USD")
    assert conversion.status == ConversionStatus.APPROVED


def test_a_sum_in_another_currency_is_refused_where_the_countrys_amounts_add_a_fixed_part(client, affiliate):
    # 10% of the sale, and a fixed revenue: none of the goal's own, 3.00 USD in the US.
    offer = OfferFactory(
        goals=[
            {
                "value": "sale",
                "title": "Sale",
                "payout": "0",
                "payout_type": "percent",
                "payout_percent": "10",
                "revenue": "0",
            }
        ]
    )
    goal_set_country_payouts(
        goal=offer.goals.get(),
        country_payouts=[country_payout("US", revenue="3", payout_percent="10")],
    )
    french = postback(client, clickid=click(client, offer, affiliate, FR), sum="50", currency="EUR")
    assert paid(french) == ("FR", Decimal("5.00"), Decimal(0), "EUR")
    params = {"clickid": click(client, offer, affiliate, US), "sum": "50", "currency": "EUR"}
    response = client.get("/postback?" + urlencode(params))
    assert (response.status_code, response.json()["message"]) == (
        400,
        CURRENCY_NEEDED.format(goal="USD", sent="EUR"),
    )


# --- Approving a conversion declined for a goal the offer lacked -----------------------------


def test_a_conversion_declined_for_an_unknown_goal_is_approved_with_its_countrys_amounts(
    client, offer, affiliate
):
    conversion = postback(client, clickid=click(client, offer, affiliate, DE), goal="vip")
    assert paid(conversion) == ("DE", Decimal(0), Decimal(0), "USD")
    goals = [{"value": goal.value, "title": goal.title} for goal in offer.goals.all()] + [
        {
            "value": "vip",
            "title": "VIP",
            "payout": Decimal(7),
            "revenue": Decimal(8),
            "country_payouts": [country_payout("DE", "9", "10")],
        }
    ]
    offer_save_with_goals(offer=offer, goals=goals)
    conversion_set_status(conversion=conversion, status=ConversionStatus.APPROVED, source="manager")
    assert paid(conversion) == ("DE", Decimal(9), Decimal(10), "USD")
    assert conversion.goal.value == "vip"


# --- Statistics ------------------------------------------------------------------------------


def test_the_statistics_count_each_countrys_amounts(client, offer, affiliate):
    for ip in [US, US, DE, FR]:
        postback(client, clickid=click(client, offer, affiliate, ip), goal="lead", status=1)
    rows = DailyAudienceStat.objects.filter(goal__value="lead")
    by_country = {row.country: (row.approved, row.payout_approved, row.revenue_approved) for row in rows}
    assert by_country == {
        "US": (2, Decimal(10), Decimal(12)),
        "DE": (1, Decimal(3), Decimal(4)),
        "FR": (1, Decimal(1), Decimal(2)),
    }
    assert stored() == expected()


# --- Queries ---------------------------------------------------------------------------------


def test_a_batch_of_conversions_reads_the_country_payouts_once(client, offer, affiliate):
    click_ids = [click(client, offer, affiliate, ip) for ip in [US, DE, FR, US, DE, FR]]
    hits = [
        AdvertiserHit({"clickid": click_id, "goal": "lead"}, "postback", "GET", "", "127.0.0.1")
        for click_id in click_ids
    ]
    with CaptureQueriesContext(connection) as queries:
        results = hits_record(hits)
    assert [result.message for result in results] == ["ok"] * 6
    reads = [query["sql"] for query in queries.captured_queries if "offers_goalcountrypayout" in query["sql"]]
    assert len(reads) == 1
    payouts = [paid(result.conversion)[1] for result in results]
    assert payouts == [Decimal(5), Decimal(3), Decimal(1), Decimal(5), Decimal(3), Decimal(1)]
