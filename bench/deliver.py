"""Benchmark of affiliate postback delivery through the real pipeline, on PostgreSQL and Redis.

Conversions are created through conversions.events.conversion_created_emit, so that their
deliveries and Celery messages are made as in production, and a `celery -A config worker`
process sends them to a local affiliate server (bench/sink.py) that records every request.

(a) Throughput: N conversions for an affiliate with a global postback to that server, created
    while the worker is stopped, then sent once it starts: deliveries per second from the first
    request received to the last, against a plain aiohttp loop making as many requests to the
    same server with as many connections as the worker opened at most.
(b) The same with every tenth conversion for a second affiliate whose server (another host)
    accepts connections and never answers: healthy deliveries per second against (a).
    (a) and (b) run three times each, alternating; each part keeps its fastest round.
(c) End to end, with gunicorn, the worker and beat running: advertiser postbacks for preloaded
    clicks at a steady rate, and the time from each advertiser's 200 answer (the postback
    accepted) to the arrival of the affiliate's postback for that conversion. The affiliate's
    postback leaves once the conversion commits, so it can arrive before the advertiser has read
    its answer: such a latency is negative.

(d) Live first: (c)'s latency measured in one run of the same processes, deployed as the Procfile
    does (the live senders' worker, and a niced worker of the backfill queue, which makes and
    sends the backfill's deliveries): on a quiet queue before
    and after a backfill of --backfill deliveries (another affiliate's postback sent for its past
    conversions, queued through postbacks.services.postback_backfill, to the same server), and
    while it is being made and sent; the backfill's requests that arrived during that measurement
    show that it was running throughout.

Last lines: `deliver ratio=<a / plain loop>`, `deliver slow_endpoint_drop=<1 - b / a>`,
`deliver e2e_p50_ms=<x> e2e_p99_ms=<y>` and `deliver backfill_p50_ratio=<d with / without>
backfill_p99_ratio=<...>`.

    python -m bench.deliver [--deliveries 5000] [--rate 100] [--seconds 10] [--backfill 30000] [--parts abcd]
"""

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
import urllib.request
import uuid
from urllib.parse import parse_qs, urlsplit

import aiohttp

from bench import harness

DATABASE = "bench_deliver"
SINK = "127.0.0.1:8781"
# Another address: the sender sets aside the host and port that stops answering.
NEVER_ANSWERS = "127.0.0.2:8782"
CONTROL = "127.0.0.1:8783"
POSTBACK_PATH = "/postback?conversion_id={conversion_id}&goal={goal}&status={status}&payout={sum}"
BACKFILL_PATH = "/backfill?conversion_id={conversion_id}&status={status}"
HANGING_EVERY = 10
ROUNDS = 3  # of (a) and of (b)
EMITTERS = 2  # processes creating conversions, while the worker is stopped

SETUP = """
import time
from offers.models import Advertiser, Offer
from offers.services import affiliate_create, offer_save_with_goals
from postbacks.models import Postback
from postbacks.services import postback_save
from tracking.models import new_click_id
from tracking.store import click_write_rows
advertiser = Advertiser.objects.create(name="Bench advertiser")
offer, *_ = [
    offer_save_with_goals(
        offer=Offer(offer_id=offer_id, advertiser=advertiser, title=f"Bench offer {offer_id}",
                    destination_url="https://advertiser.example/landing?cid={clickid}"),
        goals=[{"value": "1", "title": "Sale", "payout": 1, "revenue": 2}],
    )
    for offer_id in range(1, %(offers)d + 1)
]
healthy = affiliate_create(username="healthy", pid=1)
hanging = affiliate_create(username="hanging", pid=2)
postback_save(Postback(affiliate=healthy, url=%(healthy_url)r))
postback_save(Postback(affiliate=hanging, url=%(hanging_url)r))
ids = [new_click_id() for _ in range(%(clicks)d)]
click_write_rows([{"click_id": click_id, "offer_id": offer.pk, "affiliate_id": healthy.pk,
                   "created_at": time.time()} for click_id in ids])
with open(%(path)r, "w") as out:
    out.write("\\n".join(ids))
"""

