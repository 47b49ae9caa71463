"""sub9..sub30 of Affise links: taken by the tracking link, kept on the click and its conversions
(in one JSON column, only those given), shown by the API, the portal and the admin, exported in
CSV, and offered by the link builder behind "More parameters"."""

import csv
import io
import time
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from conversions.models import Conversion
from tests.conftest import log_in
from tests.factories import AffiliateFactory, ClickFactory, ConversionFactory, OfferFactory
from tracking import buffer
from tracking.links import tracking_link
from tracking.models import (
    ALL_SUB_FIELDS,
    CLICK_PARAMETERS,
    MORE_SUB_FIELDS,
    SUB_FIELDS,
    Click,
    click_parameter_fields,
    new_click_id,
)
from tracking.store import click_flush_buffer, click_record, clicks_get

pytestmark = pytest.mark.django_db

SUBS = {"sub1": "one", "sub9": "nine", "sub17": "a b&c", "sub30": "thirty"}
MORE = {"sub9": "nine", "sub17": "a b&c", "sub30": "thirty"}


def _row(offer, affiliate, params: dict) -> dict:
    """A click row as the click acceptance builds it."""
    return {
        **click_parameter_fields(params),
        "click_id": new_click_id(),
        "offer_id": offer.pk,
        "affiliate_id": affiliate.pk,
        "ip": "203.0.113.7",
        "user_agent": "Browser/1.0",
        "referrer": "",
        "created_at": time.time(),
    }


def _written(click_id: str) -> Click:
    click_flush_buffer()
    return Click.objects.get(click_id=click_id)


def _expected_subs(given: dict) -> dict:
    return {name: given.get(name, "") for name in ALL_SUB_FIELDS}


# --- The names and the row --------------------------------------------------------------------


def test_sub1_to_sub8_keep_their_columns_and_sub9_to_sub30_are_the_more_subs():
    assert [f"sub{n}" for n in range(1, 9)] == SUB_FIELDS
    assert [f"sub{n}" for n in range(9, 31)] == MORE_SUB_FIELDS
    assert [f"sub{n}" for n in range(1, 31)] == ALL_SUB_FIELDS
    assert set(ALL_SUB_FIELDS) <= set(CLICK_PARAMETERS)


def test_a_clicks_parameter_fields_hold_only_the_sub9_to_sub30_given_and_not_empty():
    fields = click_parameter_fields({**SUBS, "sub10": "", "sub31": "not ours", "ref_id": "r", "pid": "7"})
    assert fields["more_subs"] == MORE
    assert [fields[name] for name in SUB_FIELDS] == ["one", "", "", "", "", "", "", ""]
    assert (fields["ref_id"], fields["ext1"], fields["os_id"], fields["fbclid"], fields["imp_id"]) == (
        "r",
        "",
        "",
        "",
        "",
    )
    assert not set(fields) & {*MORE_SUB_FIELDS, "sub31", "pid"}
    assert click_parameter_fields({})["more_subs"] == {}


# --- Storing clicks ---------------------------------------------------------------------------


def test_a_click_row_with_sub9_to_sub30_is_stored_on_either_write_path(either_write_path):
    offer, affiliate = OfferFactory(), AffiliateFactory()
    row = _row(offer, affiliate, SUBS)
    click_record(row)
    click = _written(row["click_id"])
    assert click.more_subs == MORE
    assert click.all_sub_values() == _expected_subs(SUBS)
    assert list(click.all_sub_values()) == ALL_SUB_FIELDS
    assert click.sub_value("sub17") == "a b&c" and click.sub_value("sub18") == ""


def test_a_click_still_in_the_buffer_is_found_with_its_sub9_to_sub30(buffered_writes):
    offer, affiliate = OfferFactory(), AffiliateFactory()
    row = _row(offer, affiliate, SUBS)
    click_record(row)
    assert buffer.pending_rows([row["click_id"]])[row["click_id"]]["more_subs"] == MORE
    assert clicks_get([row["click_id"]])[row["click_id"]].more_subs == MORE


def test_a_click_row_without_more_subs_is_stored_with_none(either_write_path):
    # As a release from before sub9..sub30 left it in the buffer.
    offer, affiliate = OfferFactory(), AffiliateFactory()
    row = _row(offer, affiliate, {"sub1": "one"})
    del row["more_subs"]
    click_record(row)
    click = _written(row["click_id"])
    assert click.more_subs == {} and click.all_sub_values() == _expected_subs({"sub1": "one"})


def test_a_writer_that_does_not_name_the_column_gets_an_empty_set_from_the_database():
    # What a release from before the column writes while a deploy rolls out.
    click = ClickFactory.build(offer=OfferFactory(), affiliate=AffiliateFactory(), sub1="old")
    fields = [
        field for field in Click._meta.concrete_fields if not field.primary_key and field.name != "more_subs"
    ]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    values = [field.get_db_prep_save(field.pre_save(click, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Click._meta.db_table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})",
            values,
        )
    stored = Click.objects.get(click_id=click.click_id)
    assert stored.more_subs == {} and stored.sub_value("sub9") == ""


