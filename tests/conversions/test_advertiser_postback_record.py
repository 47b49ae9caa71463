"""`advertiser_postback_record`, the in-process way into advertiser postbacks (the integration
wizard uses it): the hit is judged and logged exactly as given, caller address, method and query
included."""

import pytest

from conversions.intake import HitRejected, Refusal
from conversions.models import Conversion, ServerPostback
from conversions.recording import advertiser_postback_record, hits_record_wired
from tests.factories import OfferFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


@pytest.fixture
def offer():
    offer = OfferFactory()
    offer.advertiser.ip_allowlist = ["192.0.2.0/24"]
    offer.advertiser.save()
    return offer


@pytest.fixture
def click_id(client, offer, affiliate):
    return client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()["click_id"]


def receive(params, caller_ip, refused=None, source="postback"):
    return advertiser_postback_record(
        params=params, source=source, method="POST", raw_query="as-sent", caller_ip=caller_ip, refused=refused
    )


def test_the_hit_is_judged_by_the_caller_address_given_and_logged_with_it(click_id):
    denied = receive({"clickid": click_id}, "203.0.113.1")
    assert (denied.http_status, denied.message) == (403, "Current IP-address is denied")
    accepted = receive({"clickid": click_id}, "192.0.2.8", source="pixel")
    assert (accepted.http_status, accepted.message) == (200, "ok")
    assert accepted.conversion == Conversion.objects.get()
    logged = list(ServerPostback.objects.order_by("pk").values_list("ip", "method", "query", "source"))
    assert logged == [
        ("203.0.113.1", "POST", "as-sent", "postback"),
        ("192.0.2.8", "POST", "as-sent", "pixel"),
    ]
    assert accepted.conversion.events.get().source == "pixel"


def test_a_hit_refused_before_its_parameters_could_be_read_is_answered_and_logged_so(click_id):
    result = receive(
        {"clickid": click_id}, "192.0.2.8", refused=HitRejected(400, Refusal.UNREADABLE, "Invalid request")
    )
    assert (result.http_status, result.message, result.outcome) == (400, "Invalid request", "rejected")
    assert result.answer().body == {"status": 2, "message": "Invalid request"}
    assert not Conversion.objects.exists()
    assert ServerPostback.objects.get().message == "Invalid request"


def test_the_answer_of_a_duplicate_names_the_conversion(click_id):
    made = receive({"clickid": click_id}, "192.0.2.8")
    again = receive({"clickid": click_id}, "192.0.2.8").answer()
    assert (again.http_status, again.body) == (
        200,
        {"status": 1, "message": "duplicate", "conversion_id": made.conversion.conversion_id},
    )


@pytest.mark.parametrize(
    "sent",
    [{"params": {}, "source": "postback", "method": "GET"}, {"params": {}, "surprise": 1}],
)
def test_a_hit_the_writer_cannot_read_is_refused_saying_why(sent):
    (outcome,) = hits_record_wired([sent])
    assert isinstance(outcome, ValueError) and str(outcome).startswith("unreadable postback: ")
    assert "argument" in str(outcome) and not ServerPostback.objects.exists()
