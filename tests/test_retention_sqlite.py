"""The embedded default, SQLite, from a new database: `migrate` runs (its database checks
included) and the retention job deletes old rows in batches, as there are no partitions there:
clicks past CLICK_RETENTION_DAYS, unique visitors of the days past their two weeks."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import django
django.setup()
from datetime import UTC, datetime, timedelta
from config.partitions import DELETE_BATCH
from ops.retention import retention_maintain
from stats.models import DailyVisitor
from tests.factories import ClickFactory
from tracking.models import Click
old = ClickFactory(created_at=datetime.now(UTC) - timedelta(days=181))
kept = ClickFactory(created_at=datetime.now(UTC) - timedelta(days=179))
today = datetime.now(UTC).date()
DailyVisitor.objects.bulk_create(
    DailyVisitor(
        day=today - timedelta(days=days), affiliate_id=1, offer_id=1, ip=f"10.0.{n // 250}.{n % 250}"
    )
    for days, visitors in [(15, DELETE_BATCH + 1), (40, DELETE_BATCH), (14, 2), (0, 1)]
    for n in range(visitors)
)
report = retention_maintain()
assert report.deleted["tracking_click"] == 1, report
assert list(Click.objects.values_list("pk", flat=True)) == [kept.pk]
# The day fourteen days ago is not all older than two weeks yet.
assert report.deleted["stats_dailyvisitor"] == 2 * DELETE_BATCH + 1, report
assert sorted(DailyVisitor.objects.values_list("day", flat=True)) == [
    today - timedelta(days=14), today - timedelta(days=14), today
]
print("ok")
"""


def test_a_new_sqlite_database_migrates_and_old_clicks_and_visitors_leave_in_batches(tmp_path):
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
