"""A click or a conversion counts on its UTC day, in the live counters, the rebuild and the report by
sub value alike: one SQL expression of that day (config.db.utc_day_sql)."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from django.db import connection

from config.db import utc_day_sql

pytestmark = pytest.mark.django_db

NEW_YORK = timezone(timedelta(hours=-4))


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        (datetime(2025, 5, 1, 0, 0, tzinfo=UTC), date(2025, 5, 1)),
        (datetime(2025, 5, 1, 23, 59, 59, tzinfo=UTC), date(2025, 5, 1)),
        (datetime(2025, 5, 1, 21, 30, tzinfo=NEW_YORK), date(2025, 5, 2)),
        (datetime(2025, 5, 2, 1, 30, tzinfo=timezone(timedelta(hours=3))), date(2025, 5, 1)),
    ],
)
def test_the_day_of_a_moment_is_its_utc_day_whatever_the_sessions_time_zone(moment, day):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL TIME ZONE 'America/New_York'")
        value = connection.ops.adapt_datetimefield_value(moment)
        cursor.execute(f"SELECT {utc_day_sql('moment')} FROM (SELECT %s AS moment) AS given", [value])
        (answer,) = cursor.fetchone()
    assert (answer if isinstance(answer, date) else date.fromisoformat(answer)) == day
