"""config.db: the hot paths' inserts and reads store and answer exactly what the ORM would."""

from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.utils.translation import gettext_lazy

from config.db import insert_many, select_models
from conversions.models import Conversion, ServerPostback
from tests.factories import ClickFactory, ConversionFactory
from tracking.models import Click

pytestmark = pytest.mark.django_db


def test_inserted_rows_read_back_as_they_were_given():
    other = ConversionFactory()
    conversion = Conversion(
        offer=other.offer,
        affiliate=other.affiliate,
        goal=other.goal,
        status=5,
        payout=Decimal("0.0001"),
        revenue=Decimal("99999999.1234"),
        currency="EUR",
        order_sum=None,
        ip="2001:db8::1",
        referrer='https://example.com/?q="it\'s"\\ \u00e9\u4e2d\U0001f600',
        comment="",
        extra={"custom_field1": 'a"b', "nested": {"list": [1, 2.5, None, True]}},
        hold_until=datetime(2031, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    )
    [inserted] = insert_many([conversion])
    assert inserted is conversion and conversion.pk is not None
    assert conversion.created_at is not None  # filled in by pre_save, as save() would
    stored = Conversion.objects.get(pk=conversion.pk)
    assert model_to_dict(stored) == model_to_dict(conversion)
    assert (stored.created_at, stored.updated_at) == (conversion.created_at, conversion.updated_at)


def test_values_of_another_type_than_the_columns_are_prepared_as_the_orm_would():
    conversion = ConversionFactory()
    entry = ServerPostback(
        source=ServerPostback.Source.POSTBACK,  # a str enum, not a str
        method=gettext_lazy("GET"),  # a lazy string
        query="a=1",
        ip="2001:0db8:0:0::1",  # stored in its compressed form
        outcome=ServerPostback.Outcome.CREATED,
        http_status=HTTPStatus.OK,  # an int enum
        message="ok",
        conversion_id=str(conversion.pk),  # a foreign key's id as text
    )
    [inserted] = insert_many([entry])
    stored = ServerPostback.objects.get(pk=inserted.pk)
    assert (stored.source, stored.method, stored.ip, stored.http_status, stored.conversion_id) == (
        "postback",
        "GET",
        "2001:db8::1",
        200,
        conversion.pk,
    )


def test_rows_an_existing_row_conflicts_with_are_skipped():
    existing = ConversionFactory(action_id="A-1")
    twin = ConversionFactory.build(
        offer=existing.offer, affiliate=existing.affiliate, goal=existing.goal, action_id="A-1"
    )
    fresh = ConversionFactory.build(
        offer=existing.offer, affiliate=existing.affiliate, goal=existing.goal, action_id="A-2"
    )
    assert insert_many([twin, fresh], skip_conflicts_by="conversion_id") == [fresh]
    assert twin.pk is None and fresh.pk is not None
    assert sorted(Conversion.objects.values_list("action_id", flat=True)) == ["A-1", "A-2"]


def test_selected_instances_equal_the_orms():
    clicks = [ClickFactory(ip="198.51.100.7", sub1="s\u00e9"), ClickFactory(ip=None)]
    selected = select_models(Click, "click_id IN (%s, %s)", [click.click_id for click in clicks])
    by_id = {click.click_id: click for click in selected}
    for click in clicks:
        assert model_to_dict(by_id[click.click_id]) == model_to_dict(Click.objects.get(pk=click.pk))
        assert not by_id[click.click_id]._state.adding
    conversion = ConversionFactory(extra={"country": "DE"})
    [read] = select_models(Conversion, "id = %s", [conversion.pk])
    assert read.extra == {"country": "DE"} and read.created_at == conversion.created_at


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_the_hot_statements_are_prepared_once_they_repeat():
    existing = ConversionFactory()
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    for _ in range(6):
        insert_many(
            [ConversionFactory.build(offer=existing.offer, affiliate=existing.affiliate, goal=existing.goal)]
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert any("json_populate_recordset" in statement for statement in prepared), prepared
