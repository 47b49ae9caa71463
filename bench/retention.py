"""Benchmark of click retention on weekly partitions (config.partitions): removing a month of clicks
takes a small time that no row of it adds to (only its size on disk), against a DELETE of its rows,
and clicks and advertiser postbacks go on being answered and stored while weeks are removed.

The click table of its database (`bench_retention`) is set up as config.partitions keeps it after
two years or so: a partition for every week back to the oldest the bench drops, each made as
`maintain` makes one (a table like the click table, then attached), and no `_before` (its time is
long past). Old weeks get their rows with one INSERT ... SELECT each, before they are attached so
that their indexes are built at once (the fastest way to fill them): click ids of 24 hex
characters that hold their time, the bench's offer and affiliate, a visitor context, times spread
over the week. The statistics rollup is left out: `maintain` does not touch it. The log of
advertiser postbacks (conversions_serverpostback, kept LOG_RETENTION_DAYS) is set up the same way
from the first of its weeks dropped under load (below) to the current one, those weeks filled
with accepted postbacks of old clicks (their conversions are not part of the bench).

Part 1, before any other process runs. Four weeks (a month) holding --small clicks (1,000,000)
leave by `config.partitions.maintain(now=...)`, `now` the hour the month passes
CLICK_RETENTION_DAYS; then four weeks holding --large clicks (10,000,000) the same way; then, as
before the partitions, four weeks of --delete clicks (1,000,000) by one
`DELETE FROM tracking_click WHERE created_at < <end of those weeks>`. Each line gives the time of
the whole call (every registered table looked at, as beat runs it), the megabytes the month took
(indexes included) and the weeks or rows it removed. Read `drop ratio` (--large over --small)
and `DELETE/drop` (how many times longer the DELETE took than dropping a month of as many rows).
No row is read or written by a drop; what grows with the month is the file system's work of
freeing its files (`DROP TABLE`, some 0.2-0.3 ms a MB on the development machine), so the ratio
is below the ratio of the rows but above 1. The DELETE grows with the rows and also leaves them
dead, for VACUUM, which dropping does not.

Part 2, under two loads at once: clicks as bench/click.py runs them (gunicorn, a Celery worker
and beat, which flushes the click buffer every second into the current week's partition, wrk on
/click with a new visitor each request, bench/click.lua) and advertiser postbacks as
bench/ingest.py runs them (the postback writer, a second wrk on /postback with
--postback-connections, bench/postbacks.lua), each naming one of --postback-clicks clicks
preloaded in the current week, so that each is accepted and creates a conversion: a lookup in the
partitioned click table and a row in the partitioned log. Alternating rounds: quiet, then with
`maintain` dropping every --drop-every seconds, for the whole round, one old week of --week-rows
clicks and one week of as many postbacks of the log (the one that passes LOG_RETENTION_DAYS the
same hour: as many whole weeks later as CLICK_RETENTION_DAYS exceeds it by). Printed per load
and kind of round: requests/s and latency p50, p99 and max (p50 and p99 the median of the rounds,
max the largest), then the ratio of the drop rounds to the quiet ones (about 1: the drops hold no
lock a click or a postback waits for); the time each drop took under load; the transactions
PostgreSQL rolled back during the load (0: no insert failed while a partition was being
detached); `stored=<clicks stored>/<clicks answered>` once the buffer has drained;
`conversions=<conversions>/<postbacks answered>`, where every answer created one and the
postbacks cut off at the end of a run (one a connection at most) may add a few that wrk did not
count; and the postbacks answered 4xx and 5xx (wrk counts the answers that are not 2xx, the log
holds every 4xx refusal: the rest are 5xx).

    python -m bench.retention [--small 1000000] [--large 10000000] [--delete 1000000]
                              [--rounds 2] [--seconds 10] [--drop-every 0.25] [--week-rows 20000]
                              [--connections 32] [--postback-connections 8] [--postback-clicks 100000]
"""

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta

import django
from django.db import connection

from bench import harness
from bench.click import SETUP, VISITORS
from config import partitions

DATABASE = "bench_retention"
CLICK_PATH = "/click?pid=1&offer_id=1&sub1=bench&sub2=a%20b"
POSTBACK_PATH = "/postback"
# The loads of part 2 (URL paths), and its kinds of round.
PATHS = ("click", "postback")
KINDS = ("quiet", "drops")
# A month of weekly partitions.
MONTH_WEEKS = 4

