"""The one settings module refuses a bad production configuration at start, naming the variable."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "track.example.com",
    "DATABASE_URL": "sqlite:///:memory:",
}


def manage(*args, **env):
    """Run manage.py in a fresh process with only the given configuration."""
    # Browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for this test process; production never does.
    inherited = {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in inherited}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without(missing):
    result = manage("check", **{k: v for k, v in PRODUCTION.items() if k != missing})
    assert result.returncode != 0
    assert f"Environment variable {missing} must be set when DEBUG is off." in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "treu"),
        ("DATABASE_URL", "notadatabase://x"),
        ("DATABASE_CONN_MAX_AGE", "forever"),
        ("SECURE_SSL_REDIRECT", "sometimes"),
        ("SECURE_HSTS_SECONDS", "a year"),
        ("API_THROTTLE_RATE", "lots"),
        ("API_THROTTLE_RATE", "1200/fortnight"),
        ("API_KEYS_PER_USER", "0"),
        ("POSTBACK_BACKFILL_PER_SECOND", "0"),
        ("POSTBACK_BACKFILL_PER_SECOND", "nan"),
        ("CLICK_RETENTION_DAYS", "0"),
        ("LOG_RETENTION_DAYS", "half a year"),
    ],
)
def test_a_malformed_variable_is_named_at_start(name, value):
    result = manage("check", **{**PRODUCTION, name: value})
    assert result.returncode != 0
    assert f"Environment variable {name}" in result.stderr


def test_the_log_is_kept_at_least_as_long_as_a_delivery_is_retried_and_a_postback_fails():
    result = manage("check", **{**PRODUCTION, "LOG_RETENTION_DAYS": "2"})
    assert result.returncode != 0
    assert "Environment variable LOG_RETENTION_DAYS must be at least 3 days" in result.stderr
    assert manage("check", **{**PRODUCTION, "LOG_RETENTION_DAYS": "3"}).returncode == 0


def test_the_deploy_check_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_development_needs_no_configuration_at_all():
    result = manage("check", DEBUG="true")
    assert result.returncode == 0, result.stderr


def test_the_gunicorn_settings_load_before_django_is_configured():
    # gunicorn reads its settings file before any Django setting exists, and the fault suite's
    # harness reads it the same way: importing the project's package must not read settings.
    inherited = {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in inherited}
    result = subprocess.run(
        [sys.executable, "-c", "import runpy; runpy.run_path('config/gunicorn.py')"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_beat_runs_every_periodic_job():
    from config.celery import app

    assert {entry["task"] for entry in app.conf.beat_schedule.values()} == {
        "tracking.tasks.flush_click_buffer",
        "postbacks.tasks.send_deliveries",
        "postbacks.tasks.send_backfill_deliveries",
        "conversions.tasks.approve_expired_holds",
        "portal.tasks.clear_expired_sessions",
        "alerts.tasks.evaluate_alerts",
        "ops.tasks.maintain_partitions",
    }
