"""The traffic endpoints' fast path (config.middleware.TrackingFastPathMiddleware): it answers the
endpoints settings.TRAFFIC_ENDPOINTS names, and while the database is unreachable it tells
callers to retry rather than show a server error; the pixel still answers its image."""

import pytest
from django.db import connection

from conversions.endpoints import PIXEL_GIF
from tests.conftest import database_unreachable
from tests.factories import OfferFactory

pytestmark = pytest.mark.django_db


def test_the_fast_path_answers_without_a_session_or_a_csrf_token(client):
    response = client.post("/postback", {"clickid": "0" * 24})
    assert response.status_code == 404 and response.json()["message"] == "Click not found"
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a closed port stands for PostgreSQL away")
@pytest.mark.django_db(transaction=True)
def test_while_the_database_is_unreachable_every_traffic_endpoint_answers_as_its_callers_expect(client):
    offer = OfferFactory()
    with database_unreachable():
        click = client.get(f"/click?pid=1&offer_id={offer.offer_id}")
        assert click.status_code == 503 and click["Retry-After"] == "5"
        assert click.content.decode() == "Service temporarily unavailable, retry later"
        for path in ["/postback", "/postback/"]:
            postback = client.get(f"{path}?clickid={'a' * 24}")
            assert postback.status_code == 503 and postback["Retry-After"] == "5"
            assert postback.json() == {"status": 2, "message": "Service temporarily unavailable, retry later"}
        for path in ["/pixel", "/success.jpg"]:
            pixel = client.get(f"{path}?offer_id={offer.offer_id}")
            assert pixel.status_code == 200 and pixel["Content-Type"] == "image/gif"
            assert pixel.content == PIXEL_GIF
        frame = client.get(f"/success.php?offer_id={offer.offer_id}")
        assert frame.status_code == 200 and frame.content.startswith(b"<!doctype html>")
        assert client.get("/track.js").status_code == 200
