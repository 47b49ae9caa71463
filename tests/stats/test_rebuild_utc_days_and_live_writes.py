"""`rebuild_stats` counts by UTC day whatever time zone the database session speaks, from the first
instant of `since` in UTC; and live writes wait while a rebuild runs, so nothing is counted twice
or missed."""

import threading
import time

import pytest
from django.db import connection, transaction

from stats.models import DailyAudienceStat, DailyStat
from stats.services import stats_rebuild
from tests.factories import AffiliateFactory, OfferFactory
from tests.stats.rollup import at, click_row, convert, expected, stored, write_clicks

pytestmark = pytest.mark.django_db


@pytest.fixture
def around_midnight():
    """Clicks and conversions late on April 1st and early on April 2nd (UTC): in Tokyo, nine
    hours ahead, all of them are on April 2nd."""
    offer, affiliate = OfferFactory(), AffiliateFactory()
    write_clicks(
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.1", at=at("2025-04-01", 20)),
        click_row(offer=offer, affiliate=affiliate, ip="192.0.2.1", at=at("2025-04-02", 1)),
        click_row(offer=offer, affiliate=affiliate, ip=None, at=at("2025-04-01", 23)),
    )
    convert(offer=offer, affiliate=affiliate, created_at=at("2025-04-01", 22))
    convert(offer=offer, affiliate=affiliate, created_at=at("2025-04-02", 2))
    return offer, affiliate


def clicks_by_day(model=DailyStat):
    rows = model.objects.filter(goal=None)
    return {stat.day.isoformat(): (stat.clicks, stat.unique_clicks) for stat in rows}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a session time zone is PostgreSQL's")
def test_a_rebuild_counts_by_utc_day_when_the_database_session_is_in_another_time_zone(around_midnight):
    live = stored()
    assert live == expected()
    assert clicks_by_day() == {"2025-04-01": (2, 2), "2025-04-02": (1, 1)}
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'Asia/Tokyo'")
    try:
        stats_rebuild()
        assert clicks_by_day() == {"2025-04-01": (2, 2), "2025-04-02": (1, 1)}
        stats_rebuild(since=at("2025-04-02").date())
        assert clicks_by_day() == {"2025-04-01": (2, 2), "2025-04-02": (1, 1)}
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
    assert stored() == live


def test_since_starts_at_midnight_utc_of_that_day(around_midnight):
    live = stored()
    for model in [DailyStat, DailyAudienceStat]:
        model.objects.update(clicks=1000)
    stats_rebuild(since=at("2025-04-02").date())
    for model in [DailyStat, DailyAudienceStat]:
        assert clicks_by_day(model) == {"2025-04-01": (1000, 2), "2025-04-02": (1, 1)}
    stats_rebuild(since=at("2025-04-01").date())
    assert stored() == live


@pytest.mark.django_db(transaction=True)
def test_a_click_written_while_a_rebuild_runs_waits_for_it_and_is_counted_once():
    offer, other_offer, affiliate = OfferFactory(), OfferFactory(), AffiliateFactory()
    write_clicks(click_row(offer=offer, affiliate=affiliate, ip="192.0.2.1"))
    rebuilt, release, written, errors = threading.Event(), threading.Event(), threading.Event(), []

    def rebuild():
        try:
            with transaction.atomic():
                stats_rebuild()
                rebuilt.set()
                release.wait(10)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            rebuilt.set()
            connection.close()

    def click():
        try:
            # On another offer: no row the rebuild wrote is in its way, only the rebuild itself.
            write_clicks(click_row(offer=other_offer, affiliate=affiliate, ip="192.0.2.1"))
            written.set()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    rebuilding = threading.Thread(target=rebuild)
    rebuilding.start()
    assert rebuilt.wait(10)
    clicking = threading.Thread(target=click)
    clicking.start()
    time.sleep(0.5)
    waited = not written.is_set()
    release.set()
    rebuilding.join()
    clicking.join()
    assert errors == []
    assert waited, "the click was counted while the rebuild was still running"
    assert stored() == expected()
    rows = DailyStat.objects.filter(goal=None)
    counted = {stat.offer_id: (stat.clicks, stat.unique_clicks) for stat in rows}
    assert counted == {offer.pk: (1, 1), other_offer.pk: (1, 1)}
