"""The network dashboard (`/admin/dashboard/`): a period's clicks, conversions and money per
currency beside the previous period of the same length, the top affiliates and offers by profit,
every count and amount linked to the admin's list of the rows it counts."""

import re
from datetime import date
from decimal import Decimal
from html import unescape

import pytest
from django.utils import timezone

from manager.selectors.dashboard import (
    Compared,
    change_text,
    earnings,
    network_dashboard,
    points_change_text,
    previous_period,
    top_by_profit,
)
from offers.choices import ConversionStatus
from offers.targeting import TargetingRefusal
from stats.selectors import Figures, stats_report
from tests.factories import AffiliateFactory, OfferFactory
from tests.stats.rollup import at, click_row, convert, write_clicks

pytestmark = pytest.mark.django_db

PERIOD = {"date_from": "2025-05-01", "date_to": "2025-05-03"}
APPROVED, PENDING, HOLD, DECLINED = (
    ConversionStatus.APPROVED,
    ConversionStatus.PENDING,
    ConversionStatus.HOLD,
    ConversionStatus.DECLINED,
)


# --- The arithmetic ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "date_from, date_to, previous",
    [
        (date(2025, 5, 1), date(2025, 5, 3), (date(2025, 4, 28), date(2025, 4, 30))),
        (date(2025, 5, 1), date(2025, 5, 1), (date(2025, 4, 30), date(2025, 4, 30))),
        (date(2025, 1, 1), date(2025, 1, 31), (date(2024, 12, 1), date(2024, 12, 31))),
        (date(2024, 3, 1), date(2024, 3, 31), (date(2024, 1, 30), date(2024, 2, 29))),
    ],
)
def test_the_previous_period_is_as_long_and_ends_the_day_before(date_from, date_to, previous):
    assert previous_period(date_from, date_to) == previous


@pytest.mark.parametrize(
    "current, previous, text",
    [
        (225, 200, "+12.5%"),
        (150, 200, "-25.0%"),
        (0, 200, "-100.0%"),
        (200, 200, "±0%"),
        (5, 0, "new"),
        (Decimal("-3"), 0, "new"),
        (0, 0, "-"),
        (None, 5, "-"),
        (5, None, "-"),
        # A loss that shrinks is a rise: the change is relative to the size of the previous figure.
        (Decimal("-5"), Decimal("-10"), "+50.0%"),
        (Decimal("5"), Decimal("-10"), "+150.0%"),
        (Decimal("1.5"), Decimal("3.0000"), "-50.0%"),
    ],
)
def test_a_change_is_relative_to_the_previous_figure(current, previous, text):
    assert change_text(current, previous) == text


@pytest.mark.parametrize(
    "current, previous, text",
    [
        (Decimal("62.5"), Decimal("60.0"), "+2.5 pp"),
        (Decimal("4.10"), Decimal("4.50"), "-0.40 pp"),
        (Decimal("60.0"), Decimal("60.0"), "±0 pp"),
        (None, Decimal("60.0"), "-"),
        (Decimal("60.0"), None, "-"),
    ],
)
def test_a_rate_changes_by_percentage_points(current, previous, text):
    assert points_change_text(current, previous) == text
    assert Compared(current, previous, rate=True).change == text


def _figures(*amounts) -> Figures:
    """Figures holding (status, currency, revenue, payout) amounts, as the rollup adds them."""
    figures = Figures(clicks=10)
    for status, currency, revenue, payout in amounts:
        values = dict.fromkeys(["clicks", "unique_clicks", "refused_country", "refused_os", "refused_device"])
        values |= {name: 0 for name in ["approved", "pending", "declined", "hold"]}
        values |= {f"{kind}_{name}": 0 for kind in ["payout", "revenue"] for name in figures.counts}
        values |= {status: 1, f"revenue_{status}": Decimal(revenue), f"payout_{status}": Decimal(payout)}
        figures.add_counters(values, currency)
    return figures


