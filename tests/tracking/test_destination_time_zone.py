"""Offer URL dates are UTC whatever the time zone the server runs in (README, "Offer URL macros")."""

import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.factories import AffiliateFactory, OfferFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


def test_the_click_date_in_an_offer_url_is_utc_on_a_server_in_another_time_zone(client, settings):
    # Django puts TIME_ZONE into the process's TZ, which naive local times would follow.
    settings.TIME_ZONE = "Asia/Tokyo"
    offer = OfferFactory(destination_url="https://adv.example/?t={time}&d={date}")
    affiliate = AffiliateFactory()

    response = client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}")

    values = {name: found[0] for name, found in parse_qs(urlsplit(response["Location"]).query).items()}
    assert time.strftime("%z") == "+0900"
    assert values["d"] == f"{datetime.fromtimestamp(int(values['t']), UTC):%Y-%m-%d %H:%M:%S}"
