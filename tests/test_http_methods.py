"""Which methods the traffic endpoints and /healthz take, and how the others are answered: each in
the endpoint's own format, with an Allow header."""

import json

import pytest

from conversions.models import ServerPostback
from tests.factories import OfferFactory
from tracking.models import Click

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


@pytest.fixture
def link(affiliate):
    offer = OfferFactory(destination_url="https://adv.example/land?cid={clickid}&s={sub1}")
    return f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=x"


def test_head_on_a_tracking_link_answers_what_get_would_but_stores_no_click_and_sets_no_cookie(client, link):
    head = client.head(link)

    assert head.status_code == 302
    assert head["Location"] == "https://adv.example/land?cid=&s=x"
    assert not head.cookies and not Click.objects.exists()
    assert head.content == b""

    get = client.get(link)
    assert get.status_code == 302 and get["Location"].startswith("https://adv.example/land?cid=")
    assert set(get.cookies) == {"afclick"} and Click.objects.count() == 1


def test_head_on_a_tracking_link_runs_the_same_checks(client, affiliate):
    assert client.head(f"/click?pid={affiliate.pid}&offer_id=99999").status_code == 404
    assert client.head(f"/click?pid={affiliate.pid}").status_code == 400
    head_json = client.head(f"/click?pid={affiliate.pid}&offer_id=99999&format=json")
    assert head_json.status_code == 404 and head_json["Content-Type"] == "application/json"


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch", "options"])
def test_other_methods_on_a_tracking_link_get_the_click_error_page_and_store_nothing(client, link, method):
    page = getattr(client, method)(link)
    assert page.status_code == 405 and page["Allow"] == "GET, HEAD"
    assert "a tracking link is opened with GET" in page.content.decode()

    as_json = getattr(client, method)(link + "&format=json")
    assert as_json.status_code == 405 and as_json["Allow"] == "GET, HEAD"
    assert as_json.json() == {"error": "Method not allowed: a tracking link is opened with GET."}
    assert not Click.objects.exists() and not page.cookies


@pytest.mark.parametrize("method", ["put", "delete", "patch", "options", "head"])
def test_other_methods_on_the_postback_get_its_json_answer(client, method):
    response = getattr(client, method)("/postback?clickid=0123456789abcdef01234567")

    assert response.status_code == 405 and response["Allow"] == "GET, POST"
    assert response["Content-Type"] == "application/json"
    if method != "head":
        assert json.loads(response.content) == {
            "status": 2,
            "message": "Method not allowed: send the postback with GET or POST",
        }


def test_head_on_the_pixel_answers_the_image_and_records_nothing(client):
    response = client.head("/pixel?offer_id=1&goal=1")
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert not ServerPostback.objects.exists()


def test_other_methods_on_the_pixel_get_the_image_with_a_405(client):
    response = client.post("/pixel?offer_id=1&goal=1")
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    assert response["Content-Type"] == "image/gif" and response.content.startswith(b"GIF89a")
    assert not ServerPostback.objects.exists()


def test_head_on_healthz_answers_like_get_without_a_body(client):
    head, get = client.head("/healthz"), client.get("/healthz")
    assert head.status_code == get.status_code == 200
    assert head["Content-Type"] == get["Content-Type"] == "application/json"
    assert head.content == b"" and get.json() == {"status": "ok"}
