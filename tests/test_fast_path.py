"""The traffic endpoints' fast path (config.middleware.TrackingFastPathMiddleware): it answers the
endpoints settings.TRAFFIC_ENDPOINTS names, and while the database is unreachable it tells
callers to retry rather than show a server error; the pixel still answers its image."""

import pytest
from django.db import OperationalError
from django.test import override_settings

from conversions.endpoints import PIXEL_GIF

pytestmark = pytest.mark.django_db

UNREACHABLE = f"{__name__}.unreachable"


def unreachable(request):
    raise OperationalError("the database is restarting")


def test_the_fast_path_answers_without_a_session_or_a_csrf_token(client):
    response = client.post("/postback", {"clickid": "0" * 24})
    assert response.status_code == 404 and response.json()["message"] == "Click not found"
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies


@override_settings(TRAFFIC_ENDPOINTS={"/click": UNREACHABLE, "/postback": UNREACHABLE, "/pixel": UNREACHABLE})
def test_while_the_database_is_unreachable_clicks_and_postbacks_are_told_to_retry(client):
    click = client.get("/click?pid=1&offer_id=1")
    assert click.status_code == 503 and click["Retry-After"] == "5"
    assert click.content.decode() == "Service temporarily unavailable, retry later"
    postback = client.get("/postback?clickid=x")
    assert postback.status_code == 503 and postback["Retry-After"] == "5"
    assert postback.json() == {"status": 2, "message": "Service temporarily unavailable, retry later"}
    pixel = client.get("/pixel")
    assert pixel.status_code == 200 and pixel["Content-Type"] == "image/gif"
    assert pixel.content == PIXEL_GIF
