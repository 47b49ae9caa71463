"""Shared plumbing for the benchmarks: a production-like environment on PostgreSQL and Redis,
the project's processes, and wrk as the load generator."""

import os
import re
import runpy
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Read as a file: importing the config package would load the settings of this process.
WEB_SETTINGS = runpy.run_path(str(ROOT / "config" / "gunicorn.py"))
PYTHON = sys.executable
PORT = int(os.environ.get("BENCH_PORT", "8765"))
BASE_URL = f"http://127.0.0.1:{PORT}"


def environment(database: str) -> dict:
    """Production settings (DEBUG off) on a database of the benchmark's own."""
    pg = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"{pg}/{database}",
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"),
        "TRACKING_BASE_URL": BASE_URL,
        # As in production: the web processes hand advertiser postbacks to the node's writer.
        "POSTBACK_WRITER_SOCKET": os.path.join(tempfile.mkdtemp(prefix="postback-writer-"), "writer.sock"),
        "LOG_LEVEL": "WARNING",
    }


def create_database(env: dict, database: str):
    pg = env["DATABASE_URL"].rsplit("/", 1)[0]
    subprocess.run(["psql", f"{pg}/postgres", "-qc", f"DROP DATABASE IF EXISTS {database}"], check=True)
    subprocess.run(["psql", f"{pg}/postgres", "-qc", f"CREATE DATABASE {database}"], check=True)
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)


def manage_shell(env: dict, code: str) -> str:
    """Run Python in `manage.py shell` with the benchmark's settings; returns the last line printed."""
    result = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split("\n")[-2] if result.stdout.endswith("\n") else result.stdout.split("\n")[-1]


def count_rows(env: dict, model: str) -> int:
    """Rows of `model` ("app_label.ModelName") in the benchmark's database."""
    code = f"from django.apps import apps; print(apps.get_model({model!r}).objects.count())"
    return int(manage_shell(env, code))


def flush_redis(env: dict):
    import redis

    redis.Redis.from_url(env["REDIS_URL"]).flushdb()


@contextmanager
def processes(env: dict, *commands: list[str]):
    """Start the given commands in the project directory; stop them all at the end."""
    started = [
        subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
        for command in commands
    ]
    try:
        yield started
    finally:
        for process in started:
            os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def gunicorn(workers: int) -> list[str]:
    """The web process as in production (config/gunicorn.py), without its access log."""
    return [
        PYTHON,
        "-m",
        "gunicorn",
        "bench.wsgi",
        "--bind",
        f"127.0.0.1:{PORT}",
        "--workers",
        str(workers),
        "--worker-class",
        WEB_SETTINGS["worker_class"],
        "--threads",
        str(WEB_SETTINGS["threads"]),
        "--log-level",
        "warning",
        "--backlog",
        "2048",
    ]


# Clicks of the benchmark's offer (offer_id 1) and affiliate (pid 1), made now, for advertiser
# postbacks to name (bench/postbacks.lua reads their ids from `path`, one a line).
PRELOADED_CLICKS = """
import time
from django.db import connection
from offers.models import Affiliate, Offer
from tracking.models import new_click_id
from tracking.store import click_write_rows
offer, affiliate = Offer.objects.get(offer_id=1), Affiliate.objects.get(pid=1)
ids = [new_click_id() for _ in range(%(clicks)d)]
for start in range(0, len(ids), 1000):
    click_write_rows([{"click_id": click_id, "offer_id": offer.pk, "affiliate_id": affiliate.pk,
                       "created_at": time.time()} for click_id in ids[start:start + 1000]])
# The statistics autovacuum gathers within a minute of a table's first rows, which production
# lookups plan with (README "Planned for their own values"); the benchmark starts at once.
connection.cursor().execute("ANALYZE tracking_click")
with open(%(path)r, "w") as out:
    out.write("\\n".join(ids))
"""
POSTBACKS = str(ROOT / "bench" / "postbacks.lua")


def preload_clicks(env: dict, count: int, path: str) -> None:
    """`count` clicks, each for one advertiser postback that creates a conversion (PRELOADED_CLICKS)."""
    manage_shell(env, PRELOADED_CLICKS % {"clicks": count, "path": path})


def postback_writer() -> list[str]:
    return [PYTHON, "manage.py", "postback_writer"]


def celery_worker(*, queues: str = "", concurrency: int = 2, nice: int = 0) -> list[str]:
    """A worker of every queue, or of `queues` (comma-separated), at `nice` (as the Procfile's
    backfill worker)."""
    command = [
        PYTHON,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--loglevel=WARNING",
        f"--concurrency={concurrency}",
    ]
    if queues:
        command.append(f"--queues={queues}")
    return ["nice", "-n", str(nice), *command] if nice else command


def celery_beat(schedule: str) -> list[str]:
    return [PYTHON, "-m", "celery", "-A", "config", "beat", "--loglevel=WARNING", f"--schedule={schedule}"]


def wait_for_http(url: str, timeout: float = 30):
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def wait_for_writer(env: dict, timeout: float = 30):
    """Wait until the postback writer listens: until then the web processes record postbacks themselves."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(env["POSTBACK_WRITER_SOCKET"]):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the postback writer did not start within {timeout}s")
        time.sleep(0.2)


def wrk(
    url: str, *, seconds: int, connections: int, script: str | None = None, env: dict | None = None
) -> dict:
    """Run wrk against `url` and return requests/s, answered requests, errors and latency percentiles."""
    return wrk_result(wrk_started(url, seconds=seconds, connections=connections, script=script, env=env))


def wrk_started(
    url: str, *, seconds: int, connections: int, script: str | None = None, env: dict | None = None
) -> subprocess.Popen:
    """wrk started against `url`, for loads that run side by side: `wrk_result` waits for its figures."""
    if shutil.which("wrk") is None:
        raise SystemExit("The benchmarks use wrk as load generator: apt-get install wrk")
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        command[1:1] = ["-s", script]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wrk_result(process: subprocess.Popen) -> dict:
    output, errors = process.communicate()
    if process.returncode:
        raise RuntimeError(f"wrk failed: {output}{errors}")
    return wrk_figures(output)


def wrk_figures(output: str) -> dict:
    """Requests/s, answered requests, errors and latency percentiles (and the largest) of wrk's
    `--latency` output."""
    total = int(re.search(r"(\d+) requests in", output).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "answered": total - (int(bad.group(1)) if bad else 0),
        "refused": int(bad.group(1)) if bad else 0,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1)),
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),
        # Thread Stats: Latency <avg> <stdev> <max> <+/- stdev>
        "max_ms": _ms(re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+\w+)", output).group(1)),
    }


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def combine(results: list[dict]) -> dict:
    """Several wrk rounds as one: rates averaged, counts added, latencies as their median, the
    largest the largest."""

    def median(values):
        return sorted(values)[len(values) // 2]

    return {
        "rps": sum(r["rps"] for r in results) / len(results),
        "answered": sum(r["answered"] for r in results),
        "refused": sum(r["refused"] for r in results),
        "socket_errors": sum(r["socket_errors"] for r in results),
        "p50_ms": median([r["p50_ms"] for r in results]),
        "p99_ms": median([r["p99_ms"] for r in results]),
        "max_ms": max(r["max_ms"] for r in results),
    }
