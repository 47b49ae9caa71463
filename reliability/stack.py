"""The product's processes as production runs them: gunicorn behind nginx (deploy/nginx-site.conf),
the postback writer, a Celery worker and Celery beat (or several web nodes and workers), each in a
process group of its own (so that it can be killed with its children), logging to a file of its
own, under a supervisor that starts again a process that exits by itself, as systemd or a Procfile
platform does in production."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from bench import harness
from deploy import nginx

WEB_WORKERS = 3
SUPERVISOR_SECONDS = 1.0


class Process:
    def __init__(self, name: str, command: list[str], env: dict, log: Path):
        self.name, self.command, self.env, self.log = name, command, env, log
        self._popen: subprocess.Popen | None = None

    def start(self):
        with open(self.log, "a") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} starting {self.name}\n")
            log.flush()
            self._popen = subprocess.Popen(
                self.command,
                cwd=harness.ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_for_line(self, text: str, timeout: float = 60):
        """Wait until the log shows `text` after the last start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            since_start = self.log.read_text(errors="replace").rsplit(f"starting {self.name}\n", 1)[-1]
            if text in since_start:
                return
            if self._popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {self.log}")
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} was not ready within {timeout:.0f} s; see {self.log}")

    @property
    def exited(self) -> bool:
        return self._popen is not None and self._popen.poll() is not None

    def kill(self):
        """SIGKILL the process and its children, as a crash or the out-of-memory killer would."""
        os.killpg(self._popen.pid, signal.SIGKILL)
        self._popen.wait()
        self._popen = None

    def stop(self):
        if self._popen is None:
            return
        group = self._popen.pid
        try:
            os.killpg(group, signal.SIGTERM)
            self._popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self._popen.wait()
        except ProcessLookupError:
            pass
        _wait_until_gone(group)
        self._popen = None


def _wait_until_gone(group: int, timeout: float = 10):
    """Wait for every process of the group, not only its leader: an nginx worker still closing
    its connections holds the listening port, and the next start could not bind it."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            os.killpg(group, 0)
            time.sleep(0.05)
        os.killpg(group, signal.SIGKILL)
        time.sleep(0.2)
    except ProcessLookupError:
        pass


class Stack:
    """nginx in front of one gunicorn per address of `web_addresses`, each beside a postback writer
    of its own (a web node), `workers` Celery workers and one beat, all on one database and Redis.
    With one web node and one worker, the processes are named web, writer and worker; with more,
    web-1, writer-1, worker-1 and so on."""

    def __init__(
        self,
        env: dict,
        logs: Path,
        workdir: Path,
        *,
        proxy_port: int,
        web_addresses: list[str],
        workers: int = 1,
        web_workers: int = WEB_WORKERS,
    ):
        python = sys.executable
        self.env, self.logs, self.workdir = env, logs, workdir
        logs.mkdir(parents=True, exist_ok=True)
        # Every request goes through nginx, on the site production renders from the same template.
        self.base_url = f"http://127.0.0.1:{proxy_port}"
        self.proxy_port, self.web_addresses = proxy_port, web_addresses
        site = nginx.Site(
            upstreams=web_addresses,
            http_listen=[f"127.0.0.1:{proxy_port}"],
            # The visitors' addresses come as a load balancer in front would pass them on (traffic.py).
            trusted_proxies=["127.0.0.1"],
            access_log=str(logs / "nginx-access.log"),
        )
        nginx.write_standalone(site, workdir / "nginx", error_log=logs / "nginx-error.log")
        self.proxy = Process(
            "nginx",
            nginx.command(workdir / "nginx", error_log=logs / "nginx-error.log"),
            env,
            logs / "nginx.log",
        )
        self.webs, self.writers = [], []
        for number, address in enumerate(web_addresses, 1):
            # The writer's socket is local to its node: a node's web processes reach only their own.
            node_env = {**env, "POSTBACK_WRITER_SOCKET": str(workdir / f"writer-{number}.sock")}
            web, writer = _named("web", number, web_addresses), _named("writer", number, web_addresses)
            command = [
                *(python, "-m", "gunicorn", "config.wsgi", "--config", "config/gunicorn.py"),
                *("--bind", address),
                *("--workers", str(web_workers), "--backlog", "2048", "--log-level", "warning"),
            ]
            self.webs.append(Process(web, command, node_env, logs / f"{web}.log"))
            command = [python, "manage.py", "postback_writer"]
            self.writers.append(Process(writer, command, node_env, logs / f"{writer}.log"))
        self.workers = []
        for number in range(1, workers + 1):
            worker = _named("worker", number, range(workers))
            command = [python, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO", "--concurrency=2"]
            # Each worker a node of its own: Celery tells them apart by their names.
            command += [f"--hostname={worker}@%h"] if workers > 1 else []
            self.workers.append(Process(worker, command, env, logs / f"{worker}.log"))
        self.beat = Process(
            "beat",
            [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel=INFO",
                f"--schedule={workdir / 'beat-schedule'}",
            ],
            env,
            logs / "beat.log",
        )
        self.web, self.writer, self.worker = self.webs[0], self.writers[0], self.workers[0]

        self.restarts = Counter()  # process name -> times it exited by itself and was started again
        self._lock = threading.Lock()  # the supervisor never sees a process the suite is killing
        self._stopped = threading.Event()

    def start(self):
        """Start every process (again, after `stop`), and the supervisor."""
        self._stopped = threading.Event()
        for process in self._processes:
            process.start()
        # gunicorn itself first: until it listens, nginx answers 502.
        for address in self.web_addresses:
            harness.wait_for_http(f"http://{address}/healthz", timeout=60)
        harness.wait_for_http(f"{self.base_url}/healthz", timeout=60)
        for writer in self.writers:
            writer.wait_for_line("listening on")
        for worker in self.workers:
            worker.wait_for_line("ready.")
        threading.Thread(
            target=self._supervise, args=(self._stopped,), name="supervisor", daemon=True
        ).start()

    def _supervise(self, stopped: threading.Event):
        while not stopped.wait(SUPERVISOR_SECONDS):
            with self._lock:
                for process in self._processes:
                    if process.exited:
                        self.restarts[process.name] += 1
                        process.start()

    @property
    def _processes(self):
        return (*self.webs, self.proxy, *self.writers, *self.workers, self.beat)

    def kill_worker(self, number: int = 1):
        with self._lock:
            self.workers[number - 1].kill()

    def restart_worker(self):
        with self._lock:
            self.worker.start()
        self.worker.wait_for_line("ready.")

    def kill_writer(self):
        with self._lock:
            self.writer.kill()

    def restart_writer(self):
        with self._lock:
            self.writer.start()
        self.writer.wait_for_line("listening on")

    def kill_web_node(self, number: int):
        """The whole web node: its gunicorn (master and workers) and its postback writer."""
        with self._lock:
            self.webs[number - 1].kill()
            self.writers[number - 1].kill()

    def stop(self):
        self._stopped.set()
        with self._lock:
            for process in (self.beat, *self.workers, self.proxy, *self.webs, *self.writers):
                process.stop()


def _named(name: str, number: int, nodes) -> str:
    return name if len(nodes) == 1 else f"{name}-{number}"
