"""Conversions are counted in the transaction of each conversion event: on the UTC day the
conversion was created, in the column of its current status, with its payout and revenue; test
conversions never."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from conversions.lifecycle import conversion_approve_expired_holds, conversion_set_status
from conversions.models import Conversion, ConversionEvent
from conversions.recording import advertiser_postback_record
from offers.choices import ConversionStatus
from postbacks.services import postback_send_test
from stats.models import DailyStat
from tests.factories import AffiliateFactory, OfferFactory, PostbackFactory
from tests.stats.rollup import at, click_row, convert, expected, stored, write_clicks

pytestmark = pytest.mark.django_db

APPROVED, PENDING, DECLINED, HOLD = (
    ConversionStatus.APPROVED,
    ConversionStatus.PENDING,
    ConversionStatus.DECLINED,
    ConversionStatus.HOLD,
)


@pytest.fixture
def offer():
    return OfferFactory(
        goals=[
            {"value": "install", "title": "Install", "payout": "1.5", "revenue": "2"},
            {"value": "sale", "title": "Sale", "payout": "10", "revenue": "25", "currency": "EUR"},
        ]
    )


def _postback(click_id, **params):
    result = advertiser_postback_record(
        params={"clickid": click_id, **params},
        source="postback",
        method="GET",
        raw_query="",
        caller_ip="127.0.0.1",
    )
    assert result.http_status == 200, result.message
    return result.conversion


def _conversion_row(conversion):
    return DailyStat.objects.get(
        affiliate_id=conversion.affiliate_id, offer_id=conversion.offer_id, goal_id=conversion.goal_id
    )


def test_advertiser_postbacks_are_counted_by_goal_currency_and_status(offer, affiliate):
    clicks = [click_row(offer=offer, affiliate=affiliate) for _ in range(4)]
    write_clicks(*clicks)
    _postback(clicks[0]["click_id"], goal="install", status="2")
    _postback(clicks[1]["click_id"], goal="install", status="1")
    sale = _postback(clicks[2]["click_id"], goal="sale", status="5")
    _postback(clicks[3]["click_id"], goal="sale")  # the goal's default status: pending
    install_row = DailyStat.objects.get(goal__value="install")
    assert (install_row.approved, install_row.pending, install_row.currency) == (1, 1, "USD")
    assert (install_row.payout_approved, install_row.payout_pending) == (Decimal("1.5"), Decimal("1.5"))
    assert (install_row.revenue_approved, install_row.revenue_pending) == (Decimal(2), Decimal(2))
    sale_row = _conversion_row(sale)
    assert (sale_row.hold, sale_row.pending, sale_row.currency) == (1, 1, "EUR")
    assert (sale_row.payout_hold, sale_row.revenue_hold) == (Decimal(10), Decimal(25))
    assert stored() == expected()


def test_a_status_change_moves_the_conversion_and_its_amounts_between_statuses(offer, affiliate):
    click = click_row(offer=offer, affiliate=affiliate)
    write_clicks(click)
    conversion = _postback(click["click_id"], goal="install", status="2")
    _postback(click["click_id"], goal="install", status="5")  # pending -> hold, by the advertiser
    conversion_set_status(conversion=conversion, status=DECLINED, source=ConversionEvent.Source.MANAGER)
    conversion_set_status(conversion=conversion, status=APPROVED, source=ConversionEvent.Source.MANAGER)
    row = _conversion_row(conversion)
    assert (row.approved, row.pending, row.declined, row.hold) == (1, 0, 0, 0)
    assert (row.payout_approved, row.payout_pending, row.payout_declined, row.payout_hold) == (
        Decimal("1.5"),
        0,
        0,
        0,
    )
    assert stored() == expected()


def test_a_replayed_postback_changes_nothing(offer, affiliate):
    click = click_row(offer=offer, affiliate=affiliate)
    write_clicks(click)
    for _ in range(3):
        _postback(click["click_id"], goal="install", status="1", action_id="A-1")
    assert _conversion_row(Conversion.objects.get()).approved == 1
    assert stored() == expected()


def test_a_conversion_counts_on_the_day_it_was_created_whatever_the_day_of_its_change(offer, affiliate):
    conversion = convert(offer=offer, affiliate=affiliate, status=PENDING, created_at=at("2025-01-31", 23))
    conversion_set_status(conversion=conversion, status=APPROVED, source=ConversionEvent.Source.MANAGER)
    assert [(row.day.isoformat(), row.approved, row.pending) for row in DailyStat.objects.all()] == [
        ("2025-01-31", 1, 0)
    ]
    assert stored() == expected()


def test_expired_holds_approved_by_the_periodic_job_are_moved_to_approved(offer, affiliate):
    conversion = convert(offer=offer, affiliate=affiliate, status=HOLD)
    Conversion.objects.filter(pk=conversion.pk).update(hold_until=at("2020-01-01"))
    assert conversion_approve_expired_holds() == 1
    row = _conversion_row(conversion)
    assert (row.approved, row.hold, row.payout_approved, row.payout_hold) == (1, 0, Decimal("1.5"), 0)


def test_test_conversions_are_never_counted(offer, affiliate):
    postback = PostbackFactory(affiliate=affiliate, offer=offer)
    postback_send_test(postback)
    test_conversion = Conversion.objects.get(is_test=True)
    conversion_set_status(conversion=test_conversion, status=APPROVED, source=ConversionEvent.Source.MANAGER)
    assert not DailyStat.objects.exists()
    assert stored() == expected() == {}


@pytest.mark.django_db(transaction=True)
def test_concurrent_status_changes_keep_the_counters_exact(offer):
    """Managers and advertisers changing many conversions of one day, offer and goal at once:
    every change lands on the same rollup row, and none is lost."""
    affiliates = [AffiliateFactory(), AffiliateFactory()]
    conversions = [
        convert(offer=offer, affiliate=affiliates[n % 2], status=PENDING, created_at=at("2025-02-10"))
        for n in range(12)
    ]
    targets = [APPROVED, DECLINED, HOLD]
    barrier, errors = threading.Barrier(24), []

    def change(conversion, status):
        try:
            barrier.wait()
            conversion_set_status(conversion=conversion, status=status, source=ConversionEvent.Source.MANAGER)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    # Two threads per conversion, racing to set two different statuses.
    jobs = [(conversion, targets[(n + k) % 3]) for n, conversion in enumerate(conversions) for k in range(2)]
    threads = [threading.Thread(target=change, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert stored() == expected()
    # Each conversion went through one or two changes; the events tell the same story as the rows.
    changes = ConversionEvent.objects.filter(kind=ConversionEvent.Kind.STATUS_CHANGED).count()
    assert 12 <= changes <= 24
    assert sum(row.pending for row in DailyStat.objects.all()) == 0
