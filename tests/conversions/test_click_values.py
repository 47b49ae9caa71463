"""What a conversion keeps of its click when it is made (conversions.click_values), so that its
pages and API still name the click once the click's row is dropped, and the migration that
fills it for the conversions made before."""

import importlib
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from conversions.click_values import click_values
from conversions.models import Conversion
from tests.factories import ClickFactory, ConversionFactory, OfferFactory
from tracking.models import Click

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

fill_click_values = importlib.import_module(
    "conversions.migrations.0013_conversion_click_values"
).fill_click_values


def drop_click(click_id: str) -> None:
    """What dropping its week's partition does to a click: the row goes, whatever refers to it."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Click._meta.db_table} WHERE click_id = %s", [click_id])


def test_a_conversion_keeps_its_clicks_values_when_the_advertiser_reports_it(client, affiliate):
    offer = OfferFactory()
    query = {"pid": affiliate.pid, "offer_id": offer.offer_id, "format": "json", "ref_id": "r-1"}
    query |= {"ext1": "e-1", "os_id": "o-1", "fbclid": "fb-1"}
    click_id = client.get(
        f"/click?{urlencode(query)}", HTTP_USER_AGENT="agent/1", HTTP_REFERER="https://r/"
    ).json()["click_id"]
    assert client.get(f"/postback?{urlencode({'clickid': click_id})}").json()["message"] == "ok"

    kept = Conversion.objects.get(click__click_id=click_id).click_values
    click = Click.objects.get(click_id=click_id)
    assert kept == click_values(click)
    assert (kept["click_id"], kept["ref_id"], kept["ext1"], kept["os_id"], kept["fbclid"]) == (
        click_id,
        "r-1",
        "e-1",
        "o-1",
        "fb-1",
    )
    assert (kept["user_agent"], kept["referrer"], kept["ip"]) == ("agent/1", "https://r/", "127.0.0.1")
    assert kept["created_at"] == click.created_at.isoformat(timespec="microseconds")


def test_a_click_can_be_dropped_while_its_conversion_stays():
    click = ClickFactory()
    conversion = ConversionFactory(offer=click.offer, affiliate=click.affiliate, click=click)
    drop_click(click.click_id)
    # As at a commit: a foreign key constraint would refuse the conversion left without its click.
    connection.check_constraints()
    assert Conversion.objects.get(pk=conversion.pk).click_values["click_id"] == click.click_id


def test_the_api_and_the_admin_still_name_the_click_once_it_is_dropped(
    settings, affiliate_api, affiliate, admin_client
):
    settings.CLICK_RETENTION_DAYS = 200
    click = ClickFactory(affiliate=affiliate)
    conversion = ConversionFactory(offer=click.offer, affiliate=affiliate, click=click)
    drop_click(click.click_id)

    body = affiliate_api.get(f"/api/v1/conversions/{conversion.conversion_id}/").json()
    assert body["click_id"] == click.click_id
    (listed,) = affiliate_api.get("/api/v1/conversions/").json()["results"]
    assert listed["click_id"] == click.click_id

    page = admin_client.get(reverse("admin:conversions_conversion_change", args=[conversion.pk]))
    assert page.status_code == 200
    assert f"{click.click_id} (no longer kept: clicks are kept 200 days)" in page.content.decode()


def test_the_admin_links_a_conversion_to_its_click_while_it_is_kept(admin_client):
    click = ClickFactory()
    conversion = ConversionFactory(offer=click.offer, affiliate=click.affiliate, click=click)
    page = admin_client.get(reverse("admin:conversions_conversion_change", args=[conversion.pk]))
    link = reverse("admin:tracking_click_change", args=[click.pk])
    assert f'<a href="{link}">{click.click_id}</a>' in page.content.decode()


def test_the_migration_fills_the_conversions_made_before_from_their_clicks_batch_by_batch():
    clicks = [
        ClickFactory(
            ref_id="r-1", ext3="e-3", ip="2001:db8::7", user_agent="agent", country="DE", city="Berlin"
        ),
        ClickFactory(os_id="o-2", referrer="https://from.example/?a=1&b=%20", fbclid="fb", language="en-US"),
        ClickFactory(ip=None, created_at=timezone.now().replace(microsecond=0)),
        ClickFactory(),
    ]
    before = [
        ConversionFactory(offer=click.offer, affiliate=click.affiliate, click=click) for click in clicks
    ]
    clickless = ConversionFactory()
    already = ConversionFactory(
        offer=clicks[0].offer, affiliate=clicks[0].affiliate, click=clicks[0], action_id="A-1"
    )
    Conversion.objects.filter(pk__in=[conversion.pk for conversion in before]).update(click_values={})
    Conversion.objects.filter(pk=already.pk).update(click_values={"click_id": "kept-before"})
    drop_click(clicks[3].click_id)

    # As the migration runs it: batch by batch, here two conversions at a time.
    fill_click_values(apps, connection.schema_editor(), batch=2)

    filled = {conversion.pk: conversion.click_values for conversion in Conversion.objects.all()}
    for click, conversion in zip(clicks[:3], before, strict=False):
        assert filled[conversion.pk] == click_values(Click.objects.get(pk=click.pk))
    assert filled[before[0].pk]["ip"] == "2001:db8::7" and filled[before[2].pk]["ip"] == ""
    assert filled[before[3].pk] == {}  # its click is no longer there
    assert filled[clickless.pk] == {}
    assert filled[already.pk] == {"click_id": "kept-before"}