# One week's clicks: `%(rows)s` spread evenly over the week from `%(start)s` (a Unix time).
FILL = """
INSERT INTO "{table}" (
    click_id, offer_id, affiliate_id, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, more_subs,
    ref_id, ext1, ext2, ext3, os_id, fbclid, imp_id, ip, user_agent, referrer,
    country, region, city, os_family, os_version, device_type, device_brand, device_model, browser,
    language, created_at, is_test
)
SELECT lpad(to_hex(floor(extract(epoch FROM t))::bigint), 8, '0') || substr(md5(random()::text), 1, 16),
       %(offer)s, %(affiliate)s, 'campaign' || n %% 50, substr(md5(n::text), 1, 12), '', '', '', '', '', '',
       '{{}}', '', '', '', '', '', '', '', inet '23.0.0.0' + (n::bigint * 7919 %% 16777216),
       (ARRAY[
           'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) '
           'Version/17.4 Mobile/15E148 Safari/604.1',
           'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) '
           'Chrome/124.0.0.0 Mobile Safari/537.36',
           'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) '
           'Chrome/124.0.0.0 Safari/537.36'
       ])[1 + n %% 3],
       CASE WHEN n %% 4 = 0 THEN 'https://news.example/article/' || n %% 1000 ELSE '' END,
       (ARRAY['US', 'DE', 'BR'])[1 + n %% 3], (ARRAY['California', 'Bavaria', 'Sao Paulo'])[1 + n %% 3],
       (ARRAY['Los Angeles', 'Munich', 'Sao Paulo'])[1 + n %% 3],
       (ARRAY['iOS', 'Android', 'Windows'])[1 + n %% 3],
       (ARRAY['17.4', '14', '10'])[1 + n %% 3], (ARRAY['mobile', 'mobile', 'desktop'])[1 + n %% 3],
       (ARRAY['Apple', 'Google', ''])[1 + n %% 3], (ARRAY['iPhone', 'Pixel 8', ''])[1 + n %% 3],
       (ARRAY['Mobile Safari', 'Chrome Mobile', 'Chrome'])[1 + n %% 3], (ARRAY['en', 'de', 'pt'])[1 + n %% 3],
       t, false
FROM (
    SELECT n, to_timestamp(%(start)s + n * (604800.0 / %(rows)s)::float8) AS t
    FROM generate_series(0, %(rows)s - 1) AS n
) AS numbered
"""