def test_profit_and_margin_count_approved_money_and_expected_money_is_pending_and_hold():
    figures = _figures(
        ("approved", "USD", "30", "10"),
        ("approved", "USD", "5", "4"),
        ("pending", "USD", "4", "1.5"),
        ("hold", "USD", "4", "1.5"),
        ("declined", "USD", "100", "50"),
    )
    usd = earnings(figures, "USD")
    assert (usd.revenue, usd.payout, usd.profit, usd.margin) == (35, 14, 21, Decimal("60.0"))
    assert (usd.expected_revenue, usd.expected_payout) == (8, 3)


def test_a_currency_without_revenue_has_no_margin_and_a_currency_not_there_is_zero():
    figures = _figures(("approved", "EUR", "0", "2"))
    assert earnings(figures, "EUR").profit == -2 and earnings(figures, "EUR").margin is None
    absent = earnings(figures, "GBP")
    assert (absent.revenue, absent.payout, absent.profit, absent.margin) == (0, 0, 0, None)


# --- With real rows ------------------------------------------------------------------------------


@pytest.fixture
def alice():
    return AffiliateFactory(user__username="alice")


@pytest.fixture
def bob():
    return AffiliateFactory(user__username="bob")


@pytest.fixture
def fitness():
    return OfferFactory(title="Fitness app")


@pytest.fixture
def dating():
    return OfferFactory(title="Dating app")


def _convert(offer, affiliate, status, currency, revenue, payout, day, **fields):
    return convert(
        offer=offer,
        affiliate=affiliate,
        status=status,
        currency=currency,
        revenue=Decimal(revenue),
        payout=Decimal(payout),
        created_at=at(day),
        **fields,
    )


@pytest.fixture
def network(alice, bob, fitness, dating):
    """The period (2025-05-01..03): alice's 10 clicks on the fitness app, 4 of them test clicks
    not counted, and bob's 5 on the dating app (2 refused by targeting beside them); alice's
    conversions of every status in USD, bob's approved ones in EUR and USD, a test conversion.
    The previous period (2025-04-28..30): alice's 12 clicks and one approved USD conversion."""
    write_clicks(
        *(
            click_row(offer=fitness, affiliate=alice, ip=f"198.51.100.{n}", at=at("2025-05-01"))
            for n in range(6)
        ),
        *(click_row(offer=fitness, affiliate=alice, at=at("2025-05-01"), is_test=True) for _ in range(4)),
        *(click_row(offer=dating, affiliate=bob, ip=f"203.0.113.{n}", at=at("2025-05-02")) for n in range(5)),
        *(
            click_row(
                offer=dating, affiliate=bob, at=at("2025-05-02"), refused=TargetingRefusal.COUNTRY.value
            )
            for _ in range(2)
        ),
        *(
            click_row(offer=fitness, affiliate=alice, ip=f"192.0.2.{n}", at=at("2025-04-29"))
            for n in range(12)
        ),
    )
    _convert(fitness, alice, APPROVED, "USD", "30", "10", "2025-05-01")
    _convert(fitness, alice, PENDING, "USD", "4", "1.5", "2025-05-01")
    _convert(fitness, alice, HOLD, "USD", "4", "1.5", "2025-05-03")
    _convert(fitness, alice, DECLINED, "USD", "100", "50", "2025-05-01")
    _convert(fitness, alice, APPROVED, "USD", "1000", "900", "2025-05-01", is_test=True)
    _convert(dating, bob, APPROVED, "EUR", "20", "5", "2025-05-02")
    _convert(dating, bob, APPROVED, "USD", "5", "4", "2025-05-02")
    _convert(fitness, alice, APPROVED, "USD", "20", "10", "2025-04-29")


def _figures_of(**period):
    return network_dashboard(
        date_from=date.fromisoformat(period["date_from"]), date_to=date.fromisoformat(period["date_to"])
    )


