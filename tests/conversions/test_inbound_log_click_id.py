"""The inbound postback log keeps the click id each hit named, accepted or refused, so that the
explain of a click finds its refused hits by an index; a hit that named none, or something no
click id looks like, keeps it blank."""

from urllib.parse import urlencode

import pytest
from django.db import connection

from conversions.models import ServerPostback
from tests.factories import OfferFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


@pytest.fixture
def offer():
    return OfferFactory(
        advertiser__secure_code="s3cret",
        goals=[{"value": "sale", "title": "Sale", "payout": "3", "revenue": "5", "default_status": 2}],
    )


@pytest.fixture
def click_id(client, offer, affiliate) -> str:
    return client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()["click_id"]


def logged_after(client, **params) -> ServerPostback:
    client.get("/postback?" + urlencode(params))
    return ServerPostback.objects.order_by("pk").last()


def test_an_accepted_and_a_refused_hit_are_logged_with_the_click_id_they_named(client, click_id):
    refused = logged_after(client, clickid=click_id, secure="wrong")
    accepted = logged_after(client, clickid=click_id, secure="s3cret")
    assert (refused.outcome, refused.click_id) == ("rejected", click_id)
    assert (accepted.outcome, accepted.click_id) == ("created", click_id)


@pytest.mark.parametrize("name", ["click_id", "afclick"])
def test_the_click_id_is_logged_whichever_of_its_names_carried_it(client, click_id, name):
    assert logged_after(client, **{name: click_id}, secure="wrong").click_id == click_id


def test_an_upper_cased_click_id_is_logged_as_the_click_has_it(client, click_id):
    assert logged_after(client, clickid=click_id.upper(), secure="wrong").click_id == click_id


@pytest.mark.parametrize(
    "named",
    [
        "not-a-click-id",
        "0" * 23,
        "0" * 25,  # a click id with one character more
        "0" * 24 + "\n",
        "g" * 24,
        "x" * 512,
    ],
)
def test_something_no_click_id_looks_like_is_logged_blank(client, named):
    logged = logged_after(client, clickid=named, secure="s3cret")
    assert (logged.outcome, logged.click_id) == ("rejected", "")


def test_a_hit_without_a_click_id_is_logged_blank(client, offer, affiliate):
    logged = logged_after(client, offer_id=offer.offer_id, pid=affiliate.pid, secure="s3cret")
    assert logged.click_id == ""


def test_a_pixel_is_logged_with_the_click_id_of_its_cookie(client, click_id, offer):
    client.cookies["afclick"] = click_id
    client.get(f"/pixel?offer_id={offer.offer_id}")
    logged = ServerPostback.objects.get()
    assert (logged.source, logged.outcome, logged.click_id) == ("pixel", "rejected", click_id)


def test_the_click_id_index_leaves_out_the_hits_that_named_none():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'server_postback_click_id'")
        (definition,) = cursor.fetchone()
    assert definition.endswith("(click_id) WHERE (NOT ((click_id)::text = ''::text))")
