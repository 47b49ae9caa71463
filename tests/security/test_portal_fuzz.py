"""Hostile values in every parameter of every logged-in portal page, and in every form it posts.

The pages are found by walking the URL configuration, so a new page is fuzzed without being
listed here. Each page is read once as a browser would, and what it offers is what gets fuzzed:
the fields of its forms (GET and POST) and the query parameters of its links, each alone with
every value of tests.security.hostile (the others left as the page gives them), then all of them
at once. Never a 5xx; a 4xx (an unknown id, a refused form) says what is wrong.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from api.services import api_key_issue
from offers.models import OfferAccess
from tests.factories import (
    ConversionFactory,
    DeliveryFactory,
    OfferAccessFactory,
    OfferFactory,
    PostbackFactory,
)
from tests.security.hostile import (
    HOSTILE_VALUES,
    SHARP_VALUES,
    assert_not_a_server_error,
    parse_page,
    post,
    query,
)

# Not portal pages: the tracking endpoints, the API and the admin have suites of their own, and
# the account pages are Django's (the password reset has its own, tests/portal/test_password_reset.py);
# /favicon.ico is a redirect.
NOT_PORTAL = (
    "admin/",
    "api/",
    "accounts/",
    "click",
    "postback",
    "pixel",
    "success.",
    "track.js",
    "healthz",
    "metrics",
    "favicon.ico",
)


def portal_routes():
    """(URL name, its converters' argument names) of every portal page."""

    def walk(resolver, prefix, namespace):
        for pattern in resolver.url_patterns:
            route = prefix + str(pattern.pattern)
            if route.startswith(NOT_PORTAL):
                continue
            if isinstance(pattern, URLResolver):
                yield from walk(pattern, route, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                yield f"{namespace}:{pattern.name}", tuple(pattern.pattern.converters)

    return sorted(set(walk(get_resolver(), "", None)))


ROUTES = portal_routes()


@pytest.fixture
def world(affiliate):
    """An offer the affiliate runs with a postback of its own, a global postback, a conversion
    with a delivery, an API key: every page has something to show and every id in a path is a
    real one."""
    offer = OfferFactory(goals=[{"value": "install", "title": "Install"}, {"value": "sale", "title": "Sale"}])
    OfferAccessFactory(affiliate=affiliate, offer=offer, status=OfferAccess.Status.APPROVED)
    local = PostbackFactory(affiliate=affiliate, offer=offer)
    global_postback = PostbackFactory(affiliate=affiliate)
    conversion = ConversionFactory(affiliate=affiliate, offer=offer, sub1="s1")
    delivery = DeliveryFactory(affiliate=affiliate, postback=global_postback, conversion=conversion)
    api_key, _ = api_key_issue(user=affiliate.user)
    return {
        "offer": offer,
        "local": local,
        "global": global_postback,
        "delivery": delivery,
        "api_key": api_key,
    }


def page_path(name: str, arguments: tuple, world) -> str:
    postback = world["local"] if name.startswith("postbacks:offer-") else world["global"]
    values = {
        "offer_id": world["offer"].offer_id,
        "pk": world["api_key"].pk if name.startswith("portal:api-key") else postback.pk,
        "delivery_id": world["delivery"].delivery_id,
    }
    return reverse(name, kwargs={argument: values[argument] for argument in arguments})


@pytest.mark.parametrize(("name", "arguments"), ROUTES, ids=[name for name, _ in ROUTES])
def test_every_parameter_of_a_portal_page_answers_hostile_values_without_a_server_error(
    portal, world, name, arguments
):
    path = page_path(name, arguments, world)
    page = portal.get(path)
    if page.status_code == 405:  # It only takes a POST: its form is on another page.
        return
    assert page.status_code == 200, f"{path}: {page.status_code}"
    filtered = path
    if not page["Content-Type"].startswith("text/html"):
        # An export (CSV) takes the filters of the page it exports, one level up.
        assert_not_a_server_error(page, path)
        filtered = path.rstrip("/").rsplit("/", 1)[0] + "/"
        page = portal.get(filtered)
    parsed = parse_page(filtered, page.content.decode())

    names = set(parsed.link_params.get(filtered, set()))
    for form in parsed.forms:
        if form.method == "get" and form.action == filtered:
            names |= set(form.fields)
    names.add("page")
    for parameter in sorted(names):
        for value in SHARP_VALUES:
            response = portal.get(f"{path}?{query({parameter: value})}")
            assert_not_a_server_error(response, f"GET {path} {parameter}={value[:20]!r}")
    for value in HOSTILE_VALUES:
        response = portal.get(f"{path}?{query(dict.fromkeys(names, value))}")
        assert_not_a_server_error(response, f"GET {path} all={value[:20]!r}")

    for form in (form for form in parsed.forms if form.method == "post"):
        fields = [name for name in form.fields if name != "csrfmiddlewaretoken"]
        for field in fields:
            for value in SHARP_VALUES:
                response = post(portal, form.action, {**form.fields, field: value})
                assert_not_a_server_error(response, f"POST {form.action} {field}={value[:20]!r}")
        for value in HOSTILE_VALUES:
            response = post(portal, form.action, {**form.fields, **dict.fromkeys(fields, value)})
            assert_not_a_server_error(response, f"POST {form.action} all={value[:20]!r}")


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/offers/", {"q": "\x00"}),
        ("/offers/", {"q": "²"}),
        ("/", {"date_to": "0001-01-01"}),
        ("/statistics/", {"date_to": "0001-01-01"}),
        ("/statistics/csv/", {"date_to": "0001-01-01"}),
    ],
)
def test_values_that_once_made_a_portal_page_fail_are_answered(portal, world, path, data):
    assert_not_a_server_error(portal.get(f"{path}?{query(data)}"), path)


