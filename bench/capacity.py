"""Capacity figures per unit, measured on PostgreSQL and Redis: what a click, a conversion and an
affiliate postback take on disk and in the click buffer, and what writing clicks costs.

Fills a database of its own (`bench_capacity`) through the product's write paths, in this
process, with production settings:

1. Click buffer (Redis): --clicks clicks (100,000 by default) of realistic visitors (public IPv4
   and IPv6 addresses looked up in the embedded location database, real browsers' user agents,
   Accept-Language, sub1..sub4 as traffic sources fill them, a referrer on most, an fbclid on a
   tenth), spread over the last 24 hours across 200 affiliates with skewed traffic on 10 of 50
   offers each, pushed as the web processes push them (tracking.buffer.push, then drain): Redis's
   `used_memory` before and after, per click, beside the sum of `MEMORY USAGE` of the stream and
   of a sample of the pending keys. Then a tenth as many visits refused by the offers' targeting.
2. Click writer: the buffer emptied by the writers' task body (tracking.store.click_flush_buffer:
   tracking.store.click_write_rows, which also counts the clicks in the statistics rollup), in
   one process: clicks written per second, and CPU time per click of this process, of its
   PostgreSQL backend and of Redis (Redis's is the whole server's).
3. Conversions: --conversions advertiser postbacks (10,000 by default) for distinct clicks,
   recorded by conversions.recording.hits_record in batches of 20 as the postback writer records
   them (each a conversion, its event and its log row, and a delivery to the affiliate's global
   postback), then a status change (approved) for one in ten and a repeated postback for one in
   twenty (a log row only). Wall time and CPU per postback recorded, as in (2).
4. Deliveries: every delivery claimed and its result recorded as the sender does
   (postbacks.queue.claim and queue.record, no network): 200 with a short answer; one in ten
   times out first and succeeds on its second attempt.
5. PostgreSQL: after VACUUM ANALYZE, each table's size with its indexes and TOAST
   (pg_total_relation_size), rows, and bytes per row; then per click and per conversion.

Last line: `capacity click_bytes=<click row + indexes> click_total_bytes=<with the statistics
rows> redis_bytes_per_click=<n> writer_clicks_per_s=<n> conversion_total_bytes=<conversion with
its events, log rows, deliveries and attempts>`.

    python -m bench.capacity [--clicks 100000] [--conversions 10000]
"""

import argparse
import ipaddress
import os
import random
import time
from collections import Counter
from datetime import timedelta

from bench import harness

DATABASE = "bench_capacity"
AFFILIATES = 200
OFFERS = 50
OFFERS_PER_AFFILIATE = 10
HIT_BATCH = 20  # about the postback writer's batch under load (README "Benchmarks")
CLICK_BATCH = 1000  # tracking.buffer.BATCH_SIZE: what one writer reads and writes at once
PENDING_SAMPLE = 1000  # pending keys whose MEMORY USAGE is read

USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{a} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{b} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel {a}) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/12{b}.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-A5{a}6B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/2{b}.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/12{a}.0.{b}.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_{a}) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{b} Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:12{a}.0) Gecko/20100101 Firefox/12{b}.0",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/11{a}.0.0.0 "
    "Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/44{b}.0.0.0;]",
    "Mozilla/5.0 (iPad; CPU OS 16_{a} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.{b} Mobile/15E148 Safari/604.1",
]
LANGUAGES = ["en-US,en;q=0.9", "de-DE,de;q=0.9,en;q=0.8", "pt-BR,pt;q=0.9", "es-ES,es;q=0.9", "fr-FR", "*"]
REFERRERS = [
    "https://www.facebook.com/",
    "https://news-daily-{n}.example/2026/12/{n}/what-this-means-for-your-savings-account",
    "https://m.social-feed.example/watch?v={n}&list=trending",
    "https://www.google.com/",
]
ADVERTISER_IP = "203.0.113.10"
POSTBACK_URL = (
    "https://tracker.affiliate-{pid}.example/postback?clickid={sub1}&txid={conversion_id}"
    "&payout={sum}&currency={currency}&status={status}&goal={goal}&sub2={sub2}"
)
FBCLID_CHARACTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
SUCCESS_ANSWER = '{"status":"ok"}'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=100_000)
    parser.add_argument("--conversions", type=int, default=10_000)
    args = parser.parse_args()

    env = harness.environment(DATABASE)
    harness.create_database(env, DATABASE)
    harness.flush_redis(env)
    # The measuring runs in this process, on the benchmark's settings and database.
    os.environ.update(env)
    import django

    django.setup()
    try:
        measure(args)
    finally:
        harness.flush_redis(env)


