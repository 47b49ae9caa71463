"""Clicks are counted in the transaction that writes them: clicks and unique clicks per UTC day,
affiliate and offer, equal to what the clicks table holds, on every write path."""

import threading

import pytest
from django.db import IntegrityError, connection

from stats.models import DailyStat, DailyVisitor
from tests.factories import AffiliateFactory, OfferFactory
from tests.stats.rollup import at, click_row, expected, stored, write_clicks
from tracking.models import Click
from tracking.store import click_flush_buffer, click_write_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def offer():
    return OfferFactory()


def _click(client, offer, affiliate, ip):
    response = client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json", REMOTE_ADDR=ip)
    assert response.status_code == 200
    return response.json()["click_id"]


def _only_click_row(affiliate, offer):
    stat = DailyStat.objects.get(affiliate=affiliate, offer=offer, goal=None)
    return stat.clicks, stat.unique_clicks


def test_clicks_from_the_tracking_link_are_counted_on_either_write_path(
    client, offer, affiliate, either_write_path
):
    for ip in ["198.51.100.1", "198.51.100.1", "198.51.100.2", "198.51.100.1"]:
        _click(client, offer, affiliate, ip)
    click_flush_buffer()
    assert Click.objects.count() == 4
    assert _only_click_row(affiliate, offer) == (4, 2)
    assert stored() == expected()


def test_a_click_written_again_is_not_counted_again(offer, affiliate, either_write_path):
    rows = [click_row(offer=offer, affiliate=affiliate, ip=f"198.51.100.{n}") for n in range(30)]
    click_write_rows(rows)
    click_write_rows(rows)  # a retried batch, from another writer
    click_write_rows(rows[:1])  # a conversion that found the click in the buffer wrote it too
    assert _only_click_row(affiliate, offer) == (30, 30)
    assert stored() == expected()


@pytest.mark.parametrize("batch_size", [1, 3, 25])
def test_the_first_click_of_an_ip_on_an_offer_in_a_utc_day_is_the_unique_one(offer, affiliate, batch_size):
    other_offer, other_affiliate = OfferFactory(), AffiliateFactory()
    rows = [
        click_row(offer=offer, affiliate=affiliate, ip="198.51.100.1", at=at("2025-03-01", 0)),
        click_row(offer=offer, affiliate=affiliate, ip="198.51.100.1", at=at("2025-03-01", 23)),
        # The next UTC day, another offer, another affiliate: unique again.
        click_row(offer=offer, affiliate=affiliate, ip="198.51.100.1", at=at("2025-03-02", 0)),
        click_row(offer=other_offer, affiliate=affiliate, ip="198.51.100.1", at=at("2025-03-01")),
        click_row(offer=offer, affiliate=other_affiliate, ip="198.51.100.1", at=at("2025-03-01")),
        # An IPv6 address written two ways is one address.
        click_row(offer=offer, affiliate=affiliate, ip="2001:db8::1", at=at("2025-03-01")),
        click_row(offer=offer, affiliate=affiliate, ip="2001:0db8:0:0::1", at=at("2025-03-01")),
    ]
    # 25 rows in all: with batch_size 25, every case is in one batch.
    rows += [
        click_row(offer=offer, affiliate=affiliate, ip="198.51.100.1", at=at("2025-03-01")) for _ in range(18)
    ]
    for start in range(0, len(rows), batch_size):
        write_clicks(*rows[start : start + batch_size])
    counted = {
        (stat.day.isoformat(), stat.affiliate_id, stat.offer_id): (stat.clicks, stat.unique_clicks)
        for stat in DailyStat.objects.all()
    }
    assert counted == {
        ("2025-03-01", affiliate.pk, offer.pk): (22, 2),
        ("2025-03-02", affiliate.pk, offer.pk): (1, 1),
        ("2025-03-01", affiliate.pk, other_offer.pk): (1, 1),
        ("2025-03-01", other_affiliate.pk, offer.pk): (1, 1),
    }
    assert stored() == expected()


def test_a_click_without_an_ip_address_is_always_unique(offer, affiliate):
    write_clicks(*(click_row(offer=offer, affiliate=affiliate, ip=None) for _ in range(3)))
    write_clicks(click_row(offer=offer, affiliate=affiliate, ip="198.51.100.1"))
    assert _only_click_row(affiliate, offer) == (4, 4)
    assert DailyVisitor.objects.count() == 1


def test_a_failed_write_counts_nothing(offer, affiliate):
    good = click_row(offer=offer, affiliate=affiliate)
    bad = click_row(offer=offer, affiliate=affiliate, click_id="not a click id")
    with pytest.raises(IntegrityError):
        write_clicks(good, bad)
    assert not DailyStat.objects.exists() and not DailyVisitor.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_writers_running_at_once_count_each_visitor_once(offer, affiliate):
    """Several writers (web processes without Redis, buffer writers) insert overlapping visitors
    at the same moment: the visitor table's key decides, and nobody deadlocks."""
    offers = [offer, OfferFactory()]
    batches = [
        [
            click_row(offer=offers[(n + k) % 2], affiliate=affiliate, ip=f"198.51.100.{(n * 7 + k) % 40}")
            for k in range(60)
        ]
        for n in range(8)
    ]
    barrier, errors = threading.Barrier(len(batches)), []

    def write(rows):
        try:
            barrier.wait()
            click_write_rows(rows)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(rows,)) for rows in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Click.objects.count() == 8 * 60
    assert stored() == expected()
    visitors = {(row["offer_id"], row["ip"]) for rows in batches for row in rows}
    assert sum(stat.unique_clicks for stat in DailyStat.objects.all()) == len(visitors)
