"""Benchmark of the statistics report at scale, on PostgreSQL.

Fills a database of its own with clicks and conversions (10 million and about 1 million by
default, over 100 days, 200 affiliates with skewed traffic, 50 offers of two goals each, visitors
from 40 countries with a skewed share, 6 OS families and 4 device types) and about 300,000 clicks
refused by the offers' targeting, straight from SQL, builds the rollup with `manage.py
rebuild_stats`, then times the dashboard (the affiliate's and the network's in the admin), the
portal's statistics page and the API for the busiest affiliate and the manager API for the
network: 90 days grouped by day, offer, goal, country, OS and device type (the goal is under 1
second each), plus 92 days grouped by sub1 from the raw rows, for information. Each timing is the
median of several requests through Django's full stack.

    python -m bench.stats [--clicks 10000000] [--repeat 5]

About 3 minutes on a 2-core machine at the default size, most of it writing the rows and their
indexes.
"""

import argparse
import random
import subprocess
import time

from bench import harness

DATABASE = "bench_stats"
DAYS = 100
AFFILIATES = 200
OFFERS = 50

SETUP = """
from api.services import api_key_issue
from django.contrib.auth import get_user_model
from offers.models import Advertiser, Offer
from offers.services import affiliate_create, offer_save_with_goals
advertiser = Advertiser.objects.create(name="Bench advertiser")
for n in range(1, %(offers)d + 1):
    offer_save_with_goals(
        offer=Offer(offer_id=n, advertiser=advertiser, title=f"Offer {n}",
                    destination_url="https://advertiser.example/landing?cid={clickid}"),
        goals=[
            {"value": "install", "title": "Install", "payout": 1, "revenue": 2},
            {"value": "sale", "title": "Sale", "payout": 12, "revenue": 20,
             "currency": "EUR" if n %% 5 == 0 else "USD"},
        ],
    )
for pid in range(1, %(affiliates)d + 1):
    affiliate_create(username=f"bench{pid}", pid=pid)
get_user_model().objects.create_user("bench-manager", is_staff=True)
"""

# Countries by their share of the traffic, the largest first.
COUNTRIES = [
    *["US", "IN", "BR", "DE", "GB", "FR", "ID", "MX", "RU", "TR", "JP", "IT", "ES", "CA", "PH", "VN"],
    *["TH", "PL", "KR", "NG", "EG", "PK", "AR", "CO", "SA", "NL", "UA", "MY", "AU", "BD", "ZA", "CL"],
    *["PE", "RO", "SE", "BE", "CZ", "PT", "HU", "AT"],
]


def skewed_country(draw: float) -> int:
    """An index into COUNTRIES for a uniform draw: the US about 23% of the time, the 40th 1%."""
    return int(len(COUNTRIES) * draw**2.5)


def offer_targets_sql() -> str:
    """Each offer's audience, as rows (offer index, countries, mobile only): three offers in five
    target one to four countries (an array of four, the first the main one, the next ones less
    and less often, a country repeated when the offer has fewer), the others take the world;
    three in ten are for phones and tablets only."""
    rows = []
    for index in range(OFFERS):
        draws = random.Random(index)
        if index % 5 < 3:
            countries = list(
                dict.fromkeys(COUNTRIES[skewed_country(draws.random())] for _ in range(1 + index % 4))
            )
            countries += countries[:1] * (4 - len(countries))
            targets = "ARRAY[" + ", ".join(f"'{code}'" for code in countries) + "]"
        else:
            targets = "NULL::text[]"
        rows.append(f"({index}, {targets}, {str(index % 10 in (1, 4, 7)).upper()})")
    return f"(VALUES {', '.join(rows)}) AS t(offer, countries, mobile)"