# One week of the advertiser postback log: `%(rows)s` accepted postbacks spread evenly over the
# week, as the log keeps them (their conversions are not part of the benchmark).
FILL_LOG = """
INSERT INTO "{table}" (
    received_at, source, method, query, ip, outcome, http_status, message, conversion_id, event_id,
    offer_id, click_id
)
SELECT t, 'postback', 'GET', 'clickid=' || click || '&sum=12.50&status=2', inet '198.51.100.0' + n %% 256,
       'created', 200, 'ok', NULL, NULL, %(offer)s, click
FROM (
    SELECT n, t, lpad(to_hex(floor(extract(epoch FROM t))::bigint), 8, '0')
                 || substr(md5(random()::text), 1, 16) AS click
    FROM (
        SELECT n, to_timestamp(%(start)s + n * (604800.0 / %(rows)s)::float8) AS t
        FROM generate_series(0, %(rows)s - 1) AS n
    ) AS numbered
) AS timed
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000_000, help="clicks of the first month dropped")
    parser.add_argument("--large", type=int, default=10_000_000, help="clicks of the second month dropped")
    parser.add_argument("--delete", type=int, default=1_000_000, help="clicks of the month deleted")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each kind under load")
    parser.add_argument("--seconds", type=int, default=10, help="length of one round under load")
    parser.add_argument("--drop-every", type=float, default=0.25, help="seconds between drops under load")
    parser.add_argument(
        "--week-rows",
        type=int,
        default=20_000,
        help="clicks, and postbacks of the log, of each week dropped under load",
    )
    parser.add_argument("--connections", type=int, default=32, help="connections of the click load")
    parser.add_argument(
        "--postback-connections", type=int, default=8, help="connections of the postback load"
    )
    parser.add_argument(
        "--postback-clicks", type=int, default=100_000, help="clicks preloaded for postbacks (one each)"
    )
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    drops_per_round = int(args.seconds / args.drop_every)

    env = {**harness.environment(DATABASE), "CLIENT_IP_HEADER": "X-Real-IP"}
    harness.create_database(env, DATABASE)
    harness.flush_redis(env)
    harness.manage_shell(env, SETUP)
    # This process runs config.partitions itself, on the benchmark's database.
    os.environ.update(env)
    django.setup()

    from conversions.models import Conversion, ServerPostback
    from tracking.models import Click

    clicks, log = (
        next(spec for spec in partitions.registered() if spec.table == model._meta.db_table)
        for model in (Click, ServerPostback)
    )
    # `maintain` drops a week of the log with each week of clicks: the one this many weeks later,
    # the whole weeks by which the log's retention is the shorter.
    log_lag = (clicks.retention - log.retention) // partitions.WEEK

    # Oldest first: a month of each size for part 1, the weeks dropped under load, then the weeks
    # within the retention (those after the last week dropped, whose `maintain(now=...)` must
    # find every week ahead of its `now` made already), the current one last. The log's weeks
    # start with the first one dropped under load, so that part 1 drops none of them.
    sizes = [args.small, args.large, args.delete]
    months = [range(number * MONTH_WEEKS, (number + 1) * MONTH_WEEKS) for number in range(len(sizes))]
    under_load = range(months[-1].stop, months[-1].stop + args.rounds * drops_per_round)
    weeks = past_weeks(clicks, under_load.stop + clicks.retention // partitions.WEEK + 2)
    rows = {
        weeks[week]: size // MONTH_WEEKS for month, size in zip(months, sizes, strict=True) for week in month
    }
    rows |= {weeks[week]: args.week_rows for week in under_load}
    log_rows = {weeks[week + log_lag]: args.week_rows for week in under_load}
    log_weeks = weeks[under_load.start + log_lag :]
    started = time.monotonic()
    print(
        f"Filling {sum(rows.values()):,} clicks into {len(rows)} of {len(weeks)} past weeks, "
        f"{sum(log_rows.values()):,} postbacks into {len(log_rows)} of the log's {len(log_weeks)}...",
        flush=True,
    )
    make_past_weeks(clicks, weeks, rows, FILL)
    make_past_weeks(log, log_weeks, log_rows, FILL_LOG)
    print(f"  filled in {time.monotonic() - started:.0f} s", flush=True)

    # Part 1.
    sizes_mb = [month_mb(clicks, [weeks[week] for week in month]) for month in months]
    small, large = (drop_weeks(clicks, [weeks[week] for week in month]) for month in months[:2])
    deleted, delete_seconds = delete_before(clicks, weeks[months[2][-1]] + partitions.WEEK)
    # Its weeks, empty now, leave as the others did.
    drop_weeks(clicks, [weeks[week] for week in months[2]])
    print()
    print(f"{'clicks of a month':26}{'seconds':>9}{'MB':>8}  removed")
    for name, seconds, size, removed in (
        (f"drop {args.small:,}", small, sizes_mb[0], "weeks " + ", ".join(weekly(weeks, months[0]))),
        (f"drop {args.large:,}", large, sizes_mb[1], "weeks " + ", ".join(weekly(weeks, months[1]))),
        (f"DELETE {args.delete:,}", delete_seconds, sizes_mb[2], f"{deleted:,} rows"),
    ):
        print(f"{name:26}{seconds:>9.3f}{size:>8.0f}  {removed}")
    print(f"drop ratio={large / small:.2f} ({args.large:,} / {args.small:,} clicks)")
    print(f"DELETE/drop={delete_seconds / small:.1f} ({args.delete:,} / {args.small:,} clicks)")

    # Part 2.
    ids_used = 0

    def load(seconds):
        """The click load and the postback load, started together."""
        return (
            harness.wrk_started(
                harness.BASE_URL + CLICK_PATH,
                seconds=seconds,
                connections=args.connections,
                script=VISITORS,
                env={**env, "BENCH_PATH": CLICK_PATH},
            ),
            harness.wrk_started(
                harness.BASE_URL + POSTBACK_PATH,
                seconds=seconds,
                connections=args.postback_connections,
                script=harness.POSTBACKS,
                env={**env, "BENCH_CLICK_IDS": ids_path, "BENCH_FIRST_ID": str(ids_used)},
            ),
        )

    def results(running) -> dict:
        nonlocal ids_used
        click, postback = (harness.wrk_result(process) for process in running)
        # Requests cut off at the end of the run may have used ids too: skip past them.
        ids_used += (
            postback["answered"] + postback["refused"] + postback["socket_errors"] + args.postback_connections
        )
        return {"click": click, "postback": postback}

    since = datetime.now(UTC) - timedelta(minutes=1)
    rollbacks = rolled_back()
    rounds = {kind: [] for kind in KINDS}
    drop_seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        ids_path = os.path.join(tmp, "click-ids")
        harness.preload_clicks(env, args.postback_clicks, ids_path)
        with harness.processes(
            env,
            harness.gunicorn(args.workers),
            harness.postback_writer(),
            harness.celery_worker(),
            harness.celery_beat(f"{tmp}/beat"),
        ):
            harness.wait_for_http(f"{harness.BASE_URL}/healthz")
            harness.wait_for_writer(env)
            warmup = [results(load(2))]
            for number in range(args.rounds):
                rounds["quiet"].append(results(load(args.seconds)))
                running = load(args.seconds)
                due = time.monotonic()
                for week in under_load[number * drops_per_round : (number + 1) * drops_per_round]:
                    time.sleep(max(0.0, due - time.monotonic()))
                    seconds = drop_weeks(clicks, [weeks[week]], also={log: [weeks[week + log_lag]]})
                    drop_seconds.append(seconds)
                    due += args.drop_every
                rounds["drops"].append(results(running))
            every = warmup + rounds["quiet"] + rounds["drops"]
            answered = {path: sum(result[path]["answered"] for result in every) for path in PATHS}
            # The click load's clicks (its sub1), not those preloaded for the postbacks.
            stored = wait_for_stored(
                lambda: Click.objects.filter(created_at__gte=since, sub1="bench").count(), answered["click"]
            )
    rollbacks = rolled_back() - rollbacks
    if ids_used > args.postback_clicks:
        raise RuntimeError(
            f"{ids_used:,} postbacks named {args.postback_clicks:,} clicks: raise --postback-clicks"
        )
    conversions = Conversion.objects.count()
    # wrk tells 2xx from the rest only: a refusal (4xx) is logged, a 5xx may not be.
    not_2xx = sum(result["postback"]["refused"] for result in every)
    refusals = ServerPostback.objects.filter(received_at__gte=since, http_status__range=(400, 499)).count()

    for path in PATHS:
        print()
        print_rounds(f"/{path}", *(harness.combine([each[path] for each in rounds[kind]]) for kind in KINDS))
    drop_seconds.sort()
    print(
        f"{len(drop_seconds)} weeks of {args.week_rows:,} clicks, and as many of {args.week_rows:,} "
        f"postbacks of the log, dropped under load, one of each every {args.drop_every} s: "
        f"median {drop_seconds[len(drop_seconds) // 2] * 1000:.0f} ms, max {drop_seconds[-1] * 1000:.0f} ms"
    )
    print(f"transactions rolled back during the load: {rollbacks}")
    print(f"stored={stored}/{answered['click']}")
    # Postbacks cut off at the end of a run are recorded, but not counted as answered by wrk.
    cut_off = len(every) * args.postback_connections
    print(
        f"conversions={conversions}/{answered['postback']} (up to {cut_off} more: cut off) "
        f"postbacks answered 4xx={refusals} 5xx={not_2xx - refusals}"
    )


def print_rounds(path: str, quiet: dict, drops: dict) -> None:
    """A load's figures in the quiet rounds and in those dropping weeks, and their ratios."""
    print(f"{path:26}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'errors':>8}")
    for name, result in (("quiet", quiet), ("dropping weeks", drops)):
        print(
            f"{name:26}{result['rps']:>12.0f}{result['p50_ms']:>10.2f}{result['p99_ms']:>10.2f}"
            f"{result['max_ms']:>10.2f}{result['refused'] + result['socket_errors']:>8}"
        )
    ratios = {"requests/s": "rps", "p50": "p50_ms", "p99": "p99_ms", "max": "max_ms"}
    print(
        "dropping/quiet: "
        + ", ".join(f"{name} {drops[key] / quiet[key]:.2f}" for name, key in ratios.items())
    )


