"""config.db, the one module that speaks SQL: its inserts and reads store and answer exactly what the
ORM would, in every mode, and the Django internals it relies on still behave as it relies on."""

import ast
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from http import HTTPStatus
from ipaddress import ip_address
from pathlib import Path

import pytest
from django.db import IntegrityError, connection, transaction
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.utils.translation import gettext_lazy

from config.db import insert_many, ping, select_models, set_for_transaction
from conversions.models import Conversion, ServerPostback
from postbacks.models import Postback
from stats.models import DailyStat, DailyVisitor
from tests.factories import ClickFactory, ConversionFactory, OfferFactory, PostbackFactory
from tracking.models import Click, new_click_id
from tracking.store import click_write_rows

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
POSTGRESQL = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's behaviour")


def click_row(offer, affiliate, **values) -> dict:
    return {
        "click_id": new_click_id(),
        "offer_id": offer.pk,
        "affiliate_id": affiliate.pk,
        "created_at": datetime(2025, 5, 1, 12, tzinfo=UTC),
        **values,
    }


# --- Instances ----------------------------------------------------------------------------


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


def test_rows_are_inserted_in_the_order_given():
    existing = ConversionFactory()
    conversions = [
        ConversionFactory.build(offer=existing.offer, affiliate=existing.affiliate, goal=existing.goal)
        for _ in range(5)
    ]
    insert_many(conversions)
    ids = [conversion.pk for conversion in conversions]
    assert ids == sorted(ids)


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


def test_an_inserted_instance_is_stored_as_save_would_leave_it():
    """insert_many marks instances through Django's `_state`: a later save() updates the row."""
    existing = ConversionFactory()
    conversion = ConversionFactory.build(
        offer=existing.offer, affiliate=existing.affiliate, goal=existing.goal
    )
    insert_many([conversion])
    assert (conversion._state.adding, conversion._state.db) == (False, "default")
    conversion.comment = "changed"
    conversion.save()
    assert Conversion.objects.count() == 2
    assert Conversion.objects.get(pk=conversion.pk).comment == "changed"


# --- Plain rows ---------------------------------------------------------------------------


def test_plain_rows_get_the_defaults_of_the_fields_they_leave_out(affiliate):
    offer = OfferFactory()
    row = click_row(offer, affiliate, sub1="s\u00e9", ip="2001:0db8::7")
    assert insert_many([row], into=Click) == [row]
    stored = Click.objects.get(click_id=row["click_id"])
    assert (stored.sub1, stored.sub2, stored.ip, stored.is_test) == ("s\u00e9", "", "2001:db8::7", False)
    assert stored.created_at == row["created_at"]


def test_plain_rows_already_stored_or_repeated_in_the_call_are_skipped_and_left_out(affiliate):
    offer = OfferFactory()
    stored, fresh = click_row(offer, affiliate), click_row(offer, affiliate)
    insert_many([stored], into=Click)
    repeated = dict(fresh, sub1="the repeat")
    answer = insert_many([stored, fresh, repeated], into=Click, skip_conflicts_by="click_id")
    assert answer == [fresh] and answer[0] is fresh
    assert Click.objects.count() == 2
    assert Click.objects.get(click_id=fresh["click_id"]).sub1 == ""


def test_rows_told_apart_by_several_fields_are_matched_to_what_the_database_answers(affiliate):
    """The returned day (text on SQLite) and address (compressed) are those of the rows given."""
    offer = OfferFactory()
    day = date(2025, 5, 1)
    key = ("day", "affiliate_id", "offer_id", "ip")
    seen = {"day": day, "affiliate_id": affiliate.pk, "offer_id": offer.pk, "ip": "2001:0db8::1"}
    insert_many([seen], into=DailyVisitor, skip_conflicts_by=key)
    again = dict(seen, ip="2001:db8::1")
    new = dict(seen, ip="198.51.100.1")
    assert insert_many([again, new], into=DailyVisitor, skip_conflicts_by=key) == [new]
    assert sorted(DailyVisitor.objects.values_list("ip", flat=True)) == ["198.51.100.1", "2001:db8::1"]


@pytest.mark.parametrize("address", ["::102:304", "::ffff:1.2.3.4", "64:ff9b::1.2.3.4", "fe80::1"])
def test_addresses_the_database_spells_its_own_way_are_matched_to_the_rows_given(affiliate, address):
    """PostgreSQL writes an IPv6 address ending in an IPv4 one as `::1.2.3.4`: still the row given."""
    offer = OfferFactory()
    key = ("day", "affiliate_id", "offer_id", "ip")
    seen = {"day": date(2025, 5, 1), "affiliate_id": affiliate.pk, "offer_id": offer.pk, "ip": address}
    assert insert_many([seen], into=DailyVisitor, skip_conflicts_by=key) == [seen]
    assert insert_many([dict(seen)], into=DailyVisitor, skip_conflicts_by=key) == []