# Clicks in time order (the click id begins with the time), pid 1 the busiest affiliate, each
# affiliate on about ten offers, sub1 from 500 campaign names. Each affiliate's IP addresses are
# drawn from a pool twice its clicks per offer and day, so that about 80% of clicks are unique.
# Visitors: on an offer with countries, the main one 70% of the time, then 15%, 10% and 5%; on
# the others, a country drawn with a skewed share (skewed_country; 1% unknown). OS families:
# Android 42%, iOS 28%, Windows 18%, Mac OS X 7%, Linux 3%, Chrome OS 1%, unknown 1% (Android
# 60%, iOS 40% on mobile offers); phones' OS on a tablet 15% of the time, the others on a
# desktop, half the unknown ones bots.
CLICKS_SQL = """
SET session_replication_role = replica;  -- no foreign key checks: the rows are valid by construction
SET work_mem = '256MB';
SET maintenance_work_mem = '1GB';
SET seed = %(seed)s;
INSERT INTO tracking_click (
    click_id, offer_id, affiliate_id, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, ref_id,
    ext1, ext2, ext3, os_id, fbclid, imp_id, ip, user_agent, referrer, created_at, is_test,
    country, os_family, device_type)
SELECT lpad(to_hex(extract(epoch FROM c.at)::bigint), 8, '0') || substr(md5(c.n::text), 1, 16),
       o.ids[1 + c.offer], a.ids[1 + c.affiliate],
       'camp-' || floor(random() * 500)::int, 'zone-' || floor(random() * 50)::int,
       '', '', '', '', '', '', '', '', '', '', '', '', '',
       '10.0.0.0'::inet + floor(random() * c.pool)::int, 'Mozilla/5.0 (bench)', '', c.at, false,
       c.country, c.os_family,
       CASE WHEN c.os_family IN ('Android', 'iOS') THEN CASE WHEN c.r < 0.15 THEN 'tablet' ELSE 'mobile' END
            WHEN c.os_family = '' THEN CASE WHEN c.r < 0.5 THEN 'bot' ELSE '' END
            ELSE 'desktop' END
FROM (
    SELECT drawn.*,
           greatest(2, 2 * %(clicks)d::float8 / (%(days)d * 10)
                       * (cbrt(affiliate + 1) - cbrt(affiliate)) / cbrt(%(affiliates)d)) AS pool,
           CASE WHEN t.countries IS NOT NULL
                THEN t.countries[CASE WHEN place < 0.7 THEN 1 WHEN place < 0.85 THEN 2
                                      WHEN place < 0.95 THEN 3 ELSE 4 END]
                WHEN place < 0.01 THEN ''
                ELSE (%(countries)s)[1 + floor(40 * power(random(), 2.5))::int] END AS country,
           CASE WHEN t.mobile THEN CASE WHEN os < 0.6 THEN 'Android' ELSE 'iOS' END
                WHEN os < 0.42 THEN 'Android' WHEN os < 0.70 THEN 'iOS' WHEN os < 0.88 THEN 'Windows'
                WHEN os < 0.95 THEN 'Mac OS X' WHEN os < 0.98 THEN 'Linux' WHEN os < 0.99 THEN 'Chrome OS'
                ELSE '' END AS os_family
    FROM (
        SELECT n, now() - interval '%(days)s days' + (n * interval '%(days)s days') / %(clicks)d AS at,
               affiliate, (affiliate * 7 + floor(random() * 10)::int) %% %(offers)d AS offer,
               random() AS place, random() AS os, random() AS r
        FROM (SELECT n, floor(%(affiliates)d * power(random(), 3))::int AS affiliate
              FROM generate_series(%(first)d, %(last)d) AS n) AS numbered
    ) AS drawn
    JOIN %(targets)s ON t.offer = drawn.offer
) AS c,
(SELECT array_agg(id ORDER BY pid) AS ids FROM offers_affiliate) AS a,
(SELECT array_agg(id ORDER BY offer_id) AS ids FROM offers_offer) AS o;
"""

# Visits refused by the offers' targeting, about one for 33 clicks, beside a sample of the clicks
# (by country 60%, OS 25%, device type 15%).
REFUSED_SQL = """
SET session_replication_role = replica;
SET seed = 0.17;
INSERT INTO tracking_refusedclick (
    click_id, offer_id, affiliate_id, reason, ip, user_agent, country, os_family, device_type, created_at)
SELECT lpad(to_hex(extract(epoch FROM c.created_at)::bigint), 8, '0')
       || substr(md5(c.id::text || 'r'), 1, 16),
       c.offer_id, c.affiliate_id,
       CASE WHEN c.r < 0.6 THEN 'refused_country' WHEN c.r < 0.85 THEN 'refused_os' ELSE 'refused_device' END,
       c.ip, c.user_agent, c.country, c.os_family, c.device_type, c.created_at + interval '1 second'
FROM (SELECT *, random() AS r FROM tracking_click TABLESAMPLE BERNOULLI (3) REPEATABLE (7)) AS c;
"""

