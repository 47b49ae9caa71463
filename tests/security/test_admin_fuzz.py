"""Hostile values in the query string of every admin list: each ModelAdmin registered on the site
(Django's and django-axes' included) is walked, so a new one is fuzzed without being listed here.

Each list filter's parameters, the search and the date drill-down get NUL, a digit that is not
ASCII, year 10000 and a number past any column; a plain lookup on every text field gets NUL. A
value the database cannot compare is answered as Django answers an unknown lookup (a redirect
to the unfiltered list with `?e=1`), never a 500.
"""

import pytest
from django.contrib import admin
from django.db import models
from django.test import RequestFactory
from django.urls import reverse

from tests.factories import ClickFactory, ConversionFactory, DeliveryFactory, UserFactory
from tests.security.hostile import assert_not_a_server_error, query

# NUL for text, ² for numbers, year 10000 for dates, a number past any column.
ADMIN_VALUES = ["\x00", "²", "10000", "9" * 30]
MODEL_ADMINS = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.fixture
def staff(client, db):
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(superuser)
    ClickFactory(sub1="s1")
    DeliveryFactory(conversion=ConversionFactory(sub1="s1"))
    return client, superuser


def advertised_parameters(model_admin, user) -> set[str]:
    """What the list page itself sends: its filters' parameters, the search, the date drill-down."""
    request = RequestFactory().get("/")
    request.user = user
    changelist = model_admin.get_changelist_instance(request)
    names = {name for spec in changelist.filter_specs for name in spec.expected_parameters()}
    if model_admin.search_fields:
        names.add("q")
    if model_admin.date_hierarchy:
        names |= {f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")}
    return names


@pytest.mark.parametrize(
    ("model", "model_admin"), MODEL_ADMINS, ids=[model._meta.label for model, _ in MODEL_ADMINS]
)
def test_every_admin_list_answers_hostile_filters_without_a_server_error(staff, model, model_admin):
    client, user = staff
    path = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    for name in sorted(advertised_parameters(model_admin, user)):
        for value in ADMIN_VALUES:
            response = client.get(f"{path}?{query({name: value})}")
            assert_not_a_server_error(response, f"{path} {name}={value[:20]!r}")
    # Any field of the model may be named in the query string, as a link from another list does;
    # the database refuses a NUL in text (other types refuse it before any query).
    for field in model._meta.concrete_fields:
        if not isinstance(field, models.CharField | models.TextField):
            continue
        response = client.get(f"{path}?{query({field.name: chr(0)})}")
        assert_not_a_server_error(response, f"{path} {field.name}=NUL")


@pytest.mark.parametrize(
    "parameters",
    [
        {"sub1": "\x00"},
        {"created_at__year": "0"},
        {"created_at__year": "10000"},
        {"sub1__regex": "("},
    ],
    ids=["nul", "year-0", "year-10000", "broken-regex"],
)
def test_a_click_list_filter_the_database_cannot_compare_redirects_as_an_unknown_lookup(staff, parameters):
    client, _ = staff
    response = client.get(f"/admin/tracking/click/?{query(parameters)}")

    assert response.status_code == 302 and response["Location"] == "/admin/tracking/click/?e=1"


def test_a_date_drill_down_past_the_last_year_redirects_as_an_unknown_lookup(staff):
    client, _ = staff
    response = client.get("/admin/axes/accessattempt/?attempt_time__year=9999&attempt_time__month=12")

    assert response.status_code == 302 and response["Location"].endswith("?e=1")


def test_an_autocomplete_search_with_a_nul_is_a_400_naming_it(staff):
    client, _ = staff
    response = client.get(
        "/admin/autocomplete/",
        {"term": "a\x00", "app_label": "offers", "model_name": "offer", "field_name": "advertiser"},
    )

    assert response.status_code == 400
    assert response.json() == {"error": "A search term cannot contain NUL characters."}


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31"])
def test_the_network_dashboard_refuses_a_day_out_of_range_with_its_reason(staff, value):
    client, _ = staff
    response = client.get(f"/admin/dashboard/?date_to={value}")

    assert response.status_code == 200
    assert "Enter a date from 2000-01-01 to 2099-12-31." in response.content.decode()
