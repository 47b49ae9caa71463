"""Real processes for end-to-end tests: a Celery worker or beat on the test database."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """DATABASE_URL of the database this test run uses, for processes started by the tests."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextlib.contextmanager
def celery(*args, ready_line: str, timeout: float = 60, env: dict | None = None):
    """Run `celery -A config ARGS` against the test database until the block ends.

    Waits until the process prints `ready_line`, so the block starts with a consuming worker.
    """
    command = [sys.executable, "-m", "celery", "-A", "config", *args]
    with running(command, ready_line, timeout, env) as process:
        yield process


@contextlib.contextmanager
def postback_writer(socket_path, timeout: float = 60):
    """Run `manage.py postback_writer` on `socket_path` against the test database. Yields the
    process and the lines it has printed so far (more arrive as it runs)."""
    command = [sys.executable, "manage.py", "postback_writer"]
    with running(command, "listening on", timeout, {"POSTBACK_WRITER_SOCKET": str(socket_path)}) as process:
        yield process


@contextlib.contextmanager
def running(command: list[str], ready_line: str, timeout: float, env: dict | None):
    """Run `command` in the project directory against the test database until the block ends,
    from the moment it prints `ready_line`. The process's `output` lists the lines it printed."""
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "DEBUG": "true",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    process.output = output = []
    try:
        deadline = time.monotonic() + timeout
        while not any(ready_line in line for line in output):
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                raise RuntimeError(f"{command[2]} exited before it was ready:\n" + "".join(output))
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[2]} was not ready in time:\n" + "".join(output))
            output.append(line)
        # Keep reading, or a chatty process blocks once the pipe is full.
        reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
        reader.start()
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at `host` now, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_until(condition, timeout: float = 30, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


@contextlib.contextmanager
def together(*managers):
    """Enter several `celery(...)` blocks at once: the processes start side by side, not one
    after the other. Yields what each block yields; every process started is stopped."""
    with contextlib.ExitStack() as stack:
        with ThreadPoolExecutor(len(managers)) as starting:
            futures = [starting.submit(manager.__enter__) for manager in managers]
        for manager, future in zip(managers, futures, strict=True):
            if future.exception() is None:
                stack.push(manager.__exit__)
        yield [future.result() for future in futures]


def kill_now(process):
    """SIGKILL a process started by `celery` and its children, as a crash would.

    The process is left unreaped, so that the end of its `celery` block still finds it."""
    os.killpg(process.pid, signal.SIGKILL)
    os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
