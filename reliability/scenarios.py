"""The scenarios. Each sets up an offer, an affiliate and its postbacks of its own, sends real
traffic through gunicorn, breaks something while it flows, and tallies the outcome (tally.py)."""

import asyncio
import dataclasses
import math
import random
import re
import time
from collections import Counter
from dataclasses import dataclass

from django.db.models import Count

from conversions.models import Conversion
from offers.models import Advertiser, Offer
from offers.services import affiliate_create, offer_save_with_goals
from postbacks.models import Delivery, DeliveryAttempt, Postback
from postbacks.services import postback_save
from reliability import tally
from reliability.affiliate import POISONED, AffiliateServers
from reliability.services import PostgresCluster, RedisServer, free_port
from reliability.slow_clients import SlowClients
from reliability.stack import Stack
from reliability.traffic import Traffic
from tracking.models import Click

SETTLE_SECONDS = 90  # the longest wait for clicks, conversions and postbacks to arrive
DATABASE_DOWN_SECONDS = 3


@dataclass
class Suite:
    stack: Stack
    servers: AffiliateServers
    postgres: PostgresCluster
    redis: RedisServer
    redis_outage_seconds: float
    burst: int


def network(suite: Suite, number: int, name: str, behaviours: list[str]):
    """Offer `number` and affiliate `number`, with a global postback to each server behaviour."""
    advertiser = Advertiser.objects.create(name=f"Advertiser of {name}")
    offer = offer_save_with_goals(
        offer=Offer(
            offer_id=number,
            advertiser=advertiser,
            title=name,
            destination_url="https://advertiser.example/landing?cid={clickid}",
        ),
        goals=[{"value": "sale", "title": "Sale", "payout": 3, "revenue": 5}],
    )
    affiliate = affiliate_create(username=f"affiliate-{name}", pid=number)
    postbacks = {}
    for behaviour in behaviours:
        postback = Postback(
            affiliate=affiliate,
            url=suite.servers.url(behaviour, f"/{name}/{behaviour}?cid={{conversion_id}}&status={{status}}"),
        )
        postback_save(postback)
        postbacks[postback.pk] = behaviour
    traffic = Traffic(suite.stack.base_url, offer.offer_id, affiliate.pid)
    return offer, postbacks, traffic


def worker_killed(suite: Suite) -> tally.Tally:
    """The Celery worker is killed (SIGKILL, worker and pool) while the affiliate's server is
    still answering its requests, then started again: every postback arrives, the ones cut off
    again with the same X-Postback-Id once their lease has run out."""
    name, count = "worker-killed", 600
    offer, postbacks, traffic = network(suite, 1, name, ["slow"])
    click_ids = asyncio.run(traffic.clicks(count))
    killed_after = []

    async def kill_mid_delivery():
        loop = asyncio.get_running_loop()
        while (
            len(arrived := await loop.run_in_executor(None, suite.servers.arrivals, f"/{name}/")) < count // 4
        ):
            await asyncio.sleep(0.05)
        await loop.run_in_executor(None, suite.stack.kill_worker)
        killed_after.append(len(arrived))

    async def run():
        killing = asyncio.create_task(kill_mid_delivery())
        await traffic.postbacks(
            [{"click_id": click_id, "status": 2} for click_id in click_ids], connections=16
        )
        await asyncio.wait_for(killing, timeout=60)

    asyncio.run(run())
    time.sleep(1)
    suite.stack.restart_worker()
    result = tally.wait(lambda: tally.count(name, traffic, offer, postbacks, suite.servers), SETTLE_SECONDS)
    result.notes.append(f"worker killed once {killed_after[0]} of {count} postbacks had arrived")
    if killed_after[0] >= result.expected:
        result.problems.append("the worker was killed after every postback had arrived: nothing was cut off")
    return result