# One conversion for about one click in ten, on the same day mostly: half approved, 30% pending,
# 15% declined, 5% on hold; one in a thousand a test conversion.
CONVERSIONS_SQL = """
SET session_replication_role = replica;
SET work_mem = '256MB';
SET maintenance_work_mem = '1GB';
SET seed = 0.24;
INSERT INTO conversions_conversion (
    conversion_id, click_id, offer_id, affiliate_id, goal_id, status, integration_method, action_id,
    payout, revenue, currency, order_sum, order_currency, ip, referrer, comment, fbclid, device_type,
    user_id, promo_code, extra, hold_until, is_test, created_at, updated_at,
    sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, country, os_family, click_device_type)
SELECT lpad(to_hex(extract(epoch FROM x.at)::bigint), 8, '0') || substr(md5(x.id::text || 'c'), 1, 16),
       x.id, x.offer_id, x.affiliate_id, g.id, x.status, 'default', '',
       g.payout, g.revenue, g.currency, NULL, '', x.ip, '', '', '', '', '', '', '{}',
       CASE WHEN x.status = 5 THEN x.at + interval '30 days' END, x.test, x.at, x.at,
       x.sub1, x.sub2, '', '', '', '', '', '', x.country, x.os_family, x.device_type
FROM (
    SELECT c.*, c.created_at + random() * interval '3 hours' AS at,
           CASE WHEN r < 0.5 THEN 1 WHEN r < 0.8 THEN 2 WHEN r < 0.95 THEN 3 ELSE 5 END AS status,
           random() < 0.001 AS test, CASE WHEN random() < 0.8 THEN 'install' ELSE 'sale' END AS goal
    FROM (SELECT *, random() AS r FROM tracking_click TABLESAMPLE BERNOULLI (10) REPEATABLE (42)) AS c
) AS x
JOIN offers_goal AS g ON g.offer_id = x.offer_id AND g.value = x.goal;
"""

TIMING = """
import statistics, time
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from api.services import api_key_issue
from offers.models import Affiliate
from stats.models import DailyAudienceStat, DailyStat

today = timezone.now().date()
days_90 = {"date_from": (today - timedelta(days=89)).isoformat(), "date_to": today.isoformat()}
days_92 = {"date_from": (today - timedelta(days=91)).isoformat(), "date_to": today.isoformat()}
affiliate = Affiliate.objects.get(pid=1)
manager = get_user_model().objects.get(username="bench-manager")
portal = Client(SERVER_NAME="127.0.0.1")
portal.force_login(affiliate.user)
admin = Client(SERVER_NAME="127.0.0.1")
admin.force_login(manager)
partner_api, manager_api = APIClient(SERVER_NAME="127.0.0.1"), APIClient(SERVER_NAME="127.0.0.1")
partner_api.credentials(HTTP_API_KEY=api_key_issue(user=affiliate.user)[1])
manager_api.credentials(HTTP_API_KEY=api_key_issue(user=manager)[1])
print(f"rollup rows: {DailyStat.objects.count()}, by visitor context: {DailyAudienceStat.objects.count()}")
GROUPINGS = ["day", "offer", "goal", "country", "os", "device"]

measurements = [
    ("dashboard, pid 1, last 30 days", portal, "/", {}),
    ("dashboard, pid 1, 90 days", portal, "/", days_90),
    ("admin dashboard, network, 90 days", admin, "/admin/dashboard/", days_90),
    *((f"page, pid 1, 90 days by {by}", portal, "/statistics/", {**days_90, "group_by": by})
      for by in GROUPINGS),
    ("page CSV, pid 1, 90 days by day", portal, "/statistics/csv/", days_90),
    ("page CSV, pid 1, 90 days by country", portal, "/statistics/csv/", {**days_90, "group_by": "country"}),
    ("page, pid 1, 90 days by day, US visitors", portal, "/statistics/", {**days_90, "country": "US"}),
    *((f"API, pid 1, 90 days by {by}", partner_api, "/api/v1/stats/", {**days_90, "group_by": by})
      for by in GROUPINGS),
    *((f"manager API, network, 90 days by {by}", manager_api, "/api/v1/manage/stats/",
       {**days_90, "group_by": by}) for by in GROUPINGS),
    ("manager API, network, 90 days by day, US visitors", manager_api, "/api/v1/manage/stats/",
     {**days_90, "country": "US"}),
    ("page, pid 1, 92 days by sub1 (raw rows)", portal, "/statistics/", {**days_92, "group_by": "sub1"}),
    ("manager API, pid 1, 92 days by sub1 (raw rows)", manager_api, "/api/v1/manage/stats/",
     {**days_92, "group_by": "sub1", "affiliate": 1}),
]
for label, client, url, params in measurements:
    client.get(url, params)  # warm
    runs = []
    for _ in range(%(repeat)d):
        started = time.perf_counter()
        response = client.get(url, params)
        runs.append(time.perf_counter() - started)
        assert response.status_code == 200, (label, response.status_code, response.content[:500])
    median, worst = statistics.median(runs) * 1000, max(runs) * 1000
    print(f"{label}: {median:.0f} ms (median of %(repeat)d, max {worst:.0f} ms)")
"""