def test_a_click_from_such_an_address_is_stored_and_counted(affiliate):
    offer = OfferFactory()
    row = click_row(offer, affiliate) | {"ip": "::102:304", "created_at": datetime(2025, 5, 1).timestamp()}
    click_write_rows([row])
    assert ip_address(Click.objects.get(click_id=row["click_id"]).ip) == ip_address("::102:304")
    assert DailyStat.objects.get(offer=offer, goal=None).unique_clicks == 1


def test_rows_that_conflict_under_a_partial_unique_constraint_add_to_the_stored_row(affiliate):
    offer = OfferFactory()
    goal = offer.goals.get()
    day = date(2025, 5, 1)
    clicks = {"day": day, "affiliate_id": affiliate.pk, "offer_id": offer.pk}
    conversions = {**clicks, "goal_id": goal.pk, "currency": "EUR"}

    def add_clicks(count):
        insert_many(
            [{**clicks, "clicks": count, "unique_clicks": 1}],
            into=DailyStat,
            add_on_conflict=("clicks", "unique_clicks"),
            unique="daily_stat_clicks_unique",
        )

    def add_conversions(approved, payout):
        insert_many(
            [{**conversions, "approved": approved, "payout_approved": payout}],
            into=DailyStat,
            add_on_conflict=("approved", "payout_approved"),
            unique="daily_stat_conversions_unique",
        )

    add_clicks(2)
    add_clicks(3)
    add_conversions(1, Decimal("2.5000"))
    add_conversions(-1, Decimal("-2.5000"))
    add_conversions(1, Decimal("1.2500"))
    counted = DailyStat.objects.get(goal=None)
    assert (counted.clicks, counted.unique_clicks, counted.currency) == (5, 2, "")
    converted = DailyStat.objects.get(goal=goal)
    assert (converted.approved, converted.payout_approved, converted.clicks) == (1, Decimal("1.2500"), 0)


def test_a_row_is_either_skipped_or_added_to_on_conflict(affiliate):
    with pytest.raises(ValueError):
        insert_many(
            [{"day": date(2025, 5, 1), "affiliate_id": affiliate.pk, "offer_id": 1, "clicks": 1}],
            into=DailyStat,
            skip_conflicts_by="day",
            add_on_conflict=("clicks",),
            unique="daily_stat_clicks_unique",
        )


def test_more_rows_than_one_statement_takes_are_inserted_in_full(affiliate, monkeypatch):
    """On SQLite the rows of one statement are bounded by the parameters it takes
    (`connection.features.max_query_params`); PostgreSQL sends any number as one document."""
    if connection.vendor == "postgresql":
        assert connection.features.max_query_params is None
    else:
        assert connection.features.max_query_params > 0
        monkeypatch.setattr(connection.features, "max_query_params", 2 * 4 * len(DailyVisitor._meta.fields))
    offer = OfferFactory()
    rows = [
        {"day": date(2025, 5, 1), "affiliate_id": affiliate.pk, "offer_id": offer.pk, "ip": f"10.0.0.{n}"}
        for n in range(1, 21)
    ]
    key = ("day", "affiliate_id", "offer_id", "ip")
    assert insert_many([*rows, dict(rows[0])], into=DailyVisitor, skip_conflicts_by=key) == rows
    assert DailyVisitor.objects.count() == 20


# --- Reading ------------------------------------------------------------------------------


def test_selected_instances_equal_the_orms():
    """The values read are converted by the ORM's own converters (a JSON column, dates)."""
    clicks = [ClickFactory(ip="198.51.100.7", sub1="s\u00e9"), ClickFactory(ip=None)]
    selected = select_models(Click, where={"click_id": [click.click_id for click in clicks]})
    by_id = {click.click_id: click for click in selected}
    for click in clicks:
        assert model_to_dict(by_id[click.click_id]) == model_to_dict(Click.objects.get(pk=click.pk))
        assert not by_id[click.click_id]._state.adding
    conversion = ConversionFactory(extra={"country": "DE"})
    [read] = select_models(Conversion, where={"id": conversion.pk})
    assert read.extra == {"country": "DE"} and read.created_at == conversion.created_at