def writer_killed(suite: Suite) -> tally.Tally:
    """The postback writer is killed (SIGKILL) in a burst of advertiser postbacks and started
    again a second later. The postbacks it held are answered 503 and sent again; meanwhile the web
    processes record postbacks themselves. Every conversion is stored once."""
    name, count = "writer-killed", 1200
    offer, postbacks, traffic = network(suite, 6, name, ["ok"])
    click_ids = asyncio.run(traffic.clicks(count))
    stored = Conversion.objects.filter(offer=offer)
    killed = []

    def kill_then_restart():
        while (recorded := stored.count()) < count // 4:
            time.sleep(0.02)
        killed.append((time.time(), recorded))
        suite.stack.kill_writer()
        time.sleep(1)
        suite.stack.restart_writer()
        killed.append((time.time(), stored.count()))

    async def run():
        killing = asyncio.get_running_loop().run_in_executor(None, kill_then_restart)
        conversions = [
            {"click_id": click_id, "status": 2, "action_id": f"order-{number}" if number % 2 else ""}
            for number, click_id in enumerate(click_ids)
        ]
        await traffic.postbacks(conversions, connections=32)
        await asyncio.wait_for(killing, timeout=60)

    asyncio.run(run())
    result = tally.wait(lambda: tally.count(name, traffic, offer, postbacks, suite.servers), SETTLE_SECONDS)
    (killed_at, before), (_, after) = killed
    result.notes.append(f"writer killed at {before} of {count} conversions, back at {after}")
    if before >= count:
        result.problems.append("the writer was killed after every conversion was stored: nothing was cut off")
    # Only the postbacks the writer held when it was killed may have been answered 503: sent in
    # the seconds before, under a burst that keeps every web thread busy.
    window = "the window of the writer's death"
    _failures_only_during(result, traffic, window, killed_at - 2, killed_at, grace=1.0, statuses={503})
    return result


def redis_outage(suite: Suite) -> tally.Tally:
    """Redis (click buffer, Celery broker and cache) stops while visitors and advertisers keep
    coming, and starts again with its data (AOF)."""
    name = "redis-outage"
    offer, postbacks, traffic = network(suite, 2, name, ["ok"])
    before, after = 3, 8
    window = []

    async def outage():
        loop = asyncio.get_running_loop()
        await asyncio.sleep(before)
        window.append(time.time())
        await loop.run_in_executor(None, suite.redis.stop)
        await asyncio.sleep(suite.redis_outage_seconds)
        await loop.run_in_executor(None, suite.redis.start)
        window.append(time.time())

    async def run():
        await asyncio.gather(
            outage(),
            traffic.steady(
                before + suite.redis_outage_seconds + after,
                clicks_per_second=30,
                converting=0.5,
                approved=0.3,
            ),
        )

    asyncio.run(run())
    result = tally.wait(lambda: tally.count(name, traffic, offer, postbacks, suite.servers), SETTLE_SECONDS)
    # A conversion whose click may be in Redis is answered 503 (retry later) while Redis is away.
    _failures_only_during(result, traffic, "the outage", *window, grace=1.0, statuses={503})
    return result


def postgres_restart(suite: Suite) -> tally.Tally:
    """PostgreSQL restarts (fast shutdown: connections cut, open transactions rolled back; down
    for a few seconds) under clicks, advertiser postbacks and affiliate postbacks in flight.
    Requests may fail during the restart, visibly (503); what was accepted is kept."""
    name = "postgres-restart"
    offer, postbacks, traffic = network(suite, 3, name, ["slow"])
    before, after, grace = 4, 8, 3.0
    window = []

    async def restart():
        await asyncio.sleep(before)
        started = time.time()
        await asyncio.get_running_loop().run_in_executor(None, suite.postgres.restart, DATABASE_DOWN_SECONDS)
        window.extend([started, time.time()])

    async def run():
        await asyncio.gather(
            restart(), traffic.steady(before + after, clicks_per_second=40, converting=0.5, approved=0.3)
        )

    asyncio.run(run())
    result = tally.wait(lambda: tally.count(name, traffic, offer, postbacks, suite.servers), SETTLE_SECONDS)
    # Requests the database could not serve are answered 503 (retry later), never 500.
    _failures_only_during(result, traffic, "the restart", *window, grace=grace, statuses={503})
    return result