@pytest.mark.usefixtures("direct_writes")
def test_sub9_to_sub30_of_a_tracking_link_reach_the_click_and_the_redirect_stays_the_same(client):
    offer = OfferFactory(destination_url="https://advertiser.example/?cid={clickid}&s1={sub1}")
    affiliate = AffiliateFactory()
    query = urlencode({"pid": affiliate.pid, "offer_id": offer.offer_id, **SUBS, "sub10": ""})
    response = client.get(f"/click?{query}")
    assert response.status_code == 302
    click = Click.objects.get()
    assert click.more_subs == MORE and click.sub1 == "one"
    assert response["Location"] == f"https://advertiser.example/?cid={click.click_id}&s1=one"


@pytest.mark.usefixtures("direct_writes")
def test_a_sub9_to_sub30_longer_than_512_characters_refuses_the_click(client):
    offer, affiliate = OfferFactory(), AffiliateFactory()
    query = urlencode({"pid": affiliate.pid, "offer_id": offer.offer_id, "sub30": "x" * 513})
    response = client.get(f"/click?{query}&format=json")
    assert response.status_code == 400
    assert response.json() == {"error": "Parameter sub30 is longer than 512 characters."}
    assert not Click.objects.exists()
    query = urlencode({"pid": affiliate.pid, "offer_id": offer.offer_id, "sub30": "x" * 512})
    assert client.get(f"/click?{query}").status_code == 302


# --- Conversions ------------------------------------------------------------------------------


@pytest.mark.usefixtures("direct_writes")
def test_a_conversion_keeps_the_sub9_to_sub30_of_its_click(client):
    click = ClickFactory(sub1="one", more_subs=MORE)
    response = client.get("/postback?" + urlencode({"clickid": click.click_id, "sub9": "not the click's"}))
    assert response.json()["message"] == "ok"
    conversion = Conversion.objects.get(conversion_id=response.json()["conversion_id"])
    assert conversion.more_subs == MORE
    assert conversion.all_sub_values() == click.all_sub_values() == _expected_subs(SUBS)


@pytest.mark.usefixtures("direct_writes")
def test_a_probabilistic_conversion_without_a_click_takes_sub9_to_sub30_from_the_postback(client):
    offer, affiliate = OfferFactory(), AffiliateFactory()
    params = {"offer_id": offer.offer_id, "pid": affiliate.pid, "sub2": "two", "sub11": "eleven", "sub12": ""}
    response = client.get("/postback?" + urlencode(params))
    assert response.json()["message"] == "ok"
    conversion = Conversion.objects.get(conversion_id=response.json()["conversion_id"])
    assert conversion.click is None and conversion.more_subs == {"sub11": "eleven"}
    assert conversion.all_sub_values() == _expected_subs({"sub2": "two", "sub11": "eleven"})


# --- The API ----------------------------------------------------------------------------------


def test_the_manager_api_shows_sub1_to_sub30_of_every_click_empty_when_not_given(manager_api):
    given = ClickFactory(sub1="one", more_subs=MORE)
    bare = ClickFactory()
    body = manager_api.get(f"/api/v1/manage/clicks/{given.click_id}/").json()
    keys = list(body)
    assert keys[keys.index("sub1") : keys.index("sub30") + 1] == ALL_SUB_FIELDS
    assert {name: body[name] for name in ALL_SUB_FIELDS} == _expected_subs(SUBS)
    listed = {row["id"]: row for row in manager_api.get("/api/v1/manage/clicks/").json()["results"]}
    assert listed[given.click_id] == body
    assert {name: listed[bare.click_id][name] for name in ALL_SUB_FIELDS} == _expected_subs({})
    assert "more_subs" not in body


def test_the_conversion_apis_show_sub1_to_sub30(affiliate, affiliate_api, manager_api):
    conversion = ConversionFactory(affiliate=affiliate, sub1="one", more_subs=MORE)
    partner = affiliate_api.get(f"/api/v1/conversions/{conversion.conversion_id}/").json()
    manager = manager_api.get(f"/api/v1/manage/conversions/{conversion.conversion_id}/").json()
    for body in (partner, manager):
        assert {name: body[name] for name in ALL_SUB_FIELDS} == _expected_subs(SUBS)
        assert "more_subs" not in body


