"""A request Django refuses before any view, for a Host header no allowed host matches: the API
answers it in JSON like its other errors, the portal with its page."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("host", ["@", "evil.example", "a b"])
def test_the_api_answers_a_host_it_does_not_serve_with_a_json_400(host):
    answer = Client(HTTP_HOST=host).get("/api/v1/postbacks/")
    assert answer.status_code == 400 and answer["Content-Type"] == "application/json"
    assert answer.json() == {"detail": "The Host header names no host this server answers for."}


def test_the_portal_answers_it_with_its_page():
    answer = Client(HTTP_HOST="@").get("/offers/")
    assert answer.status_code == 400 and answer["Content-Type"].startswith("text/html")