def broken_endpoints(suite: Suite) -> tally.Tally:
    """Affiliates' servers that answer 500 (twice, then 200), never answer, redirect, or close
    the connection, next to a healthy one: the healthy and the recovering server get every
    postback; the others' deliveries have failed attempts logged and are scheduled for retries."""
    name, count = "broken-endpoints", 30
    failing = ["hangs", "redirects", "closes"]
    offer, postbacks, traffic = network(suite, 4, name, ["ok", "flaky", *failing])

    async def run():
        click_ids = await traffic.clicks(count)
        await traffic.postbacks([{"click_id": click_id, "status": 2} for click_id in click_ids])

    asyncio.run(run())
    retried = Delivery.objects.filter(conversion__offer=offer, postback__url__contains="/hangs?")
    result = tally.wait(
        lambda: tally.count(name, traffic, offer, postbacks, suite.servers, failing=failing),
        SETTLE_SECONDS,
        # Failing deliveries show their retries: the slowest (timing out) have been tried twice.
        until=lambda result: result.settled and not retried.filter(attempts__lt=2).exists(),
    )
    if retried.filter(attempts__lt=2).exists():
        result.problems.append("deliveries to the server that never answers were not retried")
    _note_attempts(result, postbacks)
    _no_failures(result, traffic)
    return result


def duplicate_burst(suite: Suite) -> tally.Tally:
    """A burst of advertiser postbacks, one in five a twin of another sent at the same moment, on
    many connections: one conversion per key, one affiliate postback per conversion."""
    name = "duplicate-burst"
    offer, postbacks, traffic = network(suite, 5, name, ["ok"])
    distinct = suite.burst * 4 // 5

    async def run():
        click_ids = await traffic.clicks(distinct)
        conversions = [
            {"click_id": click_id, "status": 2, "action_id": f"order-{number}" if number % 2 else ""}
            for number, click_id in enumerate(click_ids)
        ]
        twins = set(random.sample(range(len(conversions)), suite.burst - len(conversions)))
        burst = []
        for number, conversion in enumerate(conversions):
            burst += [conversion, conversion] if number in twins else [conversion]
        await traffic.postbacks(burst, connections=64)

    asyncio.run(run())
    result = tally.wait(lambda: tally.count(name, traffic, offer, postbacks, suite.servers), SETTLE_SECONDS)
    created = [key for key, _, message, _ in traffic.accepted if message == "ok"]
    if len(created) != len(set(created)):
        result.problems.append(f"{len(created) - len(set(created))} keys answered as created more than once")
    if result.resent:
        result.problems.append(f"{result.resent} postbacks received twice without any fault")
    _no_failures(result, traffic)
    return result


def slow_clients(suite: Suite) -> tally.Tally:
    """400 connections send a request header a byte every 3 s and never finish it, for 35 s (loopback
    only; each one nginx closes is opened again), while visitors and advertisers come at a steady
    rate. nginx holds the slow connections and passes gunicorn only complete requests: every click
    and postback is answered as usual."""
    name, connections, seconds = "slow-clients", 400, 35
    offer, postbacks, traffic = network(suite, 10, name, ["ok"])
    slow = SlowClients(
        "127.0.0.1",
        suite.stack.proxy_port,
        f"/click?pid={traffic.pid}&offer_id={traffic.offer_id}&sub1=slow",
        connections=connections,
        interval=3.0,
    )

    async def run():
        holding = asyncio.create_task(slow.hold(seconds))
        while slow.open_now < connections and not holding.done():
            await asyncio.sleep(0.1)
        await traffic.steady(20, clicks_per_second=20, converting=0.5, approved=0.3)
        await holding

    asyncio.run(run())
    result = tally.wait(lambda: tally.count(name, traffic, offer, postbacks, suite.servers), SETTLE_SECONDS)
    result.notes.append(
        f"{slow.most_open} slow connections open at once, {slow.opened} opened in {seconds} s; "
        f"{slow.cut_off} closed by nginx (the whole header within 10 s), {slow.answered} of them answered"
    )
    for kind in ("click", "postback"):
        served = sorted(
            answer.seconds * 1000 for answer in traffic.answers if answer.kind == kind and answer.status
        )
        if served:
            result.notes.append(
                f"{len(served)} {kind}s answered meanwhile in {served[len(served) // 2]:.0f} ms (median), "
                f"{served[len(served) * 99 // 100]:.0f} ms (99th percentile), {served[-1]:.0f} ms (slowest)"
            )
    if slow.most_open < connections:
        result.problems.append(f"only {slow.most_open} of {connections} slow connections were open at once")
    if not result.clicks_answered or not result.conversions_accepted:
        result.problems.append("no click or no postback was answered while the slow connections were open")
    _no_failures(result, traffic)
    return result


