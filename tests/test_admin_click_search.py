"""The admin's search by click id (clicks, refused clicks, conversions): a click id pasted in any
case is looked up exactly and in the partitions of the time it names, never with the UPPER()
match that reads every week of the click tables."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from config import partitions
from tests.factories import AffiliateFactory, ClickFactory, ConversionFactory, OfferFactory
from tracking.models import RefusedClick, new_click_id

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's")


@pytest.fixture
def admin_client(client, manager):
    client.force_login(manager)
    return client


def _refused_click(**fields) -> RefusedClick:
    made = fields.pop("created_at", timezone.now())
    return RefusedClick.objects.create(
        click_id=new_click_id(at=made.timestamp()),
        offer=OfferFactory(),
        affiliate=AffiliateFactory(),
        reason="country",
        created_at=made,
        **fields,
    )


def _search(admin_client, table: str, term: str) -> tuple[list, list[str]]:
    """The rows the admin's list of the model of `table` finds for `term`, and the SQL it ran."""
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse(f"admin:{table}_changelist"), {"q": term})
    assert response.status_code == 200
    return list(response.context["cl"].result_list), [query["sql"] for query in queries]


def _on(table: str, sql: list[str]) -> list[str]:
    return [statement for statement in sql if f'FROM "{table}"' in statement]


