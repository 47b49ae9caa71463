"""Operators' metrics in the Prometheus text format (`GET /metrics`, README "Metrics").

Two kinds of metrics, kept apart on purpose:
- Events on the hot paths (clicks, advertiser postbacks, the writer's batches, delivery attempts)
  are counters and histograms defined here. Every process counts into its own memory-mapped file
  in PROMETHEUS_MULTIPROC_DIR (gunicorn's workers, the postback writer, Celery's worker
  processes), and a scrape adds the files up, so the numbers survive gunicorn rotating its
  workers. A count costs one `inc()` on a child looked up once per label value.
- State (deliveries due, the click buffer's backlog, disabled postbacks, beat's last run) is read
  from PostgreSQL and Redis when Prometheus asks (ops.collector): nothing on a hot path keeps it
  up to date, and it is never stale.

prometheus_client reads PROMETHEUS_MULTIPROC_DIR when it is first imported: config.settings sets
it (default `var/metrics`) before anything imports this module.
"""

import contextlib
import hmac
import ipaddress
import logging
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from django.conf import settings
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from config.http import meta_key

CONTENT_TYPE = CONTENT_TYPE_LATEST

logger = logging.getLogger(__name__)

CLICKS = Counter(
    "tracker_clicks",
    "Tracking link requests by outcome (accepted, refused, trafficback) and refusal reason.",
    ["outcome", "reason"],
)
ADVERTISER_POSTBACKS = Counter(
    "tracker_advertiser_postbacks",
    "Advertiser postbacks and pixel hits recorded, by source, outcome, refusal reason (empty when "
    "accepted) and advertiser id (none: the hit named no known offer).",
    ["source", "outcome", "reason", "advertiser"],
)
ADVERTISER_POSTBACK_WAIT = Histogram(
    "tracker_advertiser_postback_wait_seconds",
    "How long a web thread waits for its advertiser postback to be recorded: through the node's "
    "postback writer (writer) or in its own process (process).",
    ["path"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
WRITER_BATCH_SIZE = Histogram(
    "tracker_postback_writer_batch_size",
    "Advertiser postbacks the postback writer records in one transaction.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200),
)
WRITER_BATCH_SECONDS = Histogram(
    "tracker_postback_writer_batch_seconds",
    "How long the postback writer takes to record and answer one batch.",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
POSTBACK_ATTEMPTS = Counter(
    "tracker_postback_attempts",
    "Affiliate postback requests by result: success (2xx), http_3xx, http_4xx, http_5xx, "
    "no_answer (timeout, connection refused, address refused by the safety rules).",
    ["result", "kind"],
)
POSTBACK_IN_FLIGHT = Gauge(
    "tracker_postback_in_flight",
    "Affiliate postback requests running now, by host (summed over the live sender processes).",
    ["host"],
    multiprocess_mode="livesum",
)


@cache
def clicks_counted(outcome: str, reason: str):
    return CLICKS.labels(outcome, reason)


@cache
def advertiser_postbacks_counted(source: str, outcome: str, reason: str, advertiser: str):
    return ADVERTISER_POSTBACKS.labels(source, outcome, reason, advertiser)


@cache
def postback_attempts_counted(result: str, kind: str):
    return POSTBACK_ATTEMPTS.labels(result, kind)


def attempt_result(http_code: int) -> str:
    """The result label of an affiliate postback request: bounded, whatever the server answers."""
    if http_code == 0:
        return "no_answer"
    if 200 <= http_code < 300:
        return "success"
    return f"http_{http_code // 100}xx" if 300 <= http_code < 600 else "http_other"


# --- Scrapes --------------------------------------------------------------------------------


def metrics_text(*state_collectors) -> bytes:
    """Every process's counters on this machine, added up, and the readings of `state_collectors`
    (prometheus_client collectors that read the state when asked)."""
    try:
        _forget_dead_processes(settings.PROMETHEUS_MULTIPROC_DIR)
    except (OSError, OverflowError):  # never a reason to fail the scrape
        logger.exception("Metrics: gauges of exited processes could not be dropped")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    for collector in state_collectors:
        registry.register(collector)
    return generate_latest(registry)


# Headers a proxy adds to what it passes on. A scrape is let in by its address only when it
# carries none of them: a request through a proxy, or one that pretends to be, has no address of
# its own to judge (the header could name any, whatever a proxy in front of gunicorn appends).
PROXY_HEADERS = ("HTTP_X_REAL_IP", "HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED")


def _forget_dead_processes(directory: str) -> None:
    """Drops the gauges of processes that are gone. gunicorn's and Celery's exit hooks do so for a
    process that exits; one killed (SIGKILL, the kernel's OOM killer) runs no hook, and its last
    in-flight requests would otherwise be counted until the directory is emptied at the next deploy.
    The directory is the machine's own, and its processes share one pid namespace (README
    "Metrics"), so its pids are those of processes this one can see."""
    for path in Path(directory).glob("gauge_live*_*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not _running(int(pid)):
            with contextlib.suppress(FileNotFoundError):  # another scrape removed it first
                multiprocess.mark_process_dead(int(pid), directory)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another account's process
        return True
    return True


def scrape_allowed(request_meta: Mapping[str, str]) -> bool:
    """Whether a scrape may read the metrics: a direct request from an address in
    METRICS_ALLOWED_IPS, or one with `Authorization: Bearer <METRICS_TOKEN>` (compared in
    constant time; no token set, no way in by token)."""
    token = settings.METRICS_TOKEN
    scheme, _, offered = request_meta.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), token.encode()):
        return True
    proxy_headers = PROXY_HEADERS
    if settings.CLIENT_IP_HEADER:
        proxy_headers += (meta_key(settings.CLIENT_IP_HEADER),)
    if any(request_meta.get(header) for header in proxy_headers):
        return False
    remote_addr = request_meta.get("REMOTE_ADDR")
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in _allowed_networks(tuple(settings.METRICS_ALLOWED_IPS)))


@cache
def _allowed_networks(cidrs: tuple[str, ...]):
    return [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]
