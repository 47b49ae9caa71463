"""The unique visitors are kept two weeks (stats.models.VISITOR_RETENTION_DAYS), in weekly
partitions dropped whole: a click of an older day, whose visitors may have no partition left, is
written and counted as unique without a visitor; the rebuild counts every day's unique clicks
exactly from the clicks and refills the visitors of the days kept only. And the rebuild starts no
earlier than the first day whose clicks are all kept, so it never wipes the counts of days whose
clicks are gone."""

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from config import partitions
from stats.models import VISITOR_RETENTION_DAYS, DailyAudienceStat, DailyStat, DailyVisitor
from stats.services import RebuildTooEarly, stats_first_rebuild_day, stats_rebuild
from tests.factories import AffiliateFactory, OfferFactory
from tests.stats.rollup import at, click_row, expected, keep_visitors, stored, write_clicks
from tracking.models import Click

pytestmark = pytest.mark.django_db

CLICK_RETENTION_DAYS = 60


def today():
    """Read when used: a run that crosses midnight UTC sees the day the product sees."""
    return datetime.now(UTC).date()


@pytest.fixture(autouse=True)
def the_product_retentions(settings, monkeypatch):
    """Visitors kept as the product keeps them; clicks kept 60 days."""
    settings.CLICK_RETENTION_DAYS = CLICK_RETENTION_DAYS
    keep_visitors(monkeypatch, VISITOR_RETENTION_DAYS)


@pytest.fixture
def old_visitor_weeks_dropped(db):
    """On PostgreSQL, the visitors' partitions as maintenance leaves them: none for the days
    before those kept. The test database's partition for every day before some weeks ahead is
    set aside, and one for the days kept from then on takes its place; the test's transaction
    undoes both."""
    if connection.vendor != "postgresql":
        return
    spec = partitions._registry[DailyVisitor._meta.db_table]
    [end] = [upper for name, upper in partitions._partitions(spec) if name == spec.before]
    first_kept = partitions.first_kept_day(DailyVisitor)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {spec.table} DETACH PARTITION {spec.before}")
        cursor.execute(f"CREATE TABLE {spec.table}_kept (LIKE {spec.table})")
        cursor.execute(
            f"ALTER TABLE {spec.table} ATTACH PARTITION {spec.table}_kept "
            f"FOR VALUES FROM ('{first_kept}') TO ('{end.date()}')"
        )


def day(days_ago: int, hour: int = 12) -> datetime:
    return at(str(today() - timedelta(days=days_ago)), hour)


def clicks_on(when: datetime) -> tuple[int, int]:
    stat = DailyStat.objects.get(day=when.date(), goal=None)
    return stat.clicks, stat.unique_clicks


def test_the_visitors_are_kept_from_the_day_two_weeks_ago_and_clicks_from_their_first_whole_day():
    now = datetime(2026, 12, 6, 7, 37, tzinfo=UTC)
    midnight = datetime(2026, 12, 6, tzinfo=UTC)
    cases = [
        # (model, now, first day kept)
        (DailyVisitor, now, date(2026, 11, 22)),
        (DailyVisitor, midnight, date(2026, 11, 22)),
        # Clicks leave by time: the day of the cutoff has lost its first hours.
        (Click, now, date(2026, 10, 8)),
        (Click, midnight, date(2026, 10, 7)),
    ]
    for model, moment, first_kept in cases:
        assert partitions.first_kept_day(model, now=moment) == first_kept, (model, moment)


@pytest.mark.usefixtures("old_visitor_weeks_dropped")
def test_a_late_click_of_a_day_whose_visitors_are_gone_is_written_and_counted_as_unique():
    offer, affiliate = OfferFactory(), AffiliateFactory()
    old = day(VISITOR_RETENTION_DAYS + 6)
    # The first day whose visitors a click claims: the one after the first kept, a day's margin
    # against maintenance dropping that day's partition meanwhile.
    first_claimed = day(VISITOR_RETENTION_DAYS - 1, 1)
    write_clicks(
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.1", at=day(1, 10)),
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.1", at=day(1, 11)),
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.1", at=first_claimed),
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.1", at=first_claimed + timedelta(hours=1)),
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.2", at=old),
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.2", at=old + timedelta(hours=1)),
        click_row(offer=offer, affiliate=affiliate, ip=None, at=old),
    )

    assert Click.objects.count() == 7
    assert clicks_on(day(1)) == (2, 1)
    assert clicks_on(first_claimed) == (2, 1)
    # Each as unique, as a click without an IP is: no visitor tells the repeat apart.
    assert clicks_on(old) == (3, 3)
    assert set(DailyVisitor.objects.values_list("day", "ip")) == {
        (day(1).date(), "192.0.2.1"),
        (first_claimed.date(), "192.0.2.1"),
    }