def psql(env: dict, sql: str):
    subprocess.run(
        ["psql", env["DATABASE_URL"], "-q", "-v", "ON_ERROR_STOP=1"], input=sql, text=True, check=True
    )


def _rows(env: dict, query: str) -> list[tuple[str, ...]]:
    output = subprocess.run(
        ["psql", env["DATABASE_URL"], "-AtF", "\t", "-c", query], capture_output=True, text=True, check=True
    ).stdout
    return [tuple(line.split("\t")) for line in output.splitlines() if line]


def load(env: dict, table: str, *parts: str) -> float:
    """Run the INSERTs, each in a session of its own and all at once, without the table's indexes
    and unique constraints (the primary key stays); then build them again, each in one sort."""
    started = time.monotonic()
    constraints = _rows(
        env,
        f"SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        f"WHERE conrelid = '{table}'::regclass AND contype = 'u'",
    )
    indexes = _rows(
        env,
        f"SELECT indexname, indexdef FROM pg_indexes WHERE tablename = '{table}' AND indexname NOT IN "
        f"(SELECT conname FROM pg_constraint WHERE conrelid = '{table}'::regclass)",
    )
    psql(
        env,
        "".join(f"ALTER TABLE {table} DROP CONSTRAINT {name};\n" for name, _ in constraints)
        + "".join(f"DROP INDEX {name};\n" for name, _ in indexes),
    )
    sessions = [
        subprocess.Popen(
            ["psql", env["DATABASE_URL"], "-q", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE, text=True
        )
        for _ in parts
    ]
    for session, sql in zip(sessions, parts, strict=True):
        session.stdin.write(sql)
        session.stdin.close()
    if any(session.wait() for session in sessions):
        raise SystemExit(f"Loading {table} failed")
    psql(
        env,
        "SET maintenance_work_mem = '1GB';\n"
        + "".join(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition};\n" for name, definition in constraints
        )
        + "".join(f"{definition};\n" for _, definition in indexes),
    )
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5, help="timed requests per measurement")
    args = parser.parse_args()

    env = harness.environment(DATABASE)
    harness.create_database(env, DATABASE)
    harness.manage_shell(env, SETUP % {"offers": OFFERS, "affiliates": AFFILIATES})
    countries = "ARRAY[" + ", ".join(f"'{code}'" for code in COUNTRIES) + "]"
    sizes = {
        "clicks": args.clicks,
        "days": DAYS,
        "affiliates": AFFILIATES,
        "offers": OFFERS,
        "countries": countries,
        "targets": offer_targets_sql(),
    }
    half = args.clicks // 2
    clicks = [
        CLICKS_SQL % {**sizes, "first": 1, "last": half, "seed": 0.42},
        CLICKS_SQL % {**sizes, "first": half + 1, "last": args.clicks, "seed": 0.43},
    ]
    print(f"clicks: {load(env, 'tracking_click', *clicks):.0f} s to write {args.clicks}", flush=True)
    seconds = load(env, "conversions_conversion", CONVERSIONS_SQL)
    print(
        f"conversions: {seconds:.0f} s to write {harness.count_rows(env, 'conversions.Conversion')}",
        flush=True,
    )
    seconds = load(env, "tracking_refusedclick", REFUSED_SQL)
    print(
        f"refused clicks: {seconds:.0f} s to write {harness.count_rows(env, 'tracking.RefusedClick')}",
        flush=True,
    )
    psql(env, "VACUUM ANALYZE;")

    started = time.monotonic()
    subprocess.run([harness.PYTHON, "manage.py", "rebuild_stats"], cwd=harness.ROOT, env=env, check=True)
    print(f"rebuild_stats: {time.monotonic() - started:.0f} s", flush=True)
    psql(
        env,
        "VACUUM ANALYZE stats_dailystat; VACUUM ANALYZE stats_dailyaudiencestat; "
        "VACUUM ANALYZE stats_dailyvisitor;",
    )

    result = subprocess.run(
        [harness.PYTHON, "manage.py", "shell", "-v", "0", "-c", TIMING % {"repeat": args.repeat}],
        cwd=harness.ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    print(result.stdout, end="")


if __name__ == "__main__":
    main()
