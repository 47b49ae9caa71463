"""Every operation of the REST API, fuzzed from its own OpenAPI schema.

Schemathesis generates valid and invalid requests from /api/v1/schema/ and sends them to the
application in-process. Each answer must be documented: never a 5xx, a documented status code,
the documented content type and a body matching the documented schema. Path ids are often those
of real rows, so that detail views, updates and actions are reached, not only their 404.

For a longer run, FUZZ_MAX_EXAMPLES raises the number of requests per operation (25), and
FUZZ_COVERAGE=1 adds every boundary case the schema describes (a few thousand requests).
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.services import api_key_issue
from config.wsgi import application
from offers.models import Offer, OfferAccess
from tests.factories import (
    AffiliateFactory,
    ClickFactory,
    ConversionFactory,
    DeliveryFactory,
    ManagerFactory,
    OfferAccessFactory,
    OfferFactory,
    PostbackFactory,
    ServerPostbackFactory,
    UserFactory,
)

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Request bodies often get these values (and real ids), so that creations and updates can succeed.
URL_TEMPLATES = {
    "destination_url": ["https://advertiser.example/landing?click_id={clickid}&s1={sub1}"],
    "trafficback_url": ["", "https://advertiser.example/elsewhere?p={pid}"],
    "url": ["https://tracker.example/postback?click={sub1}&status={status}&payout={payout}"],
}
GOALS = [{"value": "1", "title": "Lead", "payout": "1.50", "revenue": "2.00", "default_status": 2}]

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)

pytestmark = pytest.mark.usefixtures("direct_writes", "connection_kept")


@pytest.fixture
def network(db):
    """An affiliate and a manager with keys, a row of every kind each of them can read, and rows
    of another affiliate, which the first one must not find."""
    affiliate, stranger = AffiliateFactory(), AffiliateFactory()
    public = OfferFactory(goals=[{"value": "1", "title": "Lead"}, {"value": "sale", "title": "Sale"}])
    approved = OfferAccessFactory(affiliate=affiliate, status=OfferAccess.Status.APPROVED).offer
    requested = OfferAccessFactory(affiliate=affiliate, status=OfferAccess.Status.PENDING).offer
    paused = OfferFactory(status=Offer.Status.PAUSED)
    unrequested = OfferFactory(visibility=Offer.Visibility.PRIVATE)
    click = ClickFactory(offer=public, affiliate=affiliate, sub1="s1")
    conversion = ConversionFactory(offer=public, affiliate=affiliate, click=click)
    other_conversion = ConversionFactory(offer=approved, affiliate=affiliate)
    postback = PostbackFactory(affiliate=affiliate)
    local_postback = PostbackFactory(affiliate=affiliate, offer=public)
    delivery = DeliveryFactory(affiliate=affiliate, postback=postback, conversion=conversion)
    server_postback = ServerPostbackFactory(conversion=conversion)
    foreign_delivery = DeliveryFactory(affiliate=stranger)
    foreign_postback, foreign_conversion = foreign_delivery.postback, foreign_delivery.conversion

    offers = [offer.offer_id for offer in (public, approved, requested, paused, unrequested)]
    conversions = [conversion.conversion_id, other_conversion.conversion_id, foreign_conversion.conversion_id]
    postbacks = [postback.pk, local_postback.pk, foreign_postback.pk]
    deliveries = [str(delivery.delivery_id), str(foreign_delivery.delivery_id)]
    ids = {
        "/offers/{id}/": offers,
        "/conversions/{id}/": conversions,
        "/postbacks/{id}/": postbacks,
        "/postback-deliveries/{id}/": deliveries,
        "/manage/advertisers/{id}/": [public.advertiser_id, paused.advertiser_id],
        "/manage/offers/{id}/": offers,
        "/manage/affiliates/{id}/": [affiliate.pid, stranger.pid],
        "/manage/offer-access/{id}/": list(OfferAccess.objects.values_list("pk", flat=True)),
        "/manage/clicks/{id}/": [click.click_id],
        "/manage/conversions/{id}/": conversions,
        "/manage/server-postbacks/{id}/": [server_postback.pk],
        "/manage/postback-deliveries/{id}/": deliveries,
    }
    return {
        "keys": {
            "affiliate": api_key_issue(user=affiliate.user)[1],
            "manager": api_key_issue(user=ManagerFactory())[1],
            "nobody": api_key_issue(user=UserFactory())[1],
        },
        "ids": ids,
        "body_values": {
            "offer": offers,
            "advertiser": [public.advertiser_id],
            "affiliate": [affiliate.pid, stranger.pid],
            "goals": [GOALS],
            **URL_TEMPLATES,
        },
    }


def _ids_for(network, path):
    """Real ids for a path's `{id}`; an action (/offers/{id}/tracking-link/) takes its object's."""
    route = path.removeprefix("/api/v1")
    return next((ids for prefix, ids in network["ids"].items() if route.startswith(prefix)), None)


def _key(network, path, who):
    """The key a request is sent with: mostly the right one for the endpoint (a staff key for
    /manage/), sometimes none, a wrong one, or a valid key of a user who is neither."""
    own = "manager" if path.startswith("/api/v1/manage/") else "affiliate"
    return {"own": network["keys"][own], "wrong": "0" * 40, "nobody": network["keys"]["nobody"]}.get(who)


@schema.parametrize()
@schema.given(data=st.data())
@FUZZ
def test_every_operation_answers_as_documented(case, data, network):
    ids = _ids_for(network, case.operation.path)
    if ids and data.draw(st.booleans(), label="real id"):
        case.path_parameters["id"] = data.draw(st.sampled_from(ids), label="id")
    if isinstance(case.body, dict):
        for name, values in network["body_values"].items():
            if name in case.body and data.draw(st.booleans(), label=f"real {name}"):
                case.body[name] = data.draw(st.sampled_from(values), label=name)
    who = data.draw(st.sampled_from(["own", "own", "own", "none", "wrong", "nobody"]), label="key")
    key = _key(network, case.operation.path, who)
    headers = {name: value for name, value in (case.headers or {}).items() if name.lower() != "api-key"}
    case.headers = {**headers, "API-Key": key} if key else headers
    case.call_and_validate(checks=CHECKS)


# A longer run, only collected when asked for (FUZZ_COVERAGE=1).
if os.environ.get("FUZZ_COVERAGE"):

    @schema.parametrize()
    @FUZZ
    def test_every_boundary_case_of_the_schema_answers_as_documented(case, network):
        """Schemathesis' coverage phase: for each operation, every boundary and invalid value its
        schema describes (missing fields, wrong types, lengths just over the limits), deterministically."""
        case.headers = {**(case.headers or {}), "API-Key": _key(network, case.operation.path, "own")}
        case.call_and_validate(checks=CHECKS)
