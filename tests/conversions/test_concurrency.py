"""Duplicates sent at the same moment create one conversion: the database constraint decides."""

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from conversions.models import Conversion, ConversionEvent, ServerPostback
from tests.factories import AffiliateFactory, OfferFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("direct_writes"),
]


def fire(url: str, times: int) -> list[dict]:
    def get(_):
        with urllib.request.urlopen(url, timeout=30) as response:
            return {"http": response.status, **json.loads(response.read())}

    with ThreadPoolExecutor(max_workers=times) as pool:
        return list(pool.map(get, range(times)))


@pytest.fixture
def click_id(live_server):
    offer, affiliate = OfferFactory(), AffiliateFactory()
    url = f"{live_server.url}/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json"
    with urllib.request.urlopen(url) as response:
        return json.loads(response.read())["click_id"]


@pytest.mark.parametrize("action_id", ["", "ORDER-77"])
def test_fifty_identical_postbacks_at_once_create_exactly_one_conversion(live_server, click_id, action_id):
    answers = fire(f"{live_server.url}/postback?clickid={click_id}&action_id={action_id}&sum=5", 50)
    assert all(answer["http"] == 200 and answer["status"] == 1 for answer in answers)
    assert sorted(answer["message"] for answer in answers) == ["duplicate"] * 49 + ["ok"]
    assert len({answer["conversion_id"] for answer in answers}) == 1
    assert Conversion.objects.count() == 1 and ConversionEvent.objects.count() == 1
    assert ServerPostback.objects.count() == 50


def test_concurrent_identical_status_changes_emit_one_event(live_server, click_id):
    fire(f"{live_server.url}/postback?clickid={click_id}&status=2", 1)
    answers = fire(f"{live_server.url}/postback?clickid={click_id}&status=1", 20)
    assert sorted(answer["message"] for answer in answers) == ["duplicate"] * 19 + ["ok"]
    assert list(ConversionEvent.objects.values_list("new_status", flat=True)) == [2, 1]