def _partitions_read(statement: str, table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {statement}")
        plan = [line for (line,) in cursor.fetchall()]
    return {match for line in plan for match in re.findall(rf"\bon ({table}_\w+)", line)}


def _partition_of(table: str, row) -> str:
    """The week's partition `row` is in, or the partition of every time before the weeks."""
    week = f"{table}_p{partitions.week_start(row.created_at):%Y%m%d}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [week])
        return week if cursor.fetchone()[0] else f"{table}_before"


@pytest.mark.parametrize("case", [str.lower, str.upper], ids=["lowercase", "uppercase"])
def test_a_click_is_found_by_its_id_in_any_case(admin_client, case):
    click, _other = ClickFactory(), ClickFactory()
    found, _ = _search(admin_client, "tracking_click", f" {case(click.click_id)} ")
    assert found == [click]


@pytest.mark.parametrize("case", [str.lower, str.upper], ids=["lowercase", "uppercase"])
def test_a_refused_click_is_found_by_its_id_in_any_case(admin_client, case):
    refused, _other = _refused_click(), _refused_click()
    found, _ = _search(admin_client, "tracking_refusedclick", case(refused.click_id))
    assert found == [refused]


@pytest.mark.parametrize(
    ("table", "make"), [("tracking_click", ClickFactory), ("tracking_refusedclick", _refused_click)]
)
def test_the_search_asks_for_the_exact_id_within_the_time_it_names(admin_client, table, make):
    row = make(created_at=timezone.now() - timedelta(days=3))
    _found, sql = _search(admin_client, table, row.click_id.upper())
    statements = _on(table, sql)
    assert statements, sql
    for statement in statements:
        assert "UPPER(" not in statement, statement
        assert f'"{table}"."click_id" IN (\'{row.click_id}\')' in statement, statement
        assert f'"{table}"."created_at" >= ' in statement, statement
        assert f'"{table}"."created_at" < ' in statement, statement


@postgresql_only
@pytest.mark.parametrize(
    ("table", "make"), [("tracking_click", ClickFactory), ("tracking_refusedclick", _refused_click)]
)
def test_the_search_reads_only_the_partition_of_the_ids_time(admin_client, table, make):
    row = make(created_at=timezone.now() - timedelta(days=3))
    _found, sql = _search(admin_client, table, row.click_id)
    assert _on(table, sql), sql
    for statement in _on(table, sql):
        assert _partitions_read(statement, table) == {_partition_of(table, row)}, statement


@pytest.mark.parametrize("term", ["not-a-click-id", "0" * 23, "0" * 25, "zz" * 12])
def test_a_term_of_no_click_ids_shape_finds_no_click_and_reads_none(admin_client, term):
    ClickFactory()
    _refused_click()
    for table in ("tracking_click", "tracking_refusedclick"):
        found, sql = _search(admin_client, table, term)
        assert found == [] and _on(table, sql) == [], sql


def test_the_lists_without_a_term_show_every_row(admin_client):
    clicks, refused = [ClickFactory(), ClickFactory()], [_refused_click(), _refused_click()]
    assert set(_search(admin_client, "tracking_click", "")[0]) == set(clicks)
    assert set(_search(admin_client, "tracking_refusedclick", "  ")[0]) == set(refused)


# --- Conversions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", [str.lower, str.upper], ids=["lowercase", "uppercase"])
def test_a_conversion_is_found_by_its_clicks_id_in_any_case(admin_client, case):
    conversion = ConversionFactory(click=ClickFactory())
    ConversionFactory(click=ClickFactory())
    found, _ = _search(admin_client, "conversions_conversion", case(conversion.click.click_id))
    assert found == [conversion]


def test_a_conversion_is_found_by_the_click_id_it_kept_once_the_click_is_gone(admin_client):
    conversion = ConversionFactory(click=ClickFactory())
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM tracking_click WHERE id = %s", [conversion.click_id])
    found, _ = _search(admin_client, "conversions_conversion", conversion.kept_click_id.upper())
    assert found == [conversion]


def test_a_conversion_that_kept_nothing_of_its_click_is_found_through_the_clicks_row(admin_client):
    # As one made by a process still running the release from before the kept click values.
    conversion = ConversionFactory(click=ClickFactory(), click_values={})
    found, _ = _search(admin_client, "conversions_conversion", conversion.click.click_id)
    assert found == [conversion]


def test_the_conversion_search_reads_the_click_only_within_its_ids_time(admin_client):
    conversion = ConversionFactory(click=ClickFactory(created_at=timezone.now() - timedelta(days=3)))
    _found, sql = _search(admin_client, "conversions_conversion", conversion.click.click_id.upper())
    assert not [statement for statement in sql if "UPPER(" in statement], sql
    clicks = _on("tracking_click", sql)
    assert clicks, sql
    for statement in clicks:
        assert '"tracking_click"."created_at" >= ' in statement, statement
    # The list itself names no click table: it goes by the id kept and the click's primary key.
    assert not [
        statement for statement in _on("conversions_conversion", sql) if "tracking_click" in statement
    ]


@postgresql_only
def test_the_conversion_search_reads_only_the_partition_of_the_clicks_time(admin_client):
    click = ClickFactory(created_at=timezone.now() - timedelta(days=3))
    ConversionFactory(click=click)
    _found, sql = _search(admin_client, "conversions_conversion", click.click_id)
    assert _on("tracking_click", sql), sql
    for statement in _on("tracking_click", sql):
        assert _partitions_read(statement, "tracking_click") == {_partition_of("tracking_click", click)}


@postgresql_only
def test_the_conversion_search_by_click_id_is_served_by_indexes(admin_client):
    conversion = ConversionFactory(click=ClickFactory())
    _found, sql = _search(admin_client, "conversions_conversion", conversion.click.click_id)
    # The kept id as text, the expression its index is on (conversions.models.KeptClickId).
    searched = [query for query in _on("conversions_conversion", sql) if "->> 'click_id'" in query]
    [condition] = {re.search(r"WHERE (.*) ORDER BY", query).group(1) for query in searched}
    with connection.cursor() as cursor:
        # The rows it matches, without the list's order (which a table this small is walked in).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f'EXPLAIN SELECT "id" FROM "conversions_conversion" WHERE {condition}')
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert "Seq Scan" not in plan and "conversion_kept_click_id" in plan, plan


def test_conversions_are_still_found_by_their_own_id_and_the_advertisers_id(admin_client):
    conversion = ConversionFactory(click=ClickFactory(), action_id="ORDER-17")
    ConversionFactory(action_id="ORDER-18")
    assert _search(admin_client, "conversions_conversion", conversion.conversion_id.upper())[0] == [
        conversion
    ]
    assert _search(admin_client, "conversions_conversion", "ORDER-17")[0] == [conversion]
    assert _search(admin_client, "conversions_conversion", "order-17")[0] == []
