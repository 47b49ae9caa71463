"""The embedded default, SQLite, from a new database: `migrate` runs (its database checks
included) and the retention job deletes old rows in batches, as there are no partitions there."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import django
django.setup()
from datetime import UTC, datetime, timedelta
from ops.retention import retention_maintain
from tests.factories import ClickFactory
from tracking.models import Click
old = ClickFactory(created_at=datetime.now(UTC) - timedelta(days=181))
kept = ClickFactory(created_at=datetime.now(UTC) - timedelta(days=179))
report = retention_maintain()
assert report.deleted["tracking_click"] == 1, report
assert list(Click.objects.values_list("pk", flat=True)) == [kept.pk]
print("ok")
"""


def test_a_new_sqlite_database_migrates_and_old_clicks_leave_in_batches(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    env.pop("REDIS_URL", None)
    manage = [sys.executable, "manage.py"]
    migrated = subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr
    checked = subprocess.run(
        [*manage, "check", "--database", "default"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    run = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.stdout.strip() == "ok", run.stderr
