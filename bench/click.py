"""Benchmark of GET /click against a bare Django 302 view, on PostgreSQL and Redis.

One run serves both from the same gunicorn (same workers), loads them with the same wrk settings
in alternating rounds,
then waits for the click buffer to drain and counts the clicks stored against the 302s answered.
Every request, to both, comes from a visitor of its own (bench/click.lua): gunicorn trusts
X-Real-IP (CLIENT_IP_HEADER), which carries a random public address, with a real browser's user
agent and Accept-Language, so that each click looks its visitor up (tracking.visitor) as in
production and its offer URL uses the visitor context macros. A third load in each round, the
same link without any visitor input (wrk's bare request from the loopback: no lookups, and one
visitor for the statistics), shows what the visitor context costs in all. Last lines: the share
of stored visited clicks that got a country, an OS and a language, the ratio without visitor
input, and `click ratio=<click rps / bare rps> stored=<clicks stored>/<clicks answered>`.

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
                destination_url="https://advertiser.example/landing?cid={clickid}&s1={sub1}&s2={sub2}"
                                "&geo={geo}&os={os}&device={device_type}&lang={language}"),
    goals=[{"value": "1", "title": "Sale", "payout": 1, "revenue": 2}],
)
affiliate_create(username="bench", pid=1)
"""
VISITORS = str(harness.ROOT / "bench" / "click.lua")
# Shares of the stored clicks with visitor input whose context was found, as "country os language".
LOCATED = """
from tracking.models import Click
clicks = Click.objects.exclude(user_agent="")
total = clicks.count() or 1
print(*(clicks.exclude(**{field: ""}).count() / total for field in ("country", "os_family", "language")))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    # As behind the nginx of README "Deploying", which sets X-Real-IP to the visitor's address.
    env = {**harness.environment(DATABASE), "CLIENT_IP_HEADER": "X-Real-IP"}
    harness.create_database(env, DATABASE)
    harness.flush_redis(env)
    harness.manage_shell(env, SETUP)

    click_path = "/click?pid=1&offer_id=1&sub1=bench&sub2=a%20b"
    bare_path = "/bench/bare-302"

    def load(path, seconds, visitors=True):
        return harness.wrk(
            harness.BASE_URL + path,
            seconds=seconds,
            connections=args.connections,
            script=VISITORS if visitors else None,
            env={**env, "BENCH_PATH": path},
        )

    with (
        tempfile.TemporaryDirectory() as tmp,
        harness.processes(
            env, harness.gunicorn(args.workers), harness.celery_worker(), harness.celery_beat(f"{tmp}/beat")
        ),
    ):
        harness.wait_for_http(f"{harness.BASE_URL}/healthz")
        # Warm every worker's imports and caches before measuring.
        load(bare_path, 2)
        load(click_path, 2)
        time.sleep(3)
        warmup_clicks = wait_for_stored(env, None)

        # Alternating rounds, so that a slow moment of the machine weighs on both sides alike.
        rounds = {"bare": [], "click": [], "plain": []}
        for _ in range(args.rounds):
            rounds["bare"].append(load(bare_path, args.seconds))
            rounds["click"].append(load(click_path, args.seconds))
            rounds["plain"].append(load(click_path, args.seconds, visitors=False))
        bare, click, plain = (harness.combine(rounds[name]) for name in ("bare", "click", "plain"))
        answered = click["answered"] + plain["answered"]
        stored = wait_for_stored(env, warmup_clicks + answered) - warmup_clicks
        country, os_family, language = (float(share) for share in harness.manage_shell(env, LOCATED).split())

    print(f"{'':14}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'answered':>10}{'errors':>8}")
    for name, result in (("bare 302", bare), ("click", click), ("no visitor", plain)):
        print(
            f"{name:14}{result['rps']:>12.0f}{result['p50_ms']:>10.2f}{result['p99_ms']:>10.2f}"
            f"{result['answered']:>10}{result['refused'] + result['socket_errors']:>8}"
        )
    print(
        f"visitor context: country {country:.0%}, OS {os_family:.0%}, language {language:.0%} of the clicks"
    )
    print(f"without visitor input: click ratio={plain['rps'] / bare['rps']:.2f}")
    print(f"click ratio={click['rps'] / bare['rps']:.2f} stored={stored}/{answered}")


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