def poisoned_endpoints(suite: Suite) -> tally.Tally:
    """Affiliates' servers answering what no well-behaved server writes (reliability/affiliate.py,
    POISONED: a NUL byte, bytes that are not UTF-8, a Retry-After that is no number or a date out
    of range, a header too large to read), next to a healthy one, their results recorded in the
    same batches. Every delivery to the healthy server and to those answering 200 is recorded
    once and never sent again, their answers stored readably; the others have failed attempts
    logged and wait for the retry schedule."""
    name, count = "poisoned-endpoints", 40
    failing = [behaviour for behaviour, (status, _) in POISONED.items() if not 200 <= status < 300]
    offer, postbacks, traffic = network(suite, 11, name, ["ok", *POISONED])

    async def run():
        click_ids = await traffic.clicks(count)
        await traffic.postbacks(
            [{"click_id": click_id, "status": 2} for click_id in click_ids], connections=8
        )

    asyncio.run(run())
    unsent = Delivery.objects.filter(conversion__offer=offer, attempts=0)
    result = tally.wait(
        lambda: tally.count(name, traffic, offer, postbacks, suite.servers, failing=failing),
        SETTLE_SECONDS,
        until=lambda result: result.settled and not unsent.exists(),
    )
    if unsent.exists():
        result.problems.append(f"{unsent.count()} deliveries never had an attempt recorded")
    if result.resent:
        result.problems.append(f"{result.resent} postbacks answered 2xx were sent again")
    unreadable = (
        Delivery.objects.filter(conversion__offer=offer, postback__url__contains="/nul?")
        .exclude(response_excerpt="accepted\ufffd")
        .count()
    )
    if unreadable:
        result.problems.append(f"{unreadable} answers with a NUL byte not stored as 'accepted\ufffd'")
    _note_attempts(result, postbacks)
    _no_failures(result, traffic)
    return result


def two_nodes(suite: Suite) -> tally.Tally:
    """Two web nodes (each a gunicorn and a postback writer of its own, on 127.0.0.2 and
    127.0.0.3) behind one nginx, and two Celery workers with one beat, on the same PostgreSQL and
    Redis, in place of the suite's stack. Visitors and advertisers come as fast as they are
    answered; half-way, one web node (gunicorn and its writer) and one worker are SIGKILLed and
    stay dead. nginx sends the requests the dead node failed, and all later ones, to the other:
    no request fails, every answered click and accepted conversion is stored once, every postback
    is delivered, and the surviving node answers at least half as many requests per second as
    each node did before (THROUGHPUT_KEPT)."""
    name, before, after = "two-nodes", 8, 10
    suite.stack.stop()
    try:
        hosts = ["127.0.0.2", "127.0.0.3"]
        nodes = Stack(
            suite.stack.env,
            suite.stack.logs / name,
            suite.stack.workdir / name,
            proxy_port=free_port(58790),
            web_addresses=[f"{host}:{free_port(58765, host)}" for host in hosts],
            workers=2,
            web_workers=2,  # both nodes on one machine: fewer processes each
        )
        try:
            nodes.start()
            result = _two_nodes_under_traffic(suite, nodes, name, before, after)
        finally:
            nodes.stop()
    finally:
        suite.stack.start()
    for process, times in sorted(nodes.restarts.items()):
        result.notes.append(f"{process} exited by itself {times} time(s) and was started again")
    return result