def test_the_api_schema_documents_sub1_to_sub30(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    for component in ("ManagerClick", "Conversion", "ManagerConversion"):
        properties = schema["components"]["schemas"][component]["properties"]
        assert set(ALL_SUB_FIELDS) <= set(properties), component
        assert properties["sub30"]["readOnly"] is True


def test_the_tracking_link_endpoint_takes_sub9_to_sub30(affiliate, affiliate_api):
    offer = OfferFactory()
    body = affiliate_api.get(
        f"/api/v1/offers/{offer.offer_id}/tracking-link/", {"sub1": "{clickid}", "sub30": "z"}
    ).json()
    assert body["tracking_link"].endswith(f"offer_id={offer.offer_id}&sub1={{clickid}}&sub30=z")


# --- The portal and the admin -----------------------------------------------------------------


def test_the_conversion_list_shows_sub9_to_sub30_with_the_other_sub_values(portal, affiliate):
    ConversionFactory(affiliate=affiliate, sub1="one", more_subs=MORE)
    page = portal.get("/statistics/conversions/").content.decode()
    assert "<code>sub1</code>: one<br>" in page and "<code>sub30</code>: thirty<br>" in page
    assert "<code>sub17</code>: a b&amp;c<br>" in page and "<code>sub10</code>" not in page


def test_the_conversions_csv_has_a_column_for_each_of_sub1_to_sub30(portal, affiliate):
    ConversionFactory(affiliate=affiliate, sub1="one", more_subs={**MORE, "sub20": "=1+1"})
    response = portal.get("/statistics/conversions/csv/")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header, row = rows
    first = header.index("sub1")
    assert header[first : first + 30] == ALL_SUB_FIELDS
    values = dict(zip(ALL_SUB_FIELDS, row[first : first + 30], strict=True))
    assert values == _expected_subs({**SUBS, "sub20": "'=1+1"})


@pytest.fixture
def admin_client(client, manager):
    client.force_login(manager)
    return client


def test_the_admin_shows_a_clicks_sub9_to_sub30_after_sub8(admin_client):
    click = ClickFactory(sub8="eight", more_subs=MORE)
    response = admin_client.get(reverse("admin:tracking_click_change", args=[click.pk]))
    page = response.content.decode()
    assert page.index("eight") < page.index("Sub9..sub30:") < page.index("sub9: nine<br>sub17: a b&amp;c")
    assert "sub30: thirty" in page
    bare = ClickFactory()
    page = admin_client.get(reverse("admin:tracking_click_change", args=[bare.pk])).content.decode()
    assert "Sub9..sub30:" in page and "sub9:" not in page


def test_the_admin_shows_a_conversions_sub9_to_sub30_with_its_sub_values(admin_client):
    conversion = ConversionFactory(sub8="eight", more_subs=MORE)
    page = admin_client.get(reverse("admin:conversions_conversion_change", args=[conversion.pk]))
    page = page.content.decode()
    assert page.index("eight") < page.index("sub9: nine<br>sub17: a b&amp;c<br>sub30: thirty")


# --- The link builder -------------------------------------------------------------------------


def test_the_builder_keeps_sub9_to_sub30_behind_more_parameters(portal):
    offer = OfferFactory()
    page = portal.get(f"/offers/{offer.offer_id}/tracking-link/").content.decode()
    start = page.index('<details class="more" id="more-parameters">')
    more = page[start : page.index("</details>", start)]
    assert all(f'name="{name}"' in more for name in MORE_SUB_FIELDS)
    assert not any(f'name="{name}"' in more for name in [*SUB_FIELDS, "ref_id"])


def test_the_builder_opens_more_parameters_when_one_of_them_has_a_value(portal, affiliate):
    offer = OfferFactory()
    page = portal.get(
        f"/offers/{offer.offer_id}/tracking-link/", {"sub1": "a", "ref_id": "r", "sub9": "{clickid}"}
    ).content.decode()
    assert '<details class="more" id="more-parameters" open>' in page
    assert (
        f"/click?pid={affiliate.pid}&amp;offer_id={offer.offer_id}&amp;sub1=a&amp;ref_id=r&amp;sub9={{clickid}}"
        in page
    )


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_on_a_phone_the_builder_takes_sub9_without_sideways_scrolling(live_server, browser, affiliate):
    offer = OfferFactory()
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        with override_settings(TRACKING_BASE_URL=live_server.url):
            log_in(page, live_server.url, affiliate.user.username)
            page.goto(f"{live_server.url}/offers/{offer.offer_id}/tracking-link/")
            assert not page.locator("#id_sub9").is_visible()
            page.get_by_text("More parameters").click()
            page.fill("#id_sub9", "{clickid}")
            page.fill("#id_sub30", "z")
            expected = tracking_link(
                offer_id=offer.offer_id, pid=affiliate.pid, params={"sub9": "{clickid}", "sub30": "z"}
            )
            assert page.locator("#tracking-link").inner_text() == expected
            widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert widths[0] <= widths[1], widths
    finally:
        context.close()
    assert errors == []
