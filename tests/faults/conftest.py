"""Fault tests: real worker and web processes, and private Redis / PostgreSQL servers, that a test kills.

Nothing here stops a shared service: every server a test stops or restarts is one it started itself, on
its own port with its own directory. Worker and web processes run with the test database (committed
data: transactional tests) and a private Redis, and share the pool key and export directories with this
process, which plays the administrator's and the worker's part where a test needs it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from django.db import connection

from bench import stack


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class RedisServer:
    """A private redis-server (no persistence, like production's): killing it loses every message."""

    def __init__(self, directory: Path) -> None:
        self.port = stack.free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        wait_until(lambda: self._pings(client), timeout=20, what="the private redis-server")

    @staticmethod
    def _pings(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)


class Platform:
    """The processes of one fault test and what they share; everything started is stopped at teardown."""

    def __init__(self, root: Path, settings: Any) -> None:
        self.root = root
        self.key_dir = root / "pool-keys"
        self.export_dir = root / "exports"
        self.pause_dir = root / "pauses"
        for path in (self.key_dir, self.export_dir, self.pause_dir):
            path.mkdir(mode=0o700)
        settings.POOL_KEY_DIR = self.key_dir
        settings.EXPORT_DIR = self.export_dir
        self.redis = RedisServer(root / "redis")
        self.redis.start()
        self.processes: list[subprocess.Popen[bytes]] = []
        db = connection.settings_dict
        self.database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"

    def env(self, **extra: str) -> dict[str, str]:
        return stack.django_env(
            database_url=self.database_url,
            redis_url=self.redis.url,
            EXPORT_DIR=str(self.export_dir),
            FAULT_PAUSE_DIR=str(self.pause_dir),
            LOG_LEVEL="INFO",
            **extra,
        )

    def start_worker(self, *, pool: str = "prefork", beat: bool = False, **env: str) -> subprocess.Popen:
        worker = stack.celery_worker_start(
            env=self.env(**env), key_dir=self.key_dir, pool=pool, beat=beat, log=self.root / "worker.log"
        )
        self.processes.append(worker)
        return worker

    def start_web(self, **env: str) -> str:
        port = stack.free_port()
        self.processes.append(
            stack.gunicorn_start(env=self.env(**env), port=port, workers=2, log=self.root / "web.log")
        )
        return f"http://127.0.0.1:{port}"

    def send(self, task: str, *args: Any) -> None:
        """Queue a task as the web process would (by name, ids only) on the private broker."""
        client = Celery(broker=self.redis.url, set_as_current=False)
        try:
            client.send_task(task, args=list(args))
        finally:
            client.close()

    def arm(self, point: str) -> None:
        (self.pause_dir / f"{point}.armed").touch()

    def wait_paused(self, point: str, *, timeout: float = 90) -> int:
        """The id of the process now waiting at `point` (config/faults.py)."""
        reached = self.pause_dir / f"{point}.reached"

        def pid() -> int | None:
            for process in self.processes:
                if process.poll() is not None:
                    raise AssertionError(f"a process exited early; see {self.root}/worker.log")
            text = reached.read_text() if reached.exists() else ""
            return int(text) if text.strip() else None

        return int(wait_until(pid, timeout=timeout, what=f"a job to pause at {point}"))

    @staticmethod
    def kill_worker(worker: subprocess.Popen[bytes]) -> None:
        """SIGKILL the whole worker (its main process and pool processes at once), as a lost machine."""
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

    def log(self) -> str:
        path = self.root / "worker.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        for process in reversed(self.processes):
            stack.stop(process, timeout=10)
        if self.redis.process is not None and self.redis.process.poll() is None:
            self.redis.kill()


@pytest.fixture
def platform(transactional_db, settings, tmp_path) -> Iterator[Platform]:
    platform = Platform(tmp_path, settings)
    try:
        yield platform
    finally:
        platform.close()
