"""/healthz answers 200 when the database and the broker answer, 503 naming what does not."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import django
django.setup()
from django.test import Client
response = Client().get("/healthz")
print(response.status_code, response.content.decode())
"""


def healthz_in_a_process_with(**env):
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "true", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    status, _, body = result.stdout.strip().splitlines()[-1].partition(" ")
    return int(status), json.loads(body)


def test_healthy_when_database_and_broker_answer(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_unavailable_names_an_unreachable_broker():
    status, body = healthz_in_a_process_with(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
    assert status == 503
    assert body["unreachable"] == ["broker"] and body["message"] == "broker unreachable"


def test_unavailable_names_an_unreachable_database_and_broker():
    status, body = healthz_in_a_process_with(
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none", CELERY_BROKER_URL="redis://127.0.0.1:1/0"
    )
    assert status == 503
    assert body == {
        "status": "unavailable",
        "message": "database and broker unreachable",
        "unreachable": ["database", "broker"],
    }