def test_the_counts_stand_beside_the_previous_periods(network):
    counts = _figures_of(**PERIOD).counts
    assert (counts["clicks"].current, counts["clicks"].previous, counts["clicks"].change) == (11, 12, "-8.3%")
    assert (counts["refused_clicks"].current, counts["refused_clicks"].change) == (2, "new")
    assert (counts["conversions"].current, counts["conversions"].previous) == (6, 1)
    assert [counts[name].current for name in ["approved", "pending", "hold", "declined"]] == [3, 1, 1, 1]
    # 5 payable conversions for 11 clicks, against 1 for 12.
    assert (counts["cr"].current, counts["cr"].previous) == (Decimal("45.45"), Decimal("8.33"))
    assert counts["cr"].change == "+37.12 pp"


def test_money_is_per_currency_and_only_approved_money_is_earned(network):
    money = {table.currency: table for table in _figures_of(**PERIOD).money}
    assert list(money) == ["EUR", "USD"]
    usd, eur = money["USD"], money["EUR"]
    # The declined 100 and the test conversion's 1000 count nowhere; EUR is never added to USD.
    assert (usd.revenue.current, usd.payout.current, usd.profit.current) == (35, 14, 21)
    assert (usd.revenue.previous, usd.payout.previous, usd.profit.previous) == (20, 10, 10)
    assert (usd.revenue.change, usd.profit.change) == ("+75.0%", "+110.0%")
    assert (usd.margin.current, usd.margin.previous, usd.margin.change) == (
        Decimal("60.0"),
        Decimal("50.0"),
        "+10.0 pp",
    )
    assert (usd.expected_revenue.current, usd.expected_payout.current) == (8, 3)
    assert (usd.epc.current, usd.epc.previous) == (Decimal("3.1818"), Decimal("1.6667"))
    assert (eur.revenue.current, eur.profit.current, eur.margin.current) == (20, 15, Decimal("75.0"))
    assert (eur.revenue.previous, eur.revenue.change, eur.margin.change) == (0, "new", "-")


def test_the_top_affiliates_and_offers_rank_by_profit_in_the_first_currency_then_the_next(
    network, alice, bob, fitness, dating
):
    figures = _figures_of(**PERIOD)
    # EUR comes first: bob's 15 EUR of profit rank him above alice's 20 USD.
    assert [top.row.affiliate for top in figures.top_affiliates] == [bob, alice]
    assert [top.row.offer for top in figures.top_offers] == [dating, fitness]
    alice_row = figures.top_affiliates[1]
    assert [(money.currency, money.profit) for money in alice_row.earnings] == [("EUR", 0), ("USD", 20)]
    assert [(profit.current, profit.previous, profit.change) for profit in alice_row.profit] == [
        (0, 0, "-"),
        (20, 10, "+100.0%"),
    ]


def test_top_by_profit_keeps_ten_rows_and_ranks_a_loss_last(fitness):
    affiliates = AffiliateFactory.create_batch(12)
    for n, affiliate in enumerate(affiliates):
        _convert(fitness, affiliate, APPROVED, "USD", str(10 + n), "10", "2025-05-01")
    loser = AffiliateFactory()
    _convert(fitness, loser, APPROVED, "USD", "0", "5", "2025-05-01")
    report = stats_report(
        affiliate=None, group_by="affiliate", date_from=date(2025, 5, 1), date_to=date(2025, 5, 1)
    )
    top = top_by_profit(report)
    assert [row.affiliate for row in top] == affiliates[::-1][:10]
    assert [row.affiliate for row in top_by_profit(report, limit=20)][-1] == loser


# --- The page ------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, manager):
    client.force_login(manager)
    return client


def _page(client, **params):
    response = client.get("/admin/dashboard/", {**PERIOD, **params})
    assert response.status_code == 200
    return response


def _links(html: str, section_id: str) -> dict[str, str]:
    """The links of one table of the page: its text -> its address."""
    start = html.index(f'id="{section_id}"')
    table = html[start : html.index("</table>", start)]
    return {
        unescape(text).strip(): unescape(href)
        for href, text in re.findall(r'<a href="([^"]+)">([^<]*)</a>', table)
    }