def measure(args):
    from django.db import connection

    offers, affiliates = make_network()
    randoms = random.Random(1)
    redis_client = buffer_redis()

    redis_before = used_memory(redis_client)
    clicks = [click_row(randoms, offers, affiliates) for _ in range(args.clicks)]
    push(clicks)
    redis_clicks = used_memory(redis_client)
    per_click = (redis_clicks - redis_before) / args.clicks
    by_keys = buffered_bytes(redis_client, clicks) / args.clicks
    refused = [refused_row(click) for click in randoms.sample(clicks, args.clicks // 10)]
    push(refused)
    per_refused = (used_memory(redis_client) - redis_clicks) / len(refused)

    written, seconds, cpu = timed(lambda: flush_clicks(len(clicks) + len(refused)))
    redis_after = used_memory(redis_client)

    click_ids = [click["click_id"] for click in randoms.sample(clicks, args.conversions)]
    hits, hit_seconds, hit_cpu = timed(lambda: record_conversions(randoms, click_ids))
    attempts = send_deliveries(randoms)

    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        for table in TABLES.values():
            cursor.execute(f"VACUUM ANALYZE {table}")
    sizes = {name: table_size(table) for name, table in TABLES.items()}
    pairs = rollup_pairs()

    print(f"Redis, click buffer ({args.clicks} clicks, {len(refused)} refused visits):")
    print(f"  used_memory per click {per_click:.0f} bytes (MEMORY USAGE of its keys: {by_keys:.0f})")
    print(f"  used_memory per refused visit {per_refused:.0f} bytes (a stream entry, no key)")
    print(f"  left after the writers emptied it: {redis_after - redis_before:+,} bytes in all")
    print(
        f"Click writer: {written} rows in {seconds:.1f} s, {written / seconds:,.0f}/s in one process; "
        f"CPU per row: writer {cpu['process'] / written * 1e6:.0f} us, "
        f"PostgreSQL {cpu['postgres'] / written * 1e6:.0f} us, Redis {cpu['redis'] / written * 1e6:.0f} us"
    )
    print(
        f"Advertiser postbacks: {hits} in {hit_seconds:.1f} s, {hits / hit_seconds:,.0f}/s in one process "
        f"(batches of {HIT_BATCH}); CPU per postback: writer {hit_cpu['process'] / hits * 1e6:.0f} us, "
        f"PostgreSQL {hit_cpu['postgres'] / hits * 1e6:.0f} us"
    )
    print(f"Affiliate postbacks: {attempts} attempts recorded")
    print()
    print(
        f"{'table':28}{'partitions':>11}{'rows':>10}{'table MB':>10}{'index MB':>10}{'reusable':>10}"
        f"{'bytes/row':>11}"
    )
    for name, size in sizes.items():
        print(
            f"{name:28}{size['partitions']:>11}{size['rows']:>10,}{size['heap'] / 1e6:>10.2f}"
            f"{size['indexes'] / 1e6:>10.2f}{size['reusable'] / max(size['heap'], 1):>10.0%}"
            f"{size['total'] / max(size['rows'], 1):>11.0f}"
        )
    print(
        f"Statistics: {pairs} (day, affiliate, offer) rows with clicks; per one of them, "
        f"{sizes['rollup (stats)']['rows'] / pairs:.1f} rollup rows and "
        f"{sizes['rollup by visitor (stats)']['rows'] / pairs:.1f} by visitor, "
        f"{args.clicks / pairs:.0f} clicks"
    )
    print()
    units = per_unit(sizes, clicks=args.clicks, refused=len(refused), conversions=args.conversions)
    for name, value in units.items():
        print(f"{name:56}{value:>10.{0 if 'bytes' in name else 2}f}")
    print(
        f"capacity click_bytes={units['click bytes (row + indexes)']:.0f} "
        f"click_total_bytes={units['click bytes with its statistics']:.0f} "
        f"redis_bytes_per_click={per_click:.0f} writer_clicks_per_s={written / seconds:.0f} "
        f"conversion_total_bytes={units['conversion bytes with all it makes']:.0f}"
    )


TABLES = {
    "click": "tracking_click",
    "refused click": "tracking_refusedclick",
    "unique visitor (stats)": "stats_dailyvisitor",
    "rollup (stats)": "stats_dailystat",
    "rollup by visitor (stats)": "stats_dailyaudiencestat",
    "conversion": "conversions_conversion",
    "conversion event": "conversions_conversionevent",
    "advertiser postback log": "conversions_serverpostback",
    "delivery": "postbacks_delivery",
    "delivery attempt": "postbacks_deliveryattempt",
}


def per_unit(sizes: dict, *, clicks: int, refused: int, conversions: int) -> dict:
    def total(*names):
        return sum(sizes[name]["total"] for name in names)

    statistics = total("unique visitor (stats)", "rollup (stats)", "rollup by visitor (stats)")
    made_by_conversions = total(
        "conversion", "conversion event", "advertiser postback log", "delivery", "delivery attempt"
    )
    return {
        "click bytes (row + indexes)": total("click") / clicks,
        "refused click bytes (row + indexes)": total("refused click") / refused,
        "statistics bytes per click (at this sample's density)": statistics / clicks,
        "click bytes with its statistics": (total("click") + statistics) / clicks,
        "conversion bytes (row + indexes)": total("conversion") / conversions,
        "conversion bytes with all it makes": made_by_conversions / conversions,
        "advertiser postback log rows per conversion": sizes["advertiser postback log"]["rows"] / conversions,
        "conversion events per conversion": sizes["conversion event"]["rows"] / conversions,
        "deliveries per conversion": sizes["delivery"]["rows"] / conversions,
        "delivery attempts per delivery": (
            sizes["delivery attempt"]["rows"] / max(sizes["delivery"]["rows"], 1)
        ),
    }


# --- The network and its traffic --------------------------------------------------------------


def make_network():
    """Offers of two goals, affiliates each with a global postback (made directly: its host is
    fictitious, and saving through postbacks.services would look it up)."""
    from offers.models import Advertiser, Offer
    from offers.services import affiliate_create, offer_save_with_goals
    from postbacks.models import Postback

    advertiser = Advertiser.objects.create(name="Capacity advertiser")
    offers = [
        offer_save_with_goals(
            offer=Offer(
                offer_id=n,
                advertiser=advertiser,
                title=f"Offer {n}",
                destination_url="https://advertiser.example/landing?cid={clickid}&s1={sub1}&geo={geo}",
            ),
            goals=[
                {"value": "1", "title": "Install", "payout": 1, "revenue": 2},
                {"value": "2", "title": "Sale", "payout": 12, "revenue": 20},
            ],
        )
        for n in range(1, OFFERS + 1)
    ]
    affiliates = [affiliate_create(username=f"capacity{pid}", pid=pid) for pid in range(1, AFFILIATES + 1)]
    Postback.objects.bulk_create(
        Postback(affiliate=affiliate, url=POSTBACK_URL.replace("{pid}", str(affiliate.pid)))
        for affiliate in affiliates
    )
    return offers, affiliates


def click_row(randoms: random.Random, offers, affiliates) -> dict:
    """A click row as tracking.accept.click_accept makes it, for a visitor of its own."""
    from tracking.models import click_parameter_fields, new_click_id
    from tracking.visitor import visitor_for

    # Skewed: the first affiliates bring most of the traffic, each on 10 of the offers.
    index = int(len(affiliates) * randoms.random() ** 3)
    offer = offers[(index * 7 + randoms.randrange(OFFERS_PER_AFFILIATE)) % len(offers)]
    ip = random_address(randoms)
    user_agent = randoms.choice(USER_AGENTS).format(a=randoms.randrange(10), b=randoms.randrange(5))
    params = {
        "sub1": f"cmp_{randoms.randrange(5000)}",
        "sub2": f"{randoms.getrandbits(128):032x}",  # the traffic source's own click id
        "sub3": f"site_{randoms.randrange(100_000)}",
        "sub4": f"cr_{randoms.randrange(200)}",
    }
    if randoms.random() < 0.1:
        params["fbclid"] = "IwAR" + "".join(randoms.choices(FBCLID_CHARACTERS, k=57))
    referrer = ""
    if randoms.random() < 0.6:
        referrer = randoms.choice(REFERRERS).format(n=randoms.randrange(1000))
    created_at = time.time() - randoms.uniform(0, 86_400)
    row = click_parameter_fields(params)
    row.update(
        click_id=new_click_id(at=created_at),
        offer_id=offer.pk,
        affiliate_id=affiliates[index].pk,
        ip=ip,
        user_agent=user_agent,
        referrer=referrer,
        created_at=created_at,
        **visitor_for(ip=ip, user_agent=user_agent, accept_language=randoms.choice(LANGUAGES)).fields(),
    )
    return row


def random_address(randoms: random.Random) -> str:
    while True:
        if randoms.random() < 0.2:
            address = ipaddress.IPv6Address((0x2A << 120) | randoms.getrandbits(120))
        else:
            address = ipaddress.IPv4Address(randoms.getrandbits(32))
        if address.is_global:
            return str(address)


def refused_row(click: dict) -> dict:
    """The row of a visit refused by the targeting, as tracking.accept._record_refused makes it."""
    from offers.targeting import TargetingRefusal
    from tracking.models import new_click_id

    return {
        "refused": TargetingRefusal.COUNTRY.value,
        "click_id": new_click_id(at=click["created_at"]),
        **{name: click[name] for name in ("offer_id", "affiliate_id", "ip", "user_agent", "created_at")},
        **{name: click[name] for name in ("country", "os_family", "device_type")},
    }


# --- The click buffer and its writer --------------------------------------------------------


def push(rows: list[dict]) -> None:
    from tracking import buffer, store

    for row in rows:
        buffer.push(row, store.click_write_rows)


def buffer_redis():
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.CLICK_BUFFER_REDIS_URL)


def used_memory(client) -> int:
    return client.info("memory")["used_memory"]


def buffered_bytes(client, clicks: list[dict]) -> float:
    """The stream's memory and the pending keys' (from a sample), by MEMORY USAGE."""
    from tracking import buffer

    stream = client.memory_usage(buffer.STREAM, samples=0)
    sample = clicks[:PENDING_SAMPLE]
    keys = sum(client.memory_usage(buffer.PENDING_KEY + click["click_id"]) for click in sample)
    return stream + keys * len(clicks) / len(sample)


def flush_clicks(expected: int) -> int:
    from tracking import store

    written = 0
    while written < expected:
        written += store.click_flush_buffer(max_seconds=60)
    return written


def timed(work):
    """Run `work`; its result, wall seconds, and CPU seconds of this process, of this
    connection's PostgreSQL backend and of the Redis server."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    redis_client = buffer_redis()
    before = (time.process_time(), backend_cpu(backend), redis_cpu(redis_client), time.monotonic())
    result = work()
    after = (time.process_time(), backend_cpu(backend), redis_cpu(redis_client), time.monotonic())
    process, postgres, redis_seconds, wall = (end - start for start, end in zip(before, after, strict=True))
    return result, wall, {"process": process, "postgres": postgres, "redis": redis_seconds}


def backend_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_cpu(client) -> float:
    cpu = client.info("cpu")
    return cpu["used_cpu_user"] + cpu["used_cpu_sys"]


# --- Conversions and deliveries ---------------------------------------------------------------


def record_conversions(randoms: random.Random, click_ids: list[str]) -> int:
    """Advertiser postbacks as they arrive: one per click, then an approval for one in ten and a
    repeat for one in twenty. Returns how many were recorded."""
    hits = [postback(randoms, click_id, status=2) for click_id in click_ids]
    hits += [postback(randoms, click_id, status=1) for click_id in click_ids[::10]]
    hits += [postback(randoms, click_id, status=2) for click_id in click_ids[5::20]]
    from conversions.recording import hits_record

    outcomes = Counter()
    for start in range(0, len(hits), HIT_BATCH):
        outcomes.update(result.outcome for result in hits_record(hits[start : start + HIT_BATCH]))
    if outcomes["created"] != len(click_ids):
        raise SystemExit(f"Expected {len(click_ids)} conversions, the postbacks' outcomes: {dict(outcomes)}")
    return len(hits)


def postback(randoms: random.Random, click_id: str, *, status: int):
    from conversions.intake import AdvertiserHit

    params = {
        "clickid": click_id,
        "goal": "12"[int(click_id[-1], 16) % 2],  # the same goal for every postback of the click
        "status": str(status),
        "sum": f"{randoms.uniform(5, 200):.2f}",
        "currency": "USD",
        "action_id": f"ORD-{int(click_id[8:16], 16) % 10**9:09d}",
    }
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return AdvertiserHit(params, "postback", "GET", query, ADVERTISER_IP)


def send_deliveries(randoms: random.Random) -> int:
    """Claim and record every delivery as the sender does, without the network: a 200 with a
    short answer, or for one in ten a timeout first. Returns the attempts recorded."""
    from django.utils import timezone

    from postbacks import queue
    from postbacks.models import Delivery
    from postbacks.outbound import Outcome

    attempts = 0
    for first_round in (True, False):
        while rows := queue.claim(limit=queue.CLAIM_BATCH):
            results = []
            for row in rows:
                if first_round and randoms.random() < 0.1:
                    outcome = Outcome(0, "Timed out: no complete answer in 10 s", "", 10_000)
                else:
                    outcome = Outcome(200, "", SUCCESS_ANSWER, randoms.randrange(20, 400))
                results.append((row, time.time(), outcome))
            queue.record(results)
            attempts += len(results)
        # The retries are due in minutes: make them due now.
        Delivery.objects.filter(state=Delivery.State.RETRYING).update(
            next_attempt_at=timezone.now() - timedelta(seconds=1)
        )
    return attempts


def rollup_pairs() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM stats_dailystat WHERE goal_id IS NULL AND clicks > 0")
        return cursor.fetchone()[0]


def table_size(table: str) -> dict:
    """Size and rows of a table, summed over those of its partitions that hold rows (a
    partitioned table holds none of its own; config.partitions makes empty weeks ahead, whose
    few pages are no cost per row). `reusable` is the heap's free space and dead rows
    (pgstattuple): what rows updated since their insert (deliveries) left behind for later
    inserts to fill."""
    from django.db import connection

    size = {"total": 0, "heap": 0, "indexes": 0, "rows": 0, "partitions": 0, "reusable": 0}
    with connection.cursor() as cursor:
        cursor.execute("SELECT relid::text FROM pg_partition_tree(%s) WHERE isleaf", [table])
        for (leaf,) in cursor.fetchall() or [(table,)]:
            cursor.execute(
                f"SELECT (SELECT count(*) FROM {leaf}), pg_total_relation_size(%s), pg_table_size(%s), "
                "pg_indexes_size(%s), free_space + dead_tuple_len FROM pgstattuple(%s)",
                [leaf] * 4,
            )
            rows, total, heap, indexes, reusable = cursor.fetchone()
            if rows:
                size["partitions"] += 1
                for name, value in zip(
                    ("rows", "total", "heap", "indexes", "reusable"),
                    (rows, total, heap, indexes, reusable),
                    strict=True,
                ):
                    size[name] += value
    return size


if __name__ == "__main__":
    main()
