"""Benchmark of accepted advertiser postbacks (GET /postback) against a bare Django view, on PostgreSQL.

Every postback names a different preloaded click, so each one is accepted and creates a
conversion, its event and its log row. One gunicorn serves both URLs; wrk loads them in
alternating rounds. Last line: `ingest ratio=<postbacks/s / bare requests/s>`.

    python -m bench.ingest [--rounds 3] [--seconds 5] [--connections 32] [--workers 4]
"""

import argparse
import os
import tempfile

from bench import harness

DATABASE = "bench_ingest"

SETUP = """
from offers.models import Advertiser, Offer
from offers.services import affiliate_create, offer_save_with_goals
advertiser = Advertiser.objects.create(name="Bench advertiser")
offer_save_with_goals(
    offer=Offer(offer_id=1, advertiser=advertiser, title="Bench offer",
                destination_url="https://advertiser.example/landing?cid={clickid}"),
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
    parser.add_argument("--clicks", type=int, default=60_000, help="preloaded clicks (one per postback)")
    args = parser.parse_args()

    env = harness.environment(DATABASE)
    harness.create_database(env, DATABASE)
    harness.flush_redis(env)
    with tempfile.TemporaryDirectory() as tmp:
        ids_path = os.path.join(tmp, "click-ids")
        harness.manage_shell(env, SETUP)
        harness.preload_clicks(env, args.clicks, ids_path)
        script = harness.POSTBACKS
        postback_url, bare_url = f"{harness.BASE_URL}/postback", f"{harness.BASE_URL}/bench/bare-json"
        used = 0

        def postbacks(seconds):
            nonlocal used
            wrk_env = {**os.environ, "BENCH_CLICK_IDS": ids_path, "BENCH_FIRST_ID": str(used)}
            result = harness.wrk(
                postback_url, seconds=seconds, connections=args.connections, script=script, env=wrk_env
            )
            # Requests cut off at the end of the run may have used ids too: skip past them.
            used += result["answered"] + result["socket_errors"] + args.connections
            return result

        with harness.processes(env, harness.gunicorn(args.workers), harness.postback_writer()):
            harness.wait_for_http(f"{harness.BASE_URL}/healthz")
            harness.wait_for_writer(env)
            harness.wrk(bare_url, seconds=2, connections=args.connections)
            postbacks(2)
            before = harness.count_rows(env, "conversions.Conversion")
            rounds = {"bare": [], "postback": []}
            for _ in range(args.rounds):
                rounds["bare"].append(
                    harness.wrk(bare_url, seconds=args.seconds, connections=args.connections)
                )
                rounds["postback"].append(postbacks(args.seconds))
            created = harness.count_rows(env, "conversions.Conversion") - before

    bare, ingest = harness.combine(rounds["bare"]), harness.combine(rounds["postback"])
    accepted_per_second = created / (args.rounds * args.seconds)
    print(f"{'':16}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'answered':>10}{'errors':>8}")
    for name, result in (("bare view", bare), ("postback", ingest)):
        print(
            f"{name:16}{result['rps']:>12.0f}{result['p50_ms']:>10.2f}{result['p99_ms']:>10.2f}"
            f"{result['answered']:>10}{result['refused'] + result['socket_errors']:>8}"
        )
    print(
        f"accepted postbacks: {created} ({accepted_per_second:.0f}/s), conversions created per answer: "
        f"{created / max(ingest['answered'], 1):.3f}"
    )
    print(f"ingest ratio={accepted_per_second / bare['rps']:.2f}")


if __name__ == "__main__":
    main()
