"""A batch of clicks with more visitors than a statement of one parameter per value could carry
(PostgreSQL takes at most 65,535 parameters, four per visitor) is counted in full, each visitor
once, however the batch is split into statements."""

import ipaddress

import pytest

from stats.models import DailyStat, DailyVisitor
from tests.factories import OfferFactory
from tests.stats.rollup import click_row, write_clicks

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

# 65,535 // 4 = 16,383 visitors would fill one such statement; one more would need a second.
VISITORS = 65_535 // 4 + 1


def test_a_batch_of_more_visitors_than_one_statement_carries_counts_each_once(affiliate):
    offer = OfferFactory()
    first = int(ipaddress.ip_address("10.0.0.1"))
    addresses = [str(ipaddress.ip_address(first + n)) for n in range(VISITORS)]
    # The last visitor comes back: a repeat within the batch, in the second statement's range.
    write_clicks(*(click_row(offer=offer, affiliate=affiliate, ip=ip) for ip in [*addresses, addresses[-1]]))
    counted = DailyStat.objects.get(goal=None)
    assert (counted.clicks, counted.unique_clicks) == (VISITORS + 1, VISITORS)
    assert DailyVisitor.objects.count() == VISITORS