@pytest.mark.parametrize("data", [{"name": "my\x00key"}, {"revoke": "²"}, {"revoke": "9" * 30}])
def test_hostile_api_key_forms_are_refused_with_a_reason(portal, affiliate, data):
    response = post(portal, reverse("portal:api-key"), data)

    assert response.status_code in (302, 404)
    if "name" in data:
        page = portal.get(reverse("portal:api-key"))
        assert "Null characters are not allowed." in page.content.decode()
        assert not affiliate.user.api_keys.exists()


@pytest.mark.parametrize(
    "path", ["/", "/statistics/", "/statistics/conversions/", "/statistics/postbacks/", "/statistics/csv/"]
)
def test_every_portal_period_is_bounded_with_a_precise_message(portal, world, path):
    for period in [
        {"date_to": "0001-01-01"},
        {"date_from": "0001-01-01"},
        {"date_to": "9999-12-31"},
        {"date_from": "9999-12-31", "date_to": "9999-12-31"},
        {"date_from": "2024-03-10", "date_to": "2024-03-01"},
    ]:
        response = portal.get(path, period)
        assert_not_a_server_error(response, f"{path} {period}")
        if response.status_code == 302:  # The export sends the visitor to the page that says why.
            response = portal.get(response["Location"])
        content = response.content.decode()
        assert "Enter a date from 2000-01-01 to 2099-12-31." in content or "The end date is before" in content


@pytest.mark.parametrize("path", ["/", "/statistics/"])
def test_portal_statistics_take_a_period_of_366_days_and_refuse_367(portal, path):
    assert (
        "Choose a period"
        not in portal.get(path, {"date_from": "2024-01-01", "date_to": "2024-12-31"}).content.decode()
    )
    response = portal.get(path, {"date_from": "2024-01-01", "date_to": "2025-01-01"})
    assert "Choose a period of at most 366 days." in response.content.decode()


@pytest.mark.parametrize("back", ["\x00", "a\r\nb", "statistics", "https://elsewhere.example/"])
def test_a_retry_goes_back_to_the_log_when_next_is_not_a_path_of_this_site(portal, world, back):
    path = reverse("postbacks:retry", kwargs={"delivery_id": world["delivery"].delivery_id})
    response = post(portal, path, {"next": back})

    assert response.status_code == 302 and response["Location"] == reverse("postbacks:log")