@pytest.mark.usefixtures("old_visitor_weeks_dropped")
def test_a_rebuild_over_days_whose_visitors_are_gone_counts_them_exactly_and_refills_the_kept_ones():
    offer, affiliate = OfferFactory(), AffiliateFactory()
    days_ago = [0, 3, VISITOR_RETENTION_DAYS - 1, VISITOR_RETENTION_DAYS + 1, 30, CLICK_RETENTION_DAYS - 5]
    write_clicks(
        *(
            click_row(offer=offer, affiliate=affiliate, ip=f"192.0.2.{n % 2}", at=day(ago, n))
            for ago in days_ago
            for n in range(1, 6)
        )
    )
    # Live, the repeats of the days whose visitors are gone were counted as unique.
    assert clicks_on(day(30)) == (5, 5)
    assert stored() != expected()

    stats_rebuild(since=today() - timedelta(days=CLICK_RETENTION_DAYS - 5))

    assert stored() == expected()
    for ago in days_ago:
        assert clicks_on(day(ago)) == (5, 2), ago
    first_kept = partitions.first_kept_day(DailyVisitor)
    assert set(DailyVisitor.objects.values_list("day", flat=True)) == {
        day(ago).date() for ago in days_ago if day(ago).date() >= first_kept
    }
    # A repeat on a day kept is recognised by the visitors refilled; on another, counted unique.
    write_clicks(
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.1", at=day(3, 23)),
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.1", at=day(30, 23)),
    )
    assert clicks_on(day(3)) == (6, 2)
    assert clicks_on(day(30)) == (6, 3)


def _rollup_of_a_day_whose_clicks_are_gone():
    """The counts of a day before the clicks kept: its clicks left with their week, the rollup
    holds them for good."""
    offer, affiliate = OfferFactory(), AffiliateFactory()
    gone, kept = day(CLICK_RETENTION_DAYS + 10), day(2)
    write_clicks(
        *(click_row(offer=offer, affiliate=affiliate, ip=f"192.0.2.{n}", at=gone) for n in range(4)),
        click_row(offer=offer, affiliate=affiliate, at=kept),
    )
    Click.objects.filter(created_at__lt=day(CLICK_RETENTION_DAYS, 0)).delete()
    return gone, kept


def test_a_rebuild_without_since_starts_at_the_first_day_whose_clicks_are_all_kept():
    gone, kept = _rollup_of_a_day_whose_clicks_are_gone()
    DailyStat.objects.filter(day=kept.date()).update(clicks=99)
    first_day = today() - timedelta(days=CLICK_RETENTION_DAYS - 1)
    assert stats_first_rebuild_day() == first_day
    out = io.StringIO()

    call_command("rebuild_stats", stdout=out)

    assert f"Statistics rebuilt from {first_day}" in out.getvalue()
    assert clicks_on(gone) == (4, 4)
    assert DailyAudienceStat.objects.get(day=gone.date()).clicks == 4
    assert clicks_on(kept) == (1, 1)


def test_a_rebuild_from_before_the_first_day_whose_clicks_are_all_kept_is_refused():
    gone, _ = _rollup_of_a_day_whose_clicks_are_gone()
    first_day = today() - timedelta(days=CLICK_RETENTION_DAYS - 1)

    with pytest.raises(CommandError) as refused:
        call_command("rebuild_stats", "--since", str(first_day - timedelta(days=1)), stdout=io.StringIO())
    assert str(refused.value) == (
        f"The statistics cannot be recomputed from {first_day - timedelta(days=1)}: clicks are kept "
        f"60 days (CLICK_RETENTION_DAYS), so the clicks of the days before {first_day} are no longer "
        f"all there. The first day allowed is {first_day}."
    )
    with pytest.raises(RebuildTooEarly):
        stats_rebuild(since=gone.date())
    assert clicks_on(gone) == (4, 4)

    call_command("rebuild_stats", "--since", str(first_day), stdout=io.StringIO())
    assert clicks_on(gone) == (4, 4)
