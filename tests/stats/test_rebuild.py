"""`manage.py rebuild_stats` recomputes from the raw rows exactly what the live path counted, in both
tables of the rollup: by visitor context (DailyAudienceStat) and summed over it (DailyStat)."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F, Sum

from conversions.lifecycle import conversion_set_status
from conversions.models import ConversionEvent
from offers.choices import ConversionStatus
from postbacks.services import postback_send_test
from stats.models import DailyAudienceStat, DailyStat, DailyVisitor
from stats.services import stats_first_rebuild_day
from tests.factories import AffiliateFactory, OfferFactory, PostbackFactory
from tests.stats.rollup import at, click_row, convert, expected, stored, stored_daily, summed, write_clicks
from tracking.models import Click, RefusedClick

pytestmark = pytest.mark.django_db


# Visitor contexts (country, OS family, device type); one IP comes in several of them.
VISITORS = [
    {"country": "US", "os_family": "iOS", "device_type": "mobile"},
    {"country": "DE", "os_family": "Windows", "device_type": "desktop"},
    {"country": "", "os_family": "", "device_type": ""},
    {"country": "FR", "os_family": "Android", "device_type": "tablet"},
]
REFUSALS = ["refused_country", "refused_os", "refused_device"]


@pytest.fixture
def traffic():
    """Clicks, refused clicks and conversions over three days, two affiliates, two offers, two
    currencies and four visitor contexts."""
    offers = [
        OfferFactory(),
        OfferFactory(goals=[{"value": "1", "title": "Sale", "payout": "3.25", "currency": "EUR"}]),
    ]
    affiliates = [AffiliateFactory(), AffiliateFactory()]
    days = ["2025-04-01", "2025-04-02", "2025-04-03"]
    rows = [
        click_row(
            offer=offers[n % 2],
            affiliate=affiliates[n % 3 % 2],
            ip=None if n % 11 == 0 else f"192.0.2.{n % 9}",
            at=at(days[n % 3], n % 24),
            **VISITORS[n % 4],
            **({"refused": REFUSALS[n % 3]} if n % 7 == 0 else {}),
        )
        for n in range(90)
    ]
    # In time order, as traffic comes: a click written after a later one of its IP would be the
    # unique one live, where the rebuild takes the earliest.
    rows.sort(key=lambda row: row["created_at"])
    write_clicks(*rows[:40])
    write_clicks(*rows[40:])
    for n in range(18):
        visitor = VISITORS[n % 4]
        conversion = convert(
            offer=offers[n % 2],
            affiliate=affiliates[n % 2],
            created_at=at(days[n % 3], n),
            country=visitor["country"],
            os_family=visitor["os_family"],
            click_device_type=visitor["device_type"],
        )
        if n % 3:
            status = [ConversionStatus.APPROVED, ConversionStatus.DECLINED, ConversionStatus.HOLD][n % 3]
            conversion_set_status(conversion=conversion, status=status, source=ConversionEvent.Source.MANAGER)
    postback_send_test(PostbackFactory(affiliate=affiliates[0], offer=offers[0]))


def test_a_rebuild_finds_what_the_live_path_counted(traffic):
    live, daily = stored(), stored_daily()
    assert live == expected() and len(live) > 6
    assert len({key[-3:] for key in live}) == 4  # every visitor context has rows
    # The sums are of several visitor contexts' rows each.
    assert daily == summed(expected()) and len(daily) < len(live)
    for model in [DailyStat, DailyAudienceStat]:
        refused = model.objects.aggregate(
            total=Sum(F("refused_country") + F("refused_os") + F("refused_device"))
        )["total"]
        assert RefusedClick.objects.count() == refused == 13
    out = io.StringIO()
    call_command("rebuild_stats", stdout=out)
    assert stored() == live and stored_daily() == daily
    assert f"Statistics rebuilt from {stats_first_rebuild_day()}" in out.getvalue()


def test_a_rebuild_repairs_counters_that_went_wrong(traffic):
    live, daily = stored(), stored_daily()
    DailyAudienceStat.objects.filter(day="2025-04-01").update(unique_clicks=7)
    DailyStat.objects.filter(day="2025-04-02").update(clicks=0, approved=99)
    DailyAudienceStat.objects.filter(day="2025-04-03").delete()
    DailyStat.objects.filter(day="2025-04-03").delete()
    DailyVisitor.objects.filter(day="2025-04-03").delete()
    with pytest.raises(AssertionError, match="DailyStat"):
        stored()  # the two tables disagree
    call_command("rebuild_stats", stdout=io.StringIO())
    assert stored() == live and stored_daily() == daily


def test_since_recomputes_only_the_days_from_that_day(traffic):
    for model in [DailyStat, DailyAudienceStat]:
        model.objects.filter(day__lte="2025-04-02").update(clicks=1000)
    call_command("rebuild_stats", "--since", "2025-04-02", stdout=io.StringIO())
    for model in [DailyStat, DailyAudienceStat]:
        assert set(model.objects.filter(goal=None).values_list("day", "clicks").distinct()) >= {
            (at("2025-04-01").date(), 1000)
        }
        assert not model.objects.filter(day__gte="2025-04-02", clicks=1000).exists()
    # Clicks after a rebuild are counted as unique or not by the visitors it rebuilt.
    seen = Click.objects.filter(created_at__date="2025-04-03", ip__isnull=False).first()
    visitor = {"country": seen.country, "os_family": seen.os_family, "device_type": seen.device_type}
    rows = {"day": "2025-04-03", "goal": None, "offer": seen.offer, "affiliate": seen.affiliate}
    stat, daily = DailyAudienceStat.objects.get(**rows, **visitor), DailyStat.objects.get(**rows)
    before = (stat.clicks, stat.unique_clicks, daily.clicks, daily.unique_clicks)
    write_clicks(
        click_row(offer=seen.offer, affiliate=seen.affiliate, ip=seen.ip, at=at("2025-04-03"), **visitor),
        click_row(
            offer=seen.offer, affiliate=seen.affiliate, ip="192.0.2.250", at=at("2025-04-03"), **visitor
        ),
    )
    stat.refresh_from_db()
    daily.refresh_from_db()
    after = (stat.clicks, stat.unique_clicks, daily.clicks, daily.unique_clicks)
    assert after == (before[0] + 2, before[1] + 1, before[2] + 2, before[3] + 1)


def test_a_malformed_since_is_refused():
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("rebuild_stats", "--since", "yesterday")