def weekly(weeks: list[datetime], numbers: range) -> list[str]:
    return [f"{weeks[number]:%Y-%m-%d}" for number in numbers]


def past_weeks(spec: partitions.Partitioned, count: int) -> list[datetime]:
    """Mondays of the `count` weeks before the first weekly partition the migration made, oldest
    first: the last is the current week (`_before` holds it in a new database)."""
    first = dict(partitions._partitions(spec))[spec.before]
    return [first - (count - number) * partitions.WEEK for number in range(count)]


def make_past_weeks(
    spec: partitions.Partitioned, weeks: list[datetime], rows: dict[datetime, int], fill: str
) -> None:
    """`spec`'s table as `maintain` leaves it after running for all of `weeks`: a partition a week
    and no `_before` (empty in a new database, and past its retention by then). Weeks in `rows` get
    that many rows by `fill` (FILL, FILL_LOG), inserted before the week is attached so that its
    indexes are built at once."""
    from offers.models import Affiliate, Offer

    values = {"offer": Offer.objects.get(offer_id=1).pk, "affiliate": Affiliate.objects.get(pid=1).pk}
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{spec.before}"')
        if cursor.fetchone()[0]:
            raise RuntimeError(f"{spec.before} holds rows: the database is not new")
        cursor.execute(f'ALTER TABLE "{spec.table}" DETACH PARTITION "{spec.before}"')
        cursor.execute(f'DROP TABLE "{spec.before}"')
        for start in weeks:
            name = spec.week_name(start)
            cursor.execute(
                f'CREATE TABLE "{name}" (LIKE "{spec.table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
            )
            if rows.get(start):
                cursor.execute(
                    fill.format(table=name), {**values, "start": start.timestamp(), "rows": rows[start]}
                )
            cursor.execute(
                f'ALTER TABLE "{spec.table}" ATTACH PARTITION "{name}" FOR VALUES '
                f"FROM ('{start.isoformat()}') TO ('{(start + partitions.WEEK).isoformat()}')"
            )
        cursor.execute(f'ANALYZE "{spec.table}"')


