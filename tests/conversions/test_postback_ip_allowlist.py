"""An advertiser's IP allowlist: a postback is taken only from a caller on it, whichever of its
entries (single addresses, CIDR ranges, IPv6) the caller matches."""

from urllib.parse import urlencode

import pytest

from conversions.models import Conversion
from tests.factories import OfferFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

DENIED = {"status": 2, "message": "Current IP-address is denied"}


@pytest.fixture
def offer():
    offer = OfferFactory()
    offer.advertiser.ip_allowlist = ["192.0.2.0/24", "198.51.100.7", "2001:db8::/32", "203.0.113.9/24"]
    offer.advertiser.save()
    return offer


@pytest.fixture
def click_id(client, offer, affiliate):
    return client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()["click_id"]


def postback_from(client, caller, **params):
    return client.get("/postback?" + urlencode(params), REMOTE_ADDR=caller)


@pytest.mark.parametrize(
    "caller",
    ["192.0.2.1", "192.0.2.255", "198.51.100.7", "2001:db8::42", "203.0.113.200"],
)
def test_a_caller_on_any_entry_of_the_allowlist_is_accepted(client, click_id, caller):
    response = postback_from(client, caller, clickid=click_id)
    assert response.status_code == 200 and response.json()["message"] == "ok"
    assert Conversion.objects.get().click.click_id == click_id


@pytest.mark.parametrize("caller", ["192.0.3.1", "198.51.100.8", "2001:db9::1", "203.0.114.9", "127.0.0.1"])
def test_a_caller_on_no_entry_is_denied(client, click_id, caller):
    response = postback_from(client, caller, clickid=click_id)
    assert (response.status_code, response.json()) == (403, DENIED)
    assert not Conversion.objects.exists()


def test_a_caller_whose_address_is_unknown_is_denied(client, click_id):
    response = postback_from(client, "", clickid=click_id)
    assert (response.status_code, response.json()) == (403, DENIED)


def test_the_allowlist_is_checked_after_the_secure_code(client, click_id, offer):
    offer.secure_code = "s3cret"
    offer.save()
    response = postback_from(client, "192.0.3.1", clickid=click_id, secure="wrong")
    assert response.json()["message"] == "Access denied"
    response = postback_from(client, "192.0.3.1", clickid=click_id, secure="s3cret")
    assert response.json() == DENIED
    response = postback_from(client, "192.0.2.10", clickid=click_id, secure="s3cret")
    assert response.json()["message"] == "ok"


def test_the_allowlist_is_checked_before_the_goal(client, click_id):
    response = postback_from(client, "192.0.3.1", clickid=click_id, goal="no-such-goal")
    assert response.json() == DENIED


def test_the_allowlist_holds_for_probabilistic_postbacks_too(client, offer, affiliate):
    params = {"offer_id": offer.offer_id, "pid": affiliate.pid}
    assert postback_from(client, "192.0.3.1", **params).json() == DENIED
    assert postback_from(client, "198.51.100.7", **params).json()["message"] == "ok"