# The surviving node's requests per second after the kill, at least, against each node's before.
# On one machine the nodes share its cores, so the surviving node alone may answer up to what both
# did; a node that nginx still sent requests to, waiting on it, would answer far less.
THROUGHPUT_KEPT = 0.5
THROUGHPUT_WINDOW = 5  # seconds
# A request whose answer the killed node had begun to send is cut off (nginx cannot send on an
# answer already begun): the client sees it fail, at the kill. Not accepted, so nothing to lose;
# a click it made is stored all the same.
CUT_OFF_SECONDS = 0.5


def _two_nodes_under_traffic(suite: Suite, nodes: Stack, name: str, before: float, after: float):
    # The affiliate's server answers in half a second: each worker always has postbacks in flight.
    offer, postbacks, traffic = network(suite, 12, name, ["slow"])
    traffic = dataclasses.replace(traffic, base_url=nodes.base_url)
    killed_at = []

    async def kill():
        await asyncio.sleep(before)
        killed_at.append(time.time())
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            loop.run_in_executor(None, nodes.kill_web_node, 1),
            loop.run_in_executor(None, nodes.kill_worker, 1),
        )

    async def run():
        await asyncio.gather(
            kill(), traffic.flow(before + after, connections=16, converting=0.5, approved=0.3)
        )

    asyncio.run(run())
    # A web process answers a click once Redis holds it (tracking/buffer.py): the clicks the killed
    # node answered in its last moments are stored like all others.
    result = tally.wait(lambda: tally.count(name, traffic, offer, postbacks, suite.servers), SETTLE_SECONDS)
    _cut_off_by_the_kill(result, traffic, killed_at[0])
    _no_failures(result, traffic)
    dead, surviving = nodes.web_addresses
    _check_spread(result, traffic, nodes.logs / "nginx-access.log", dead, killed_at[0])
    _check_throughput(result, traffic, killed_at[0])
    arrivals_per_delivery = Counter(
        delivery_id for _, _, _, delivery_id, _ in suite.servers.arrivals(f"/{name}/")
    )
    twice = (
        Click.objects.filter(offer=offer)
        .values("sub1")
        .annotate(clicks=Count("pk"))
        .filter(clicks__gt=1)
        .count()
    )
    result.notes.append(
        f"web node {dead} and worker-1 killed {before} s in; {surviving} and worker-2 went on; "
        f"{twice} visitors have two clicks stored (one the dead node stored without answering); "
        f"{sum(1 for times in arrivals_per_delivery.values() if times > 1)} postbacks sent again "
        f"after their lease (in flight in the killed worker)"
    )
    return result


def _check_spread(result, traffic, access_log, dead, killed_at):
    """Both nodes answered before the kill, in turn; afterwards nginx sent on what the dead one failed."""
    answered_by, sent_on = Counter(), 0
    for line in access_log.read_text().splitlines():
        if not re.search(r'"\w+ /(?:click|postback) ', line):
            continue
        # ... status bytes request_time upstream_response_time upstream_addr, the last two a
        # list ("a, b") when a node failed the request and the next one answered it.
        upstreams = line.rsplit('" ', 1)[1].replace(", ", ",").split()[4].split(",")
        answered_by[upstreams[-1]] += 1
        sent_on += len(upstreams) > 1
    answered_before = sum(
        1 for answer in traffic.answers if _answered(answer) and _done_at(answer) < killed_at
    )
    share = answered_by[dead] / max(1, answered_before)
    result.notes.append(
        f"{answered_before} requests answered before the kill, {share:.0%} by the node killed; "
        f"{sent_on} sent on by nginx to the other node after one failed them"
    )
    if not 0.3 <= share <= 0.7:
        result.problems.append(f"the node killed answered {share:.0%} of the requests before the kill")


