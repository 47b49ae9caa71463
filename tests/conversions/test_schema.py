"""The conversion table carries only the indexes its reads need: each one costs every postback."""

import pytest
from django.db import connection

from conversions.models import Conversion

pytestmark = [
    pytest.mark.django_db,
    # Django's SQLite introspection cannot parse this table's check constraints.
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the production schema is PostgreSQL's"),
]


def _indexed_columns(model):
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return [tuple(c["columns"]) for c in constraints.values() if c["index"] and not c["primary_key"]]


def test_an_affiliates_conversions_are_indexed_once_by_affiliate_and_date():
    indexed = _indexed_columns(Conversion)
    assert ("affiliate_id", "created_at") in indexed
    assert ("affiliate_id",) not in indexed