def month_mb(spec: partitions.Partitioned, starts: list[datetime]) -> float:
    """Megabytes the weeks of `starts` take on disk, indexes included."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sum(pg_total_relation_size(name::regclass)) FROM unnest(%s::text[]) AS name",
            [[spec.week_name(start) for start in starts]],
        )
        return cursor.fetchone()[0] / 2**20


def drop_weeks(
    spec: partitions.Partitioned,
    starts: list[datetime],
    also: dict[partitions.Partitioned, list[datetime]] | None = None,
) -> float:
    """Seconds `maintain` takes at the hour the weeks of `starts` (the oldest `spec`'s table holds)
    are past its retention, checking it dropped them, the weeks `also` gives of other tables, and
    nothing else."""
    started = time.perf_counter()
    report = partitions.maintain(now=starts[-1] + partitions.WEEK + spec.retention)
    seconds = time.perf_counter() - started
    dropping = {spec: starts, **(also or {})}
    expected = [table.week_name(start) for table, weeks in dropping.items() for start in weeks]
    if sorted(report.dropped) != sorted(expected) or report.made or report.skipped:
        raise RuntimeError(f"maintain was to drop {expected} and nothing else: {report}")
    return seconds


def delete_before(spec: partitions.Partitioned, end: datetime) -> tuple[int, float]:
    """The retention before partitions: one DELETE of the clicks older than `end`."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f'DELETE FROM "{spec.table}" WHERE created_at < %s', [end])
        deleted = cursor.rowcount
    return deleted, time.perf_counter() - started


def rolled_back() -> int:
    """Transactions rolled back in the benchmark's database so far (PostgreSQL's statistics)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def wait_for_stored(count, expected: int, timeout: float = 120) -> int:
    """`count()` once it reaches `expected` or stops growing (the click buffer drained)."""
    deadline = time.monotonic() + timeout
    latest = count()
    while latest < expected and time.monotonic() < deadline:
        time.sleep(2)
        previous, latest = latest, count()
        if latest == previous and latest:
            break
    return latest


if __name__ == "__main__":
    main()