def _check_throughput(result, traffic, killed_at):
    done = sorted(_done_at(answer) for answer in traffic.answers if _answered(answer))
    ended = done[-1]

    def per_second(start, seconds=THROUGHPUT_WINDOW):
        return sum(1 for at in done if start <= at < start + seconds) / seconds

    two_nodes = per_second(killed_at - THROUGHPUT_WINDOW)
    surviving = per_second(ended - THROUGHPUT_WINDOW)
    seconds_after = range(math.ceil(killed_at), math.floor(ended))
    slowest = min((per_second(start, 1) for start in seconds_after), default=0.0)
    result.notes.append(
        f"answered per second: {two_nodes:.0f} by two nodes in the {THROUGHPUT_WINDOW} s before the kill "
        f"({two_nodes / 2:.0f} per node), {surviving:.0f} by the surviving node in the last "
        f"{THROUGHPUT_WINDOW} s ({surviving / (two_nodes / 2):.0%} of a node's before); "
        f"{slowest:.0f} in the slowest second after the kill"
    )
    if surviving < THROUGHPUT_KEPT * two_nodes / 2:
        result.problems.append(
            f"the surviving node answered {surviving:.0f} requests/s, less than {THROUGHPUT_KEPT:.0%} of "
            f"{two_nodes / 2:.0f}, each node's before the kill"
        )


def _answered(answer) -> bool:
    return 200 <= answer.status < 400


def _done_at(answer) -> float:
    return answer.sent_at + answer.seconds


def _note_attempts(result, postbacks):
    """A note per affiliate server: its attempts, the successful ones, and the first failure."""
    for postback_id, behaviour in postbacks.items():
        attempts = DeliveryAttempt.objects.filter(delivery__postback_id=postback_id)
        first = attempts.exclude(error="").order_by("pk").first()
        result.notes.append(
            f"{behaviour}: {attempts.count()} attempts, {attempts.filter(error='').count()} succeeded"
            + (f"; failed with {first.http_code} {first.error!r}" if first else "")
        )


def _failures_only_during(result, traffic, what, started, ended, *, grace, statuses=None):
    """Requests may fail while something is down, visibly (a 5xx, of `statuses` when given, or
    no answer): not before it, nor `grace` seconds after it is back."""
    answered = Counter(answer.status for answer in traffic.answers if _failed(answer))
    result.notes.append(
        f"{what} lasted {ended - started:.1f} s; failed requests by answer: "
        + (", ".join(f"{status or 'none'}: {n}" for status, n in sorted(answered.items())) or "none")
    )

    def allowed(answer):
        during = started - 0.5 <= answer.sent_at <= ended + grace
        return during and (statuses is None or answer.status in statuses)

    outside = [answer for answer in traffic.answers if _failed(answer) and not allowed(answer)]
    if outside:
        result.problems.append(
            f"{len(outside)} requests failed outside {what} ({ended - started:.1f} s, and {grace:.0f} s "
            f"after) or unclearly, e.g. a {outside[0].kind} sent {outside[0].sent_at - ended:+.1f} s after "
            f"it, answered {outside[0].status} {outside[0].message!r}"
        )


def _failed(answer) -> bool:
    return answer.status == 0 or answer.status >= 500


def _cut_off_by_the_kill(result: tally.Tally, traffic: Traffic, killed_at: float):
    cut_off = [
        answer
        for answer in traffic.answers
        if answer.status == 0 and abs(_done_at(answer) - killed_at) <= CUT_OFF_SECONDS
    ]
    if cut_off:
        result.failed -= len(cut_off)
        traffic.answers = [answer for answer in traffic.answers if answer not in cut_off]
        result.notes.append(
            f"{len(cut_off)} requests cut off mid-answer by the kill, e.g. a {cut_off[0].kind}: "
            f"{cut_off[0].message!r}"
        )


def _no_failures(result: tally.Tally, traffic: Traffic):
    if result.failed:
        failed = next(answer for answer in traffic.answers if _failed(answer))
        result.problems.append(
            f"{result.failed} requests failed, e.g. a {failed.kind} answered "
            f"{failed.status} {failed.message!r}"
        )


SCENARIOS = [
    worker_killed,
    writer_killed,
    redis_outage,
    postgres_restart,
    broken_endpoints,
    poisoned_endpoints,
    duplicate_burst,
    slow_clients,
    two_nodes,
]