def test_the_page_shows_the_period_the_previous_one_and_money_per_currency(admin_client, network):
    page = _page(admin_client).content.decode()
    assert "2025-05-01 to 2025-05-03 (UTC), beside the previous 3 days: 2025-04-28 to 2025-04-30" in page
    assert '<table id="money-EUR"' in page and '<table id="money-USD"' in page
    usd = page[page.index('id="money-USD"') : page.index("</table>", page.index('id="money-USD"'))]
    assert re.search(
        r"Profit .*?</th>\s*<td[^>]*><a [^>]+>21\.00</a></td><td[^>]*><a [^>]+>10\.00</a></td>\s*"
        r'<td class="number change">\+110\.0%</td>',
        usd,
        re.S,
    )
    assert "EPC" in usd and "revenue per click" in usd and "3.1818" in usd
    assert "Refused clicks" in page  # as the portal's dashboard shows them


def _listed(client, link):
    """The rows an admin list at `link` shows, all of them (the lists page by 50)."""
    response = client.get(link)
    assert response.status_code == 200, link
    assert "?e=1" not in response.get("Location", ""), link
    return response.context["cl"].queryset


def test_every_count_links_to_the_rows_it_counts(admin_client, network):
    html = _page(admin_client).content.decode()
    context = admin_client.get("/admin/dashboard/", PERIOD).context
    for line in context["counts"]:
        for value, link in line["cells"]:
            if link is None:
                continue
            listed = _listed(admin_client, link)
            assert listed.count() == value, (line["label"], link)
    # The links are on the page, where the numbers are.
    counts = _links(html, "counts")
    assert set(counts) >= {"11", "12", "6", "1", "3", "2"}


def test_every_amount_links_to_the_conversions_it_sums(admin_client, network):
    context = _page(admin_client).context
    checked = 0
    for table in context["money"]:
        for line in table["lines"]:
            for value, link in line["cells"]:
                if link is None:
                    continue
                listed = list(_listed(admin_client, link))
                assert {conversion.currency for conversion in listed} <= {table["currency"]}
                revenue = sum((conversion.revenue for conversion in listed), Decimal(0))
                payout = sum((conversion.payout for conversion in listed), Decimal(0))
                sums = {
                    "Revenue": revenue,
                    "Payout": payout,
                    "Profit": revenue - payout,
                    "Expected revenue": revenue,
                    "Expected payout": payout,
                }
                assert sums[line["label"]] == value, (table["currency"], line["label"], link)
                checked += 1
    assert checked == 2 * 5 * 2


def test_the_top_rows_link_to_their_page_and_to_their_own_rows(admin_client, network, alice, bob, fitness):
    context = _page(admin_client).context
    for top in [*context["top_affiliates"], *context["top_offers"]]:
        figures = top["ranked"].row.figures
        assert admin_client.get(top["page"]).status_code == 200
        assert _listed(admin_client, top["clicks"]).count() == figures.clicks
        assert _listed(admin_client, top["conversions"]).count() == figures.conversions
        for money, _, link in top["money"]:
            listed = list(_listed(admin_client, link))
            assert sum((row.revenue - row.payout for row in listed), Decimal(0)) == money.profit
    alice_row = context["top_affiliates"][1]
    assert alice_row["page"] == f"/admin/network/affiliates/{alice.pid}/"
    assert context["top_offers"][1]["page"] == f"/admin/offers/offer/{fitness.pk}/change/"
    html = _page(admin_client).content.decode()
    assert f"pid {bob.pid} bob" in _links(html, "top-affiliates")


def test_the_days_link_to_their_own_rows(admin_client, network):
    context = _page(admin_client).context
    assert [day["row"].day for day in context["days"]] == [
        date(2025, 5, 1),
        date(2025, 5, 2),
        date(2025, 5, 3),
    ]
    for day in context["days"]:
        figures = day["row"].figures
        assert _listed(admin_client, day["clicks"]).count() == figures.clicks
        assert _listed(admin_client, day["conversions"]).count() == figures.conversions
        assert _listed(admin_client, day["approved"]).count() == figures.counts["approved"]


