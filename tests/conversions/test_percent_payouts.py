"""Conversions of goals that pay a percent of the advertiser's sum, through /postback: the amounts
computed from the sum, the refusals, status changes carrying a new sum, and what the statistics,
the exports and the affiliate postbacks then show."""

import csv
import io
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from conversions.intake import AdvertiserHit
from conversions.lifecycle import conversion_create_test, conversion_set_status
from conversions.models import Conversion, ConversionEvent, ServerPostback
from conversions.recording import hits_record
from offers.choices import ConversionStatus
from offers.payouts import SUM_NEEDED
from postbacks.macros import values_for
from postbacks.models import Delivery
from stats.models import DailyStat
from tests.factories import OfferFactory, PostbackFactory
from tests.stats.rollup import expected, stored

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

CURRENCY_NEEDED_USD = (
    "This goal adds a fixed amount in USD to a percent of the sum: send the sum in USD "
    "(currency=USD), not in EUR"
)


@pytest.fixture
def offer():
    return OfferFactory(
        goals=[
            # CPS with a revenue share: any currency.
            {
                "value": "sale",
                "title": "Sale",
                "payout": "0",
                "payout_type": "percent",
                "payout_percent": "10",
                "revenue": "0",
                "revenue_type": "percent",
                "revenue_percent": "15",
            },
            # CPA + CPS: fixed parts in USD, so sums in USD only.
            {
                "value": "vip",
                "title": "VIP",
                "payout": "2",
                "payout_type": "fixed_plus_percent",
                "payout_percent": "5",
                "revenue": "3",
            },
            {"value": "lead", "title": "Lead", "payout": "1.5", "revenue": "2", "currency": "EUR"},
        ]
    )


@pytest.fixture
def click_id(client, offer, affiliate):
    return client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()["click_id"]


def postback(client, **params):
    return client.get("/postback?" + urlencode(params))


def answered(response) -> tuple[int, str]:
    return response.status_code, response.json()["message"]


def conversion_of(response) -> Conversion:
    assert response.status_code == 200, response.json()
    return Conversion.objects.get(conversion_id=response.json()["conversion_id"])


def amounts(conversion) -> tuple:
    conversion.refresh_from_db()
    return (
        conversion.payout,
        conversion.revenue,
        conversion.currency,
        conversion.order_sum,
        conversion.order_currency,
    )


# --- Creation -------------------------------------------------------------------------------


def test_a_percent_goal_pays_its_share_of_the_sum_in_the_sums_currency(client, click_id):
    conversion = conversion_of(postback(client, clickid=click_id, goal="sale", sum="80.10", currency="eur"))
    assert amounts(conversion) == (Decimal("8.01"), Decimal("12.02"), "EUR", Decimal("80.1"), "EUR")


def test_half_a_cent_is_rounded_up(client, click_id):
    # 10% of 0.25 is 0.025 and 15% of it 0.0375: 0.03 and 0.04, where rounding to even would pay 0.02.
    conversion = conversion_of(postback(client, clickid=click_id, goal="sale", sum="0.25"))
    assert amounts(conversion)[:2] == (Decimal("0.03"), Decimal("0.04"))


def test_a_sum_without_a_currency_is_in_the_goals_and_the_conversion_says_so(client, click_id):
    conversion = conversion_of(postback(client, clickid=click_id, goal="vip", sum="40"))
    assert amounts(conversion) == (Decimal("4.00"), Decimal(3), "USD", Decimal(40), "USD")


def test_a_fixed_goal_keeps_its_amounts_and_currency_whatever_the_sum(client, click_id):
    conversion = conversion_of(postback(client, clickid=click_id, goal="lead", sum="999", currency="USD"))
    assert amounts(conversion) == (Decimal("1.5"), Decimal(2), "EUR", Decimal(999), "USD")


def test_a_percent_goal_without_a_sum_is_refused_and_logged(client, click_id):
    assert answered(postback(client, clickid=click_id, goal="sale", action_id="o-1")) == (400, SUM_NEEDED)
    assert not Conversion.objects.exists()
    logged = ServerPostback.objects.get()
    assert (logged.outcome, logged.http_status, logged.message) == ("rejected", 400, SUM_NEEDED)