# Conversions number `first`, `first + step`, ... below `count`, 500 per transaction, on offer
# `first + 1` (emitters of the same offer would wait for each other's lock on its daily
# statistics); every `hanging_every`-th (none when 0) is for the affiliate whose server never
# answers.
EMIT = """
from django.db import transaction
from config.db import insert_many
from conversions.models import Conversion, ConversionEvent
from conversions.events import conversion_created_emit
from offers.models import Affiliate, Offer
offer = Offer.objects.get(offer_id=%(first)d + 1)
goal = offer.goals.get()
healthy, hanging = Affiliate.objects.get(pid=1), Affiliate.objects.get(pid=2)
numbers = range(%(first)d, %(count)d, %(step)d)
for start in range(0, len(numbers), 500):
    with transaction.atomic():
        for number in numbers[start:start + 500]:
            affiliate = hanging if %(hanging_every)d and number %% %(hanging_every)d == 0 else healthy
            conversion = Conversion(offer=offer, affiliate=affiliate, goal=goal, status=goal.default_status,
                                    payout=goal.payout, revenue=goal.revenue, currency=goal.currency)
            insert_many([conversion])
            conversion_created_emit(conversion, source=ConversionEvent.Source.POSTBACK)
"""

# The last delivery so far, and the deliveries to the healthy affiliate's server made after it:
# what one part has to send, whatever an earlier part left behind.
LAST_DELIVERY = """
from django.db.models import Max
from postbacks.models import Delivery
print(Delivery.objects.aggregate(last=Max("pk"))["last"] or 0)
"""
# The backlog of (d): conversions of a third affiliate with their creation events, stored without
# being announced (no postback of theirs existed), then the postback a backfill sends for them.
BACKLOG = """
from django.db import connection, transaction
from config.db import insert_many
from conversions.events import conversion_event, conversion_events_store
from conversions.models import Conversion, ConversionEvent
from offers.models import Offer
from offers.services import affiliate_create
from postbacks.models import Postback
from postbacks.services import postback_save
offer = Offer.objects.get(offer_id=1)
goal = offer.goals.get()
backlog = affiliate_create(username="backlog", pid=3)
for start in range(0, %(count)d, 1000):
    with transaction.atomic():
        conversions = insert_many([
            Conversion(offer=offer, affiliate=backlog, goal=goal, status=goal.default_status,
                       payout=goal.payout, revenue=goal.revenue, currency=goal.currency)
            for _ in range(min(1000, %(count)d - start))
        ])
        conversion_events_store([
            conversion_event(conversion, ConversionEvent.Kind.CREATED, None, ConversionEvent.Source.POSTBACK)
            for conversion in conversions
        ])
postback = Postback(affiliate=backlog, url=%(url)r)
postback_save(postback)
# The planner's statistics as autovacuum keeps them: the quiet measurement is of a settled table.
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")
print(postback.pk)
"""
QUEUE_BACKFILL = """
from django.db import transaction
from django.utils import timezone
from postbacks.backfill import Period
from postbacks.models import Postback
from postbacks.services import postback_backfill
today = timezone.now().date()
with transaction.atomic():
    print(postback_backfill(postback=Postback.objects.get(pk=%(postback)d), period=Period(today, today)))
"""
MADE_SINCE = """
from postbacks.models import Delivery
print(Delivery.objects.filter(host=%(host)r, pk__gt=%(last)d).count())
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=30000, help="deliveries made in (a) and in (b)")
    parser.add_argument("--rate", type=int, default=100, help="advertiser postbacks per second in (c)")
    parser.add_argument("--seconds", type=int, default=10, help="length of (c), and of each half of (d)")
    parser.add_argument("--backfill", type=int, default=30000, help="deliveries of the backfill in (d)")
    parser.add_argument("--parts", default="abcd", help="the parts to run, e.g. cd")
    args = parser.parse_args()
    live_clicks = args.rate * (args.seconds + 1)

    env = {**harness.environment(DATABASE), "POSTBACK_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8"}
    harness.create_database(env, DATABASE)
    harness.flush_redis(env)
    sink = subprocess.Popen(
        [harness.PYTHON, "-m", "bench.sink", SINK, NEVER_ANSWERS, CONTROL], cwd=harness.ROOT
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            clicks_path = os.path.join(tmp, "click-ids")
            harness.manage_shell(
                env,
                SETUP
                % {
                    "healthy_url": f"http://{SINK}{POSTBACK_PATH}",
                    "hanging_url": f"http://{NEVER_ANSWERS}{POSTBACK_PATH}",
                    "clicks": live_clicks * 4,
                    "offers": EMITTERS,
                    "path": clicks_path,
                },
            )
            with open(clicks_path) as lines:
                clicks = lines.read().split()
            # (c) and (d) first: they then have the database and the queues to themselves.
            if "c" in args.parts:
                e2e = end_to_end(
                    env, clicks[:live_clicks], rate=args.rate, seconds=args.seconds, schedule=f"{tmp}/beat"
                )
            if "d" in args.parts:
                backfill = live_with_backfill(
                    env,
                    clicks[live_clicks:],
                    rate=args.rate,
                    seconds=args.seconds,
                    schedule=f"{tmp}/beat-d",
                    deliveries=args.backfill,
                )
        # (a) and (b) alternate, ROUNDS times each, and each keeps its best round: a shared
        # machine slows single rounds by a tenth or more at times, which would decide (b) on its own.
        rounds = {"(a)": [], "(b)": []}
        for _ in range(ROUNDS if "a" in args.parts or "b" in args.parts else 0):
            rounds["(a)"].append(throughput(env, args.deliveries, hanging_every=0))
            rounds["(b)"].append(throughput(env, args.deliveries, hanging_every=HANGING_EVERY))
        if rounds["(a)"]:
            pipeline, slow = (max(results, key=lambda result: result["rate"]) for results in rounds.values())
            raw = raw_loop(args.deliveries, concurrency=pipeline["peak_connections"])
    finally:
        sink.terminate()
        sink.wait()

    if rounds["(a)"]:
        print_throughput(args, rounds, pipeline, raw, slow)
    if "c" in args.parts:
        print(
            f"(c) {e2e['sent']} advertiser postbacks at {args.rate}/s, {e2e['accepted']} accepted, "
            f"{e2e['delivered']} delivered; latency p50 {e2e['p50_ms']:.1f} ms, p90 {e2e['p90_ms']:.1f} ms, "
            f"p99 {e2e['p99_ms']:.1f} ms, max {e2e['max_ms']:.1f} ms"
        )
    if "d" in args.parts:
        quiet, busy = backfill["quiet"], backfill["busy"]
        with_backfill = f"with a {args.backfill}-delivery backfill"
        for name, result in (("without a backfill (before and after it)", quiet), (with_backfill, busy)):
            print(
                f"(d) live {name}: {result['accepted']} accepted, {result['delivered']} delivered; latency "
                f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, max {result['max_ms']:.1f} ms"
            )
        print(
            f"(d) backfill: {backfill['queued']} queued, {backfill['during']} of its requests arrived during "
            f"the second measurement, {backfill['arrived']} by its end"
        )
    if rounds["(a)"]:
        print(f"deliver ratio={pipeline['rate'] / raw['rate']:.2f}")
        print(f"deliver slow_endpoint_drop={max(0.0, 1 - slow['rate'] / pipeline['rate']):.2f}")
    if "c" in args.parts:
        print(f"deliver e2e_p50_ms={e2e['p50_ms']:.1f} e2e_p99_ms={e2e['p99_ms']:.1f}")
    if "d" in args.parts:
        print(
            f"deliver backfill_p50_ratio={busy['p50_ms'] / quiet['p50_ms']:.2f} "
            f"backfill_p99_ratio={busy['p99_ms'] / quiet['p99_ms']:.2f}"
        )


def print_throughput(args, rounds, pipeline, raw, slow) -> None:
    print(f"{'':36}{'deliveries/s':>14}{'received':>12}{'connections':>13}")
    for name, result in (
        ("(a) pipeline", pipeline),
        ("(a) plain aiohttp loop", raw),
        (f"(b) pipeline, 1 in {HANGING_EVERY} never answered", slow),
    ):
        received = f"{result['distinct_ids']}/{result['expected']}"
        print(f"{name:36}{result['rate']:>14.0f}{received:>12}{result['peak_connections']:>13}")
    for part, results in rounds.items():
        print(f"rounds of {part}: " + ", ".join(f"{result['rate']:.0f}/s" for result in results))


def throughput(env: dict, count: int, *, hanging_every: int) -> dict:
    """Create `count` conversions with the worker stopped, then start it: the rate at which the
    healthy affiliate's server receives their postbacks, from the first to the last."""
    last = int(harness.manage_shell(env, LAST_DELIVERY))
    emitters = [
        subprocess.Popen(
            [
                harness.PYTHON,
                "manage.py",
                "shell",
                "-c",
                EMIT % {"first": first, "count": count, "step": EMITTERS, "hanging_every": hanging_every},
            ],
            cwd=harness.ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for first in range(EMITTERS)
    ]
    if any(emitter.wait() for emitter in emitters):
        raise SystemExit("Creating the conversions failed")
    healthy = int(harness.manage_shell(env, MADE_SINCE % {"host": SINK, "last": last}))
    control("/reset")
    with harness.processes(env, harness.celery_worker()):
        stats = wait_for_arrivals(healthy, timeout=150)
    return {**stats, "expected": healthy, "rate": _rate(stats)}


def raw_loop(count: int, *, concurrency: int, rounds: int = 3) -> dict:
    """The same number of requests to the same server from a plain aiohttp loop: the median of
    `rounds`, as the pipeline's parts are single runs too."""

    async def requests():
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            numbers = iter(range(count))

            async def client():
                for number in numbers:
                    url = f"http://{SINK}" + POSTBACK_PATH.format(
                        conversion_id=number, goal=1, status=2, sum=1
                    )
                    async with session.get(url, headers={"X-Postback-Id": str(uuid.uuid4())}) as answer:
                        await answer.read()

            await asyncio.gather(*(client() for _ in range(concurrency)))

    results = []
    for _ in range(rounds):
        control("/reset")
        asyncio.run(requests())
        stats = control("/stats")
        results.append({**stats, "expected": count, "rate": _rate(stats)})
    return sorted(results, key=lambda result: result["rate"])[len(results) // 2]


def end_to_end(env: dict, clicks: list[str], *, rate: int, seconds: int, schedule: str) -> dict:
    """Advertiser postbacks at `rate` per second for `seconds`, after one second of warm-up:
    the time from each 200 answer to the arrival of the affiliate's postback."""
    with harness.processes(
        env,
        harness.gunicorn(4),
        harness.postback_writer(),
        harness.celery_worker(),
        harness.celery_beat(schedule),
    ):
        harness.wait_for_http(f"{harness.BASE_URL}/healthz")
        harness.wait_for_writer(env)
        warmup = asyncio.run(advertiser_postbacks(clicks[:rate], rate=rate))
        wait_for_arrivals(len(warmup), timeout=60)
        control("/reset")
        answered = asyncio.run(advertiser_postbacks(clicks[rate:], rate=rate))
        wait_for_arrivals(len(answered), timeout=30)
        arrivals = control("/arrivals")
    return {"sent": len(clicks) - rate, **latency(answered, arrivals)}


def latency(answered: dict[str, float], arrivals: list) -> dict:
    """From each advertiser's answer (`answered`, by conversion id) to the arrival of that
    conversion's postback: percentiles in milliseconds. Arrivals of other conversions (a
    backfill's) are not counted."""
    arrived = {}
    for at, _, target in arrivals:
        arrived.setdefault(_conversion_id(target), at)
    latencies = sorted(
        (arrived[conversion_id] - at) * 1000
        for conversion_id, at in answered.items()
        if conversion_id in arrived
    ) or [float("nan")]
    return {
        "accepted": len(answered),
        "delivered": len(answered.keys() & arrived.keys()),
        **{
            f"p{percent}_ms": latencies[min(len(latencies) - 1, len(latencies) * percent // 100)]
            for percent in (50, 90, 99)
        },
        "max_ms": latencies[-1],
    }


def live_with_backfill(
    env: dict, clicks: list[str], *, rate: int, seconds: int, schedule: str, deliveries: int
) -> dict:
    """(d): live latency as in (c), on a quiet queue before and after a backfill of `deliveries`
    to the same server, and while the backfill is made and sent."""
    postback = int(
        harness.manage_shell(env, BACKLOG % {"count": deliveries, "url": f"http://{SINK}{BACKFILL_PATH}"})
    )
    half = rate * seconds
    with harness.processes(
        env,
        harness.gunicorn(4),
        harness.postback_writer(),
        # As the Procfile deploys them: the backfill's deliveries are made and sent by a worker
        # of their own queue, at a lower priority than the live senders.
        harness.celery_worker(queues="celery"),
        harness.celery_worker(queues="backfill", concurrency=1, nice=10),
        harness.celery_beat(schedule),
    ):
        harness.wait_for_http(f"{harness.BASE_URL}/healthz")
        harness.wait_for_writer(env)
        warmup = asyncio.run(advertiser_postbacks(clicks[:rate], rate=rate))
        wait_for_arrivals(len(warmup), timeout=60)
        control("/reset")
        quiet = asyncio.run(advertiser_postbacks(clicks[rate : rate + half], rate=rate))
        quiet_arrivals = wait_for_live(quiet, timeout=30)

        control("/reset")
        queued = int(harness.manage_shell(env, QUEUE_BACKFILL % {"postback": postback}))
        # The backfill is under way once its first requests arrive: measure from then on.
        wait_for(lambda: _backfill_count(control("/arrivals")) >= 1000, timeout=60)
        before = _backfill_count(control("/arrivals"))
        busy = asyncio.run(advertiser_postbacks(clicks[rate + half : rate + 2 * half], rate=rate))
        busy_arrivals = wait_for_live(busy, timeout=60)
        during = _backfill_count(busy_arrivals) - before
        wait_for(lambda: _backfill_count(control("/arrivals")) >= queued, timeout=600)
        arrived = _backfill_count(control("/arrivals"))

        # Quiet again once the backfill is sent: the machine's drift over the run counts on both sides.
        control("/reset")
        after = asyncio.run(advertiser_postbacks(clicks[rate + 2 * half : rate + 3 * half], rate=rate))
        after_arrivals = wait_for_live(after, timeout=30)
    return {
        "quiet": latency(quiet | after, quiet_arrivals + after_arrivals),
        "busy": latency(busy, busy_arrivals),
        "queued": queued,
        "during": during,
        "arrived": arrived,
    }


def _conversion_id(target: str) -> str:
    return parse_qs(urlsplit(target).query).get("conversion_id", [""])[0]


def _backfill_count(arrivals: list) -> int:
    return sum(1 for _, _, target in arrivals if target.startswith(BACKFILL_PATH.split("?")[0]))


def wait_for_live(answered: dict[str, float], timeout: float) -> list:
    """The server's arrivals once every conversion of `answered` has had its postback (or at
    the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        arrivals = control("/arrivals")
        arrived = {_conversion_id(target) for _, _, target in arrivals}
        if answered.keys() <= arrived or time.monotonic() > deadline:
            return arrivals
        time.sleep(0.2)


def wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)


async def advertiser_postbacks(clicks: list[str], *, rate: int) -> dict[str, float]:
    """One postback per click, started every 1/rate seconds whatever the answers; returns the
    time each accepted one was answered, by conversion id."""
    answered = {}
    async with aiohttp.ClientSession() as session:

        async def postback(click_id):
            url = f"{harness.BASE_URL}/postback?clickid={click_id}&sum=12.50&status=2"
            async with session.get(url) as answer:
                body = await answer.json(content_type=None)
                if answer.status == 200 and body.get("conversion_id"):
                    answered[body["conversion_id"]] = time.time()

        started, tasks = time.monotonic(), []
        for number, click_id in enumerate(clicks):
            await asyncio.sleep(max(0.0, started + number / rate - time.monotonic()))
            tasks.append(asyncio.create_task(postback(click_id)))
        await asyncio.gather(*tasks)
    return answered


def wait_for_arrivals(expected: int, timeout: float) -> dict:
    """The server's counts once `expected` different deliveries arrived (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        stats = control("/stats")
        if stats["distinct_ids"] >= expected or time.monotonic() > deadline:
            return stats
        time.sleep(0.2)


def control(path: str):
    with urllib.request.urlopen(f"http://{CONTROL}{path}", timeout=30) as answer:
        return json.loads(answer.read())


def _rate(stats: dict) -> float:
    elapsed = (stats["last"] or 0) - (stats["first"] or 0)
    return (stats["requests"] - 1) / elapsed if elapsed > 0 else 0.0


if __name__ == "__main__":
    main()
