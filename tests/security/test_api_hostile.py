"""Hostile input on every operation of the REST API, found by walking its OpenAPI schema so that a
new endpoint is covered without being listed here: JSON nested 100,000 levels deep on every
operation that takes a body, the calendar's ends, reversed and over-long periods on every
operation that takes a period, and the values of tests.security.hostile in every documented query
parameter. Never a 5xx; a 4xx names what is wrong."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from api.parsers import MAX_DEPTH, nesting_depth
from offers.models import OfferAccess
from tests.conftest import api_client_for
from tests.factories import (
    ClickFactory,
    ConversionFactory,
    DeliveryFactory,
    ManagerFactory,
    OfferAccessFactory,
    OfferFactory,
    PostbackFactory,
)
from tests.security.hostile import HOSTILE_VALUES, SHARP_VALUES, assert_not_a_server_error, query

OPERATIONS = [
    (path, method.upper(), operation)
    for path, methods in SchemaGenerator().get_schema(request=None, public=True)["paths"].items()
    for method, operation in methods.items()
]
WRITES = [(path, method) for path, method, operation in OPERATIONS if "requestBody" in operation]
READS = [
    (path, [parameter["name"] for parameter in operation.get("parameters", []) if parameter["in"] == "query"])
    for path, method, operation in OPERATIONS
    if method == "GET"
]
# A backfill's period has rules of its own (both days, at most 30, not in the future), refused
# as precisely in tests/postbacks/test_backfill_pages_and_api.py.
PERIODS = [path for path, names in READS if "date_from" in names and not path.endswith("/backfill/")]
DEEP = "[" * 100_000 + "]" * 100_000
DEPTH_MESSAGE = f"JSON parse error - arrays and objects nest more than {MAX_DEPTH} levels deep."
DAY_RANGE = "Enter a date from 2000-01-01 to 2099-12-31."


@pytest.fixture
def clients(affiliate):
    """Keys of an affiliate and a manager, and real ids for every `{id}` of a path."""
    offer = OfferFactory()
    OfferAccessFactory(affiliate=affiliate, offer=offer, status=OfferAccess.Status.APPROVED)
    postback = PostbackFactory(affiliate=affiliate)
    click = ClickFactory(affiliate=affiliate, offer=offer)
    conversion = ConversionFactory(affiliate=affiliate, offer=offer, click=click)
    delivery = DeliveryFactory(affiliate=affiliate, postback=postback, conversion=conversion)
    ids = {
        "offers": offer.offer_id,
        "advertisers": offer.advertiser_id,
        "affiliates": affiliate.pid,
        "offer-access": OfferAccess.objects.get(offer=offer).pk,
        "conversions": conversion.conversion_id,
        "postbacks": postback.pk,
        "postback-deliveries": delivery.delivery_id,
        "clicks": click.click_id,
        "server-postbacks": 0,
    }
    return {
        "affiliate": api_client_for(affiliate.user),
        "manager": api_client_for(ManagerFactory()),
        "ids": ids,
    }


def _client_and_path(clients, path):
    client = clients["manager" if path.startswith("/api/v1/manage/") else "affiliate"]
    if "{id}" in path:
        collection = path.split("/{id}")[0].rsplit("/", 1)[-1]
        path = path.replace("{id}", str(clients["ids"][collection]))
    return client, path


def test_nesting_depth_is_counted_outside_strings_only():
    assert nesting_depth('{"a": [1, {"b": "[[[{{{"}]}') == 3
    assert nesting_depth('"\\"[[["') == 0
    assert nesting_depth("[" * 100_000) == 100_000


@pytest.mark.parametrize(("path", "method"), WRITES, ids=[f"{method} {path}" for path, method in WRITES])
def test_deeply_nested_json_on_every_write_is_a_400_naming_the_limit(clients, path, method):
    client, url = _client_and_path(clients, path)
    response = client.generic(method, url, DEEP, content_type="application/json")

    assert_not_a_server_error(response, f"{method} {url}")
    if response.status_code == 400:
        assert response.json() == {"detail": DEPTH_MESSAGE}


# Bodies a codec cannot read, with the error each codec raises for it: punycode's own
# UnicodeError, UnicodeDecodeError, and a codec that does not exist (LookupError).
UNREADABLE_BODIES = [
    ("punycode", b"abc-9999999"),
    ("idna", b"abc\xff"),
    ("utf-16", b"abc"),
    ("no-such-codec", b"{}"),
]


@pytest.mark.parametrize(("charset", "body"), UNREADABLE_BODIES, ids=[c for c, _ in UNREADABLE_BODIES])
@pytest.mark.parametrize(("path", "method"), WRITES, ids=[f"{method} {path}" for path, method in WRITES])
def test_a_body_its_charset_cannot_read_on_every_write_is_a_400(clients, path, method, charset, body):
    client, url = _client_and_path(clients, path)
    response = client.generic(method, url, body, content_type=f"application/json; charset={charset}")

    assert_not_a_server_error(response, f"{method} {url} charset={charset}")


def test_json_as_deep_as_the_limit_is_read_and_one_level_more_is_refused(clients):
    client = clients["manager"]
    at_limit = '{"name": "Nested", "ip_allowlist": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}"
    over = '{"name": "Nested", "ip_allowlist": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}"

    # At the limit the document is parsed, and the field says what is wrong with its value.
    response = client.post("/api/v1/manage/advertisers/", at_limit, content_type="application/json")
    assert response.status_code == 400 and "ip_allowlist" in response.json()
    response = client.post("/api/v1/manage/advertisers/", over, content_type="application/json")
    assert response.status_code == 400 and response.json() == {"detail": DEPTH_MESSAGE}


PERIOD_CASES = [
    ({"date_to": "0001-01-01"}, {"date_to": [DAY_RANGE]}),
    ({"date_from": "0001-01-01"}, {"date_from": [DAY_RANGE]}),
    ({"date_to": "9999-12-31"}, {"date_to": [DAY_RANGE]}),
    (
        {"date_from": "9999-12-31", "date_to": "9999-12-31"},
        {"date_from": [DAY_RANGE], "date_to": [DAY_RANGE]},
    ),
    ({"date_from": "1999-12-31"}, {"date_from": [DAY_RANGE]}),
    ({"date_to": "2100-01-01"}, {"date_to": [DAY_RANGE]}),
    (
        {"date_from": "2024-03-10", "date_to": "2024-03-01"},
        {"date_to": ["The end date is before the start date."]},
    ),
    ({"date_from": "2000-01-01", "date_to": "2000-01-01"}, None),
    ({"date_from": "2099-12-31", "date_to": "2099-12-31"}, None),
]


@pytest.mark.parametrize("path", PERIODS)
def test_every_period_on_the_api_is_bounded_with_a_precise_message(clients, path):
    client, url = _client_and_path(clients, path)
    for period, refused in PERIOD_CASES:
        response = client.get(url, period)
        if refused is None:
            assert response.status_code == 200, period
        else:
            assert response.status_code == 400 and response.json() == refused, period


@pytest.mark.parametrize("path", ["/api/v1/stats/", "/api/v1/manage/stats/"])
def test_statistics_take_a_period_of_366_days_and_refuse_367(clients, path):
    client, url = _client_and_path(clients, path)

    assert client.get(url, {"date_from": "2024-01-01", "date_to": "2024-12-31"}).status_code == 200
    response = client.get(url, {"date_from": "2024-01-01", "date_to": "2025-01-01"})
    assert response.status_code == 400
    assert response.json() == {"date_to": ["Choose a period of at most 366 days."]}


@pytest.mark.parametrize(("path", "names"), READS, ids=[path for path, _ in READS])
def test_every_documented_query_parameter_answers_hostile_values_without_a_server_error(clients, path, names):
    client, url = _client_and_path(clients, path)
    for name in names:
        for value in SHARP_VALUES:
            response = client.get(f"{url}?{query({name: value})}")
            assert_not_a_server_error(response, f"{url} {name}={value[:20]!r}")
    for value in HOSTILE_VALUES:
        response = client.get(f"{url}?{query(dict.fromkeys(names, value))}")
        assert_not_a_server_error(response, f"{url} all={value[:20]!r}")


def test_an_unknown_access_status_is_a_400_naming_the_field(clients):
    response = clients["manager"].get("/api/v1/manage/offer-access/?status=%00")

    assert response.status_code == 400
    assert response.json() == {"status": ["Select a valid choice. \x00 is not one of the available choices."]}