def test_a_list_matches_any_of_its_values_and_none_among_them_matches_null(affiliate, other_affiliate):
    offer, other_offer = OfferFactory(), OfferFactory()
    global_ = PostbackFactory(affiliate=affiliate)
    local = PostbackFactory(affiliate=affiliate, offer=offer)
    PostbackFactory(affiliate=affiliate, offer=other_offer)
    PostbackFactory(affiliate=affiliate, enabled=False)
    theirs = PostbackFactory(affiliate=other_affiliate)

    def selected(**where):
        return [postback.pk for postback in select_models(Postback, where=where, order_by=("id",))]

    assert selected(enabled=True, affiliate_id=[affiliate.pk], offer_id=[None, offer.pk]) == [
        global_.pk,
        local.pk,
    ]
    assert selected(enabled=True, offer_id=None) == [global_.pk, theirs.pk]
    assert selected(affiliate_id=[other_affiliate.pk, affiliate.pk], offer_id=[offer.pk]) == [local.pk]
    assert selected(affiliate_id=[]) == []


# --- Transactions and the connection ------------------------------------------------------


@POSTGRESQL
@pytest.mark.django_db(transaction=True)
def test_settings_changed_for_a_transaction_end_with_it():
    def enable_sort():
        with connection.cursor() as cursor:
            cursor.execute("SHOW enable_sort")
            return cursor.fetchone()[0]

    with transaction.atomic():
        set_for_transaction(enable_sort="off")
        inside = enable_sort()
    assert (inside, enable_sort()) == ("off", "on")


def test_the_database_answers_a_ping():
    ping()


def test_errors_of_the_hot_statements_are_djangos_and_logged_queries_include_them(affiliate):
    """The server-binding cursor is wrapped by Django's `make_cursor`/`make_debug_cursor`, chosen
    by `queries_logged`, after `close_if_health_check_failed` and `ensure_connection`."""
    offer = OfferFactory()
    row = click_row(offer, affiliate)
    assert not connection.queries_logged
    with CaptureQueriesContext(connection) as queries:
        assert connection.queries_logged
        insert_many([row], into=Click)
    assert len(queries) == 1 and "INSERT" in queries[0]["sql"]
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_many([row], into=Click)


@POSTGRESQL
def test_the_hot_statements_are_prepared_once_they_repeat():
    existing = ConversionFactory()
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    for count in range(1, 7):
        insert_many(
            [ConversionFactory.build(offer=existing.offer, affiliate=existing.affiliate, goal=existing.goal)]
        )
        select_models(Click, where={"click_id": [new_click_id() for _ in range(count)]})
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert any("json_populate_recordset" in statement for statement in prepared), prepared
    # The same statement whatever the number of click ids.
    assert any("ANY(" in statement and "tracking_click" in statement for statement in prepared), prepared


# --- The one home of SQL ------------------------------------------------------------------

APPS = ["offers", "tracking", "conversions", "postbacks", "stats", "api", "portal", "config"]
STATEMENT = re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|ON CONFLICT|LOCK TABLE|SET LOCAL|COPY)\b")
CURSOR_CALLS = {"cursor", "raw", "extra"}


def _sql_outside_config_db(path: Path, root: Path = ROOT) -> list[str]:
    """Cursors, raw querysets and SQL statements in string literals (docstrings aside)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in CURSOR_CALLS
        ):
            found.append(f"{path.relative_to(root)}:{node.lineno} .{node.func.attr}()")
        elif isinstance(node, ast.Name) and node.id == "RawSQL":
            found.append(f"{path.relative_to(root)}:{node.lineno} RawSQL")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and STATEMENT.search(node.value)
        ):
            found.append(f"{path.relative_to(root)}:{node.lineno} {node.value[:40]!r}")
    return found


# The statements of the product's reads and writes, and those that shape its tables' partitions.
SQL_HOMES = {ROOT / "config" / "db.py", ROOT / "config" / "partitions.py"}


def test_no_module_but_config_db_holds_sql():
    found = [
        place
        for app in APPS
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts and path not in SQL_HOMES
        for place in _sql_outside_config_db(path)
    ]
    assert found == []


def test_the_rule_finds_sql_where_it_is(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        '"""SELECT in a docstring is prose."""\n'
        "def f(connection, table):\n"
        "    with connection.cursor() as cursor:\n"
        '        cursor.execute(f"DELETE FROM {table}")\n'
    )
    assert _sql_outside_config_db(module, tmp_path) == ["module.py:3 .cursor()", "module.py:4 'DELETE FROM '"]


@POSTGRESQL
def test_text_no_column_can_hold_is_refused_as_a_bad_value():
    with pytest.raises(ValueError, match="cannot be stored"):
        insert_many([ServerPostback(source="postback", method="GET", query="\ud800", outcome="rejected")])
