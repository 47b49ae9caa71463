"""A PostgreSQL cluster and a Redis server of the suite's own, on free ports, which the scenarios
may stop and restart without touching the servers other work on this machine uses."""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

POSTGRES_BIN = Path(os.environ.get("RELIABILITY_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
POSTGRES_USER = "postgres"  # the system account the cluster runs as; initdb refuses root


def free_port(preferred: int, host: str = "127.0.0.1") -> int:
    """`preferred` when nothing listens there on `host`, else a port the kernel hands out."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            # As servers bind: a port left in TIME_WAIT by an earlier run is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError("no free port")


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {timeout:.0f} s")
        time.sleep(0.1)


class PostgresCluster:
    """A throwaway cluster: initdb into `directory`, trust authentication, 127.0.0.1 only."""

    def __init__(self, directory: Path, port: int, log: Path):
        self.directory, self.port, self.kept_log = directory, port, log
        # Written by the postgres account, which may not reach the checkout: copied there at the end.
        self.log = directory / "postgresql.log"
        self.data = directory / "data"
        self.url = f"postgres://postgres@127.0.0.1:{port}"
        self.running = False

    def _as_postgres(self, *command, check=True):
        return subprocess.run(
            ["runuser", "-u", POSTGRES_USER, "--", *command],
            check=check,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal is for the suite, which stops the cluster
        )

    def create(self):
        if not (POSTGRES_BIN / "initdb").exists():
            raise SystemExit(f"PostgreSQL server binaries not found in {POSTGRES_BIN}")
        self.directory.mkdir(parents=True)
        shutil.chown(self.directory, POSTGRES_USER, POSTGRES_USER)
        self._as_postgres(
            POSTGRES_BIN / "initdb",
            *("-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"),
            "--no-sync",
        )
        self.start()

    def start(self):
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            "-c max_connections=200 -c shared_buffers=128MB"
        )
        self._as_postgres(
            POSTGRES_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "start"
        )
        self.running = True

    def restart(self, down_seconds: float):
        """A fast shutdown (running transactions rolled back, clients disconnected), `down_seconds`
        without a database, then a start."""
        self._as_postgres(POSTGRES_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        self.running = False
        time.sleep(down_seconds)
        self.start()

    def destroy(self):
        if self.running:
            self._as_postgres(
                POSTGRES_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "stop", check=False
            )
            self.running = False
        if self.log.exists():
            shutil.copyfile(self.log, self.kept_log)
        shutil.rmtree(self.directory, ignore_errors=True)


class RedisServer:
    """redis-server with AOF persistence, as production runs it, so a stop and start keep its data."""

    def __init__(self, directory: Path, port: int, log: Path):
        self.directory, self.port, self.log = directory, port, log
        self.url = f"redis://127.0.0.1:{port}/0"
        self.client = redis.Redis(port=port, socket_connect_timeout=1)
        self._process = None

    def start(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a") as log:
            self._process = subprocess.Popen(
                [
                    "redis-server",
                    *("--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory)),
                    *("--appendonly", "yes", "--appendfsync", "everysec", "--save", ""),
                    *("--maxmemory-policy", "noeviction"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait(self._answers, 15, "redis-server did not answer")

    def stop(self):
        """A clean shutdown (SIGTERM): Redis writes its AOF before it exits."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=20)
            self._process = None

    def _answers(self) -> bool:
        try:
            return self.client.ping()
        except redis.ConnectionError:
            return False

    def destroy(self):
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
        shutil.rmtree(self.directory, ignore_errors=True)