def test_the_trends_hold_every_day_with_payout_and_profit_per_currency(admin_client, network):
    data = _page(admin_client).context["chart_data"]
    assert data["days"] == ["2025-05-01", "2025-05-02", "2025-05-03"]
    assert data["clicks"] == [6, 5, 0]
    assert data["payout"] == {"EUR": ["0.0000", "5.0000", "0.0000"], "USD": ["10.0000", "4.0000", "0.0000"]}
    assert data["profit"] == {"EUR": ["0.0000", "15.0000", "0.0000"], "USD": ["20.0000", "1.0000", "0.0000"]}


def test_a_first_visit_shows_the_last_30_days_beside_the_30_before(admin_client, alice, fitness):
    today = timezone.now().date()
    write_clicks(click_row(offer=fitness, affiliate=alice))
    context = admin_client.get("/admin/dashboard/").context
    dashboard = context["dashboard"]
    assert (dashboard.date_to - dashboard.date_from).days == 29 and dashboard.date_to == today
    assert (dashboard.previous_to - dashboard.previous_from).days == 29
    assert context["counts"][0]["figure"].current == 1


def test_the_page_reads_a_few_queries_whatever_the_number_of_affiliates_and_offers(
    admin_client, django_assert_max_num_queries
):
    def traffic(count):
        for _ in range(count):
            affiliate, offer = AffiliateFactory(), OfferFactory()
            write_clicks(click_row(offer=offer, affiliate=affiliate, at=at("2025-05-02")))
            _convert(offer, affiliate, APPROVED, "USD", "3", "1", "2025-05-02")
            _convert(offer, affiliate, APPROVED, "EUR", "3", "1", "2025-04-29")

    traffic(2)
    with django_assert_max_num_queries(20) as few:
        _page(admin_client)
    traffic(15)
    with django_assert_max_num_queries(len(few.captured_queries)):
        _page(admin_client)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"date_from": "2025-05-03", "date_to": "2025-05-01"}, "The end date is before the start date."),
        ({"date_from": "yesterday"}, "Enter a date as YYYY-MM-DD."),
        ({"date_from": "2025-05-01\x00"}, "Enter a date as YYYY-MM-DD."),
        ({"date_to": "2025-02-30"}, "Enter a date as YYYY-MM-DD."),
        ({"date_from": "２０２５-０５-０１"}, "Enter a date as YYYY-MM-DD."),
        ({"date_from": "99999999999999999999"}, "Enter a date as YYYY-MM-DD."),
        ({"date_to": "0001-01-01"}, "Enter a date from 2000-01-01 to 2099-12-31."),
        ({"date_from": "9999-12-31"}, "Enter a date from 2000-01-01 to 2099-12-31."),
        ({"date_from": "2024-01-01", "date_to": "2025-05-01"}, "Choose a period of at most 366 days."),
        ({"date_from": "2000-01-01", "date_to": "2000-01-01"}, None),
    ],
)
def test_a_bad_period_is_a_form_error_never_a_500(admin_client, params, message):
    response = admin_client.get("/admin/dashboard/", params)
    assert response.status_code == 200
    page = response.content.decode()
    if message is None:
        # The first day there is: its previous period lies before it, and is simply empty.
        assert response.context["dashboard"].previous_to == date(1999, 12, 31)
        return
    assert message in page and "Correct the period above to see the figures." in page
    assert "dashboard" not in response.context and "dashboard-data" not in page


@pytest.mark.parametrize("year", ["２０２５", "٢٠٢٥"])
def test_a_year_in_other_digits_is_read_as_the_digits_it_is(admin_client, year):
    response = admin_client.get("/admin/dashboard/", {"date_from": f"{year}-05-01", "date_to": "2025-05-03"})
    assert response.status_code == 200
    assert response.context["dashboard"].date_from == date(2025, 5, 1)


def test_the_network_dashboard_is_for_staff_only(client, alice):
    for login in [None, alice.user]:
        if login:
            client.force_login(login)
        response = client.get("/admin/dashboard/")
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=/admin/dashboard/")


def test_the_admin_home_links_to_the_dashboard(admin_client):
    assert 'href="/admin/dashboard/"' in admin_client.get("/admin/").content.decode()