def test_a_mixed_goal_refuses_a_sum_in_another_currency_and_names_the_one_to_send(client, click_id):
    response = postback(client, clickid=click_id, goal="vip", sum="40", currency="EUR")
    assert answered(response) == (400, CURRENCY_NEEDED_USD)
    assert not Conversion.objects.exists()
    conversion = conversion_of(postback(client, clickid=click_id, goal="vip", sum="40", currency="USD"))
    assert amounts(conversion)[:3] == (Decimal("4.00"), Decimal(3), "USD")


def test_a_probabilistic_postback_without_a_sum_is_refused_too(client, offer, affiliate):
    response = postback(client, offer_id=offer.offer_id, pid=affiliate.pid, goal="sale")
    assert answered(response) == (400, SUM_NEEDED)
    assert not Conversion.objects.exists()


# --- Repeats --------------------------------------------------------------------------------


def test_a_status_change_with_a_new_sum_pays_on_the_new_sum(client, click_id):
    conversion = conversion_of(postback(client, clickid=click_id, goal="sale", sum="100", action_id="o-1"))
    response = postback(client, clickid=click_id, goal="sale", sum="60", status=1, action_id="o-1")
    assert answered(response) == (200, "ok")
    assert amounts(conversion) == (Decimal("6.00"), Decimal("9.00"), "USD", Decimal(60), "USD")
    assert conversion.status == ConversionStatus.APPROVED


def test_a_status_change_without_a_sum_keeps_the_amounts(client, click_id):
    conversion = conversion_of(postback(client, clickid=click_id, goal="sale", sum="100", currency="EUR"))
    assert answered(postback(client, clickid=click_id, goal="sale", status=3)) == (200, "ok")
    assert amounts(conversion) == (Decimal("10.00"), Decimal("15.00"), "EUR", Decimal(100), "EUR")
    assert conversion.status == ConversionStatus.DECLINED


def test_a_replay_with_another_sum_is_a_duplicate_and_changes_nothing(client, click_id):
    conversion = conversion_of(postback(client, clickid=click_id, goal="sale", sum="100"))
    for replay in [{"sum": "500"}, {"sum": "500", "status": 2}, {}, {"status": 2}]:
        assert answered(postback(client, clickid=click_id, goal="sale", **replay)) == (200, "duplicate")
    assert amounts(conversion) == (Decimal("10.00"), Decimal("15.00"), "USD", Decimal(100), "USD")
    assert conversion.events.count() == 1


def test_a_status_change_with_a_sum_in_another_currency_for_a_mixed_goal_is_refused(client, click_id):
    conversion = conversion_of(postback(client, clickid=click_id, goal="vip", sum="40"))
    response = postback(client, clickid=click_id, goal="vip", sum="50", currency="EUR", status=1)
    assert answered(response) == (400, CURRENCY_NEEDED_USD)
    assert amounts(conversion)[:4] == (Decimal("4.00"), Decimal(3), "USD", Decimal(40))
    assert conversion.status == ConversionStatus.PENDING and conversion.events.count() == 1


def test_a_status_change_with_a_sum_for_a_fixed_goal_stores_the_sum_and_keeps_the_amounts(
    client, click_id, offer
):
    conversion = conversion_of(postback(client, clickid=click_id, goal="lead", sum="10"))
    offer.goals.filter(value="lead").update(payout=Decimal(9))  # the terms changed since
    assert answered(postback(client, clickid=click_id, goal="lead", sum="70", status=1)) == (200, "ok")
    assert amounts(conversion) == (Decimal("1.5"), Decimal(2), "EUR", Decimal(70), "EUR")


