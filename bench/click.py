"""Benchmark of GET /click against a bare Django 302 view, on PostgreSQL and Redis.

One run serves both from the same gunicorn (same workers), loads them with the same wrk settings
in alternating rounds,
then waits for the click buffer to drain and counts the clicks stored against the 302s answered.
Last line: `click ratio=<click rps / bare rps> stored=<clicks stored>/<302s answered>`.

    python -m bench.click [--rounds 3] [--seconds 5] [--connections 32] [--workers 4]
"""

import argparse
import tempfile
import time

from bench import harness

DATABASE = "bench_click"

SETUP = """
from offers.models import Advertiser, Affiliate, Offer
from offers.services import affiliate_create, offer_save_with_goals
advertiser = Advertiser.objects.create(name="Bench advertiser")
offer_save_with_goals(
    offer=Offer(offer_id=1, advertiser=advertiser, title="Bench offer",
                destination_url="https://advertiser.example/landing?cid={clickid}&s1={sub1}&s2={sub2}"),
    goals=[{"value": "1", "title": "Sale", "payout": 1, "revenue": 2}],
)
affiliate_create(username="bench", pid=1)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    env = harness.environment(DATABASE)
    harness.create_database(env, DATABASE)
    harness.flush_redis(env)
    harness.manage_shell(env, SETUP)

    click_url = f"{harness.BASE_URL}/click?pid=1&offer_id=1&sub1=bench&sub2=a%20b"
    bare_url = f"{harness.BASE_URL}/bench/bare-302"
    with (
        tempfile.TemporaryDirectory() as tmp,
        harness.processes(
            env, harness.gunicorn(args.workers), harness.celery_worker(), harness.celery_beat(f"{tmp}/beat")
        ),
    ):
        harness.wait_for_http(f"{harness.BASE_URL}/healthz")
        # Warm every worker's imports and caches before measuring.
        harness.wrk(bare_url, seconds=2, connections=args.connections)
        harness.wrk(click_url, seconds=2, connections=args.connections)
        time.sleep(3)
        warmup_clicks = wait_for_stored(env, None)

        # Alternating rounds, so that a slow moment of the machine weighs on both sides alike.
        rounds = {"bare": [], "click": []}
        for _ in range(args.rounds):
            rounds["bare"].append(harness.wrk(bare_url, seconds=args.seconds, connections=args.connections))
            rounds["click"].append(harness.wrk(click_url, seconds=args.seconds, connections=args.connections))
        bare, click = harness.combine(rounds["bare"]), harness.combine(rounds["click"])
        stored = wait_for_stored(env, warmup_clicks + click["answered"]) - warmup_clicks

    print(f"{'':14}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'answered':>10}{'errors':>8}")
    for name, result in (("bare 302", bare), ("click", click)):
        print(
            f"{name:14}{result['rps']:>12.0f}{result['p50_ms']:>10.2f}{result['p99_ms']:>10.2f}"
            f"{result['answered']:>10}{result['refused'] + result['socket_errors']:>8}"
        )
    print(f"click ratio={click['rps'] / bare['rps']:.2f} stored={stored}/{click['answered']}")


def wait_for_stored(env, expected, timeout=120):
    """Clicks in the database once the buffer has drained (or `expected` is reached)."""
    deadline = time.monotonic() + timeout
    count = harness.count_rows(env, "tracking.Click")
    while time.monotonic() < deadline:
        time.sleep(2)
        latest = harness.count_rows(env, "tracking.Click")
        if (expected is not None and latest >= expected) or (expected is None and latest == count):
            return latest
        count = latest
    return count


if __name__ == "__main__":
    main()
