"""Cached lookups on the click path: no database query per click, and a manager's change is
honoured within CLICK_LOOKUP_CACHE_SECONDS."""

import time

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from offers.models import Affiliate, Offer, OfferAccess
from tests.factories import AffiliateFactory, OfferAccessFactory, OfferFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


def reads(queries):
    return [query["sql"] for query in queries if query["sql"].lstrip().upper().startswith("SELECT")]


def test_repeated_clicks_read_nothing_from_the_database(client):
    access = OfferAccessFactory(status="approved")
    link = f"/click?pid={access.affiliate.pid}&offer_id={access.offer.offer_id}"
    client.get(link)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(link).status_code == 302
    assert reads(queries.captured_queries) == []


def test_bogus_ids_are_cached_too(client):
    client.get("/click?pid=7&offer_id=7")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/click?pid=7&offer_id=7").status_code == 404
    assert reads(queries.captured_queries) == []


@override_settings(CLICK_LOOKUP_CACHE_SECONDS=0.5)
def test_a_paused_offer_stops_taking_clicks_within_the_cache_time(client):
    offer, affiliate = OfferFactory(), AffiliateFactory()
    link = f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}"
    assert client.get(link).status_code == 302
    Offer.objects.filter(pk=offer.pk).update(status=Offer.Status.PAUSED)
    time.sleep(0.6)
    assert client.get(link).status_code == 403


@override_settings(CLICK_LOOKUP_CACHE_SECONDS=0.5)
def test_blocking_an_affiliate_or_revoking_access_is_honoured_within_the_cache_time(client):
    access = OfferAccessFactory(status="approved")
    link = f"/click?pid={access.affiliate.pid}&offer_id={access.offer.offer_id}"
    assert client.get(link).status_code == 302
    OfferAccess.objects.filter(pk=access.pk).update(status="rejected")
    time.sleep(0.6)
    assert client.get(link).status_code == 403
    OfferAccess.objects.filter(pk=access.pk).update(status="approved")
    Affiliate.objects.filter(pk=access.affiliate.pk).update(status="blocked")
    time.sleep(0.6)
    assert "blocked" in client.get(link).content.decode()
