"""The fault suite: `python -m reliability` (`make reliability`).

It starts a PostgreSQL cluster and a redis-server of its own (on free ports, in a temporary
directory, so that it can stop and restart them), migrates a database, and runs the product as
production does: gunicorn (DEBUG off) behind nginx (deploy/nginx-site.conf, rendered into the
temporary directory), a Celery worker and Celery beat, with the affiliates' servers in a process
of their own (reliability/affiliate.py). Retries, leases and the sweep are shortened through the
settings' environment variables so that the suite takes minutes.

Scenarios (reliability/scenarios.py): the worker killed mid-delivery; Redis stopped under
traffic; PostgreSQL restarted under traffic; broken affiliate servers next to a healthy one; a
burst of duplicate advertiser postbacks; hundreds of clients sending their headers slowly; two
web nodes and two workers, of which one of each is killed under traffic. It
prints one row per scenario, counted from the database and from what the affiliates' servers
received, and exits with 1, naming the scenario
and what failed, unless nothing was lost, no conversion was duplicated, no postback was sent
under two ids, every answered click was stored and no valid request was refused.

Logs of every process: var/reliability/.
"""

import argparse
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import harness
from reliability.affiliate import AffiliateServers
from reliability.services import PostgresCluster, RedisServer, free_port
from reliability.stack import Stack

DATABASE = "reliability"
LOGS = harness.ROOT / "var" / "reliability"
SETTINGS = {
    "POSTBACK_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",  # the affiliates' servers are local
    "POSTBACK_RETRY_SCHEDULE": "1,2,3,5,8,13,21,34,55,89",
    "POSTBACK_LEASE_SECONDS": "10",
    "POSTBACK_SWEEP_SECONDS": "1",
    "POSTBACK_CONNECT_TIMEOUT": "1",
    "POSTBACK_TOTAL_TIMEOUT": "3",
    "CLIENT_IP_HEADER": "X-Real-IP",
    "PYTHONUNBUFFERED": "1",
}
COLUMNS = [
    ("scenario", 18),
    ("requests", 9),
    ("refused", 8),
    ("failed", 7),
    ("clicks stored", 14),
    ("conversions stored", 19),
    ("dup conv", 9),
    ("postbacks expected", 19),
    ("delivered", 10),
    ("retrying", 9),
    ("duplicated", 11),
    ("re-sent", 8),
    ("lost", 5),
    ("time", 6),
]


def main():
    parser = argparse.ArgumentParser(description="Fault suite against the product's real processes.")
    parser.add_argument("--short", action="store_true", help="a 10 s Redis outage and a burst of 1,000")
    parser.add_argument("--only", nargs="*", help="scenarios to run, by name (e.g. redis_outage)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up as on Ctrl-C

    started = time.monotonic()
    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir(parents=True)
    with contextlib.ExitStack() as cleanup:
        results = run(cleanup, args)
    print_table(results)
    for result in results:
        for note in result.notes:
            print(f"{result.scenario}: {note}")
    print(f"{len(results)} scenarios in {time.monotonic() - started:.0f} s; logs in {LOGS}")
    failures = [result for result in results if result.problems]
    for result in failures:
        for problem in result.problems:
            print(f"FAILED {result.scenario}: {problem}")
    sys.exit(1 if failures else 0)


def run(cleanup: contextlib.ExitStack, args) -> list:
    workdir = Path(tempfile.mkdtemp(prefix="reliability-"))
    cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
    workdir.chmod(0o755)  # the cluster's files belong to the postgres account

    postgres = PostgresCluster(workdir / "postgres", free_port(55432), LOGS / "postgresql.log")
    cleanup.callback(postgres.destroy)
    postgres.create()
    redis = RedisServer(workdir / "redis", free_port(56379), LOGS / "redis.log")
    cleanup.callback(redis.destroy)
    redis.start()

    web_port, proxy_port = free_port(58765), free_port(58780)
    env = {
        **harness.environment(DATABASE),
        **SETTINGS,
        "DATABASE_URL": f"{postgres.url}/{DATABASE}",
        "REDIS_URL": redis.url,
        "CELERY_BROKER_URL": redis.url,
        "CLICK_BUFFER_REDIS_URL": redis.url,
        "TRACKING_BASE_URL": f"http://127.0.0.1:{proxy_port}",
    }
    print(
        f"PostgreSQL on {postgres.port}, Redis on {redis.port}, gunicorn on {web_port} behind nginx on "
        f"{proxy_port}",
        flush=True,
    )
    harness.create_database(env, DATABASE)

    # This process reads the database and sets up each scenario's offer through the product's code.
    os.environ.update(env)
    import django

    django.setup()
    from reliability import scenarios

    with open(LOGS / "affiliates.log", "a") as log:
        servers = AffiliateServers(harness.ROOT, log)
    cleanup.callback(servers.stop)
    stack = Stack(env, LOGS, workdir, proxy_port=proxy_port, web_addresses=[f"127.0.0.1:{web_port}"])
    cleanup.callback(stack.stop)
    stack.start()

    suite = scenarios.Suite(
        stack=stack,
        servers=servers,
        postgres=postgres,
        redis=redis,
        redis_outage_seconds=10 if args.short else 30,
        burst=1000 if args.short else 2000,
    )
    results = []
    for scenario in scenarios.SCENARIOS:
        if args.only and scenario.__name__ not in args.only:
            continue
        name = scenario.__name__.replace("_", "-")
        print(f"{name} ...", flush=True)
        began, restarts_before = time.monotonic(), stack.restarts.copy()
        try:
            result = scenario(suite)
        except Exception as exc:
            traceback.print_exc()
            result = scenarios.tally.Tally(name, problems=[f"the scenario stopped: {exc!r}"])
        result.scenario, result.seconds = name, time.monotonic() - began
        for process, times in sorted((stack.restarts - restarts_before).items()):
            # Not a failure in itself: the figures say whether anything was lost meanwhile.
            result.notes.append(
                f"{process} exited by itself {times} time(s) and was started again by the supervisor; "
                f"see {LOGS}/{process}.log"
            )
        results.append(result)
    return results


def print_table(results):
    print()
    print(
        " ".join(
            f"{title:>{width}}" if index else f"{title:<{width}}"
            for index, (title, width) in enumerate(COLUMNS)
        )
    )
    for result in results:
        cells = [
            result.scenario,
            result.requests,
            result.refused,
            result.failed,
            f"{result.clicks_stored}/{result.clicks_answered}",
            f"{result.conversions_stored}/{result.conversions_accepted}",
            result.duplicated_conversions,
            result.expected,
            result.delivered,
            result.retrying,
            result.duplicated,
            result.resent,
            result.lost,
            f"{result.seconds:.0f}s",
        ]
        print(
            " ".join(
                f"{cell:>{width}}" if index else f"{cell:<{width}}"
                for index, (cell, (_, width)) in enumerate(zip(cells, COLUMNS, strict=True))
            )
        )
    print()


if __name__ == "__main__":
    main()