def test_a_postback_without_a_sum_ahead_of_the_one_that_creates_in_the_same_batch_is_refused(
    click_id,
):
    def hit(**params):
        return AdvertiserHit(
            {"clickid": click_id, "goal": "sale", **params}, "postback", "GET", "", "127.0.0.1"
        )

    first, second = hits_record([hit(status="1"), hit(sum="20")])
    assert (first.http_status, first.message) == (400, SUM_NEEDED)
    assert (second.http_status, second.message) == (200, "ok")
    later_first, later_second = hits_record([hit(sum="30"), hit(status="1")])
    assert (later_first.message, later_second.message) == ("duplicate", "ok")
    assert amounts(second.conversion)[:2] == (Decimal("2.00"), Decimal("3.00"))


# --- Statistics, exports and affiliate postbacks ---------------------------------------------


def test_the_rollup_moves_a_recomputed_amount_out_of_the_old_status_and_into_the_new(client, click_id):
    conversion = conversion_of(postback(client, clickid=click_id, goal="sale", sum="100", action_id="o-1"))
    postback(client, clickid=click_id, goal="sale", sum="60", currency="EUR", status=5, action_id="o-1")
    rows = {row.currency: row for row in DailyStat.objects.filter(goal__value="sale")}
    usd, eur = rows["USD"], rows["EUR"]
    assert (usd.pending, usd.payout_pending, usd.revenue_pending) == (0, 0, 0)
    assert (eur.hold, eur.payout_hold, eur.revenue_hold) == (1, Decimal(6), Decimal(9))
    conversion_set_status(conversion=conversion, status=ConversionStatus.APPROVED, source="manager")
    eur.refresh_from_db()
    assert (eur.hold, eur.payout_hold, eur.approved, eur.payout_approved) == (0, 0, 1, Decimal(6))
    assert stored() == expected()


def test_statistics_and_exports_show_the_computed_amounts(
    client, click_id, affiliate_api, manager_api, portal
):
    postback(client, clickid=click_id, goal="sale", sum="37.50", currency="EUR", status=1)
    totals = affiliate_api.get("/api/v1/stats/").json()["totals"]
    assert totals["conversions"]["approved"] == 1
    assert totals["payout"] == {
        "EUR": {"approved": "3.7500", "pending": "0.0000", "declined": "0.0000", "hold": "0.0000"}
    }
    network = manager_api.get("/api/v1/manage/stats/").json()["totals"]
    assert network["revenue"]["EUR"]["approved"] == "5.6300"

    report = _csv(portal.get("/statistics/csv/"))
    assert report[-1][0] == "total"
    assert dict(zip(report[0], report[-1], strict=True))["payout EUR"] == "3.75"

    [header, row] = _csv(portal.get("/statistics/conversions/csv/"))
    exported = dict(zip(header, row, strict=True))
    assert (exported["payout"], exported["currency"]) == ("3.75", "EUR")


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_affiliate_postbacks_send_the_computed_payout_as_sum_and_the_advertisers_sum_as_order_sum(
    client, click_id, affiliate
):
    PostbackFactory(
        affiliate=affiliate,
        url="http://127.0.0.1:9/pb?p={sum}&c={currency}&o={order_sum}&oc={order_currency}&s={status}",
    )
    conversion = conversion_of(postback(client, clickid=click_id, goal="vip", sum="40", action_id="o-1"))
    postback(client, clickid=click_id, goal="vip", sum="50", status=1, action_id="o-1")
    sent = list(Delivery.objects.order_by("pk").values_list("url", flat=True))
    assert sent == [
        "http://127.0.0.1:9/pb?p=4&c=USD&o=40&oc=USD&s=2",
        "http://127.0.0.1:9/pb?p=4.5&c=USD&o=50&oc=USD&s=1",
    ]
    conversion.refresh_from_db()
    values = values_for(conversion, conversion.status)
    assert (values["sum"], values["order_sum"]) == ("4.5", "50")


def test_a_test_conversion_of_a_percent_goal_is_paid_on_a_sample_sum(offer, affiliate):
    event = conversion_create_test(
        offer=offer,
        affiliate=affiliate,
        goal=offer.goals.get(value="sale"),
        status=ConversionStatus.PENDING,
        integration_method="default",
    )
    assert event.source == ConversionEvent.Source.TEST
    assert amounts(event.conversion) == (Decimal("10.00"), Decimal("15.00"), "USD", Decimal(100), "USD")
