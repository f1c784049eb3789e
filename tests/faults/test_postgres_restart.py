"""PostgreSQL restarted while officers submit: clients get a clean 503 (JSON, Retry-After) and never
hang, a submission is all or nothing, and retrying succeeds once the database is back.

A private cluster (initdb into a temporary directory, its own port and socket directory) that the test
restarts with `pg_ctl restart -m fast` (open sessions are terminated, in-flight transactions roll back),
gunicorn against it, and client threads that retry each officer's submission until it is acknowledged.
"""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psycopg2
import pytest

from bench import stack
from tests.faults.conftest import RedisServer, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
OFFICERS = 300
CLIENTS = 8
RESTART_AFTER = 60  # officers acknowledged before the restart
REQUEST_TIMEOUT = 20  # a request that takes longer counts as a hang


class PrivateCluster:
    """A PostgreSQL cluster of this test alone, run as the postgres user (initdb refuses root)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pg-fault-"))
        self.data = self.root / "data"
        self.port = stack.free_port()
        shutil.chown(self.root, "postgres", "postgres")
        self._as_postgres(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/survey"

    def _as_postgres(self, *command: object) -> None:
        command_line = ["runuser", "-u", "postgres", "--", *map(str, command)]
        subprocess.run(command_line, check=True, capture_output=True, timeout=120)

    def pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._as_postgres(
            PG_BIN / "pg_ctl", action, "-D", self.data, "-w", "-t", "60", "-o", options,
            "-l", self.root / "postgres.log", *extra,
        )  # fmt: skip

    def create_database(self) -> None:
        admin = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("CREATE DATABASE survey")
        admin.close()

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def cluster():
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 server binaries are not installed")
    cluster = PrivateCluster()
    try:
        cluster.pg_ctl("start")
        cluster.create_database()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


def bench_stack(env: dict[str, str], *args: str) -> str:
    run = subprocess.run(
        [sys.executable, str(stack.ROOT / "bench/stack.py"), *args],
        env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


class Officer:
    def __init__(self, token: str, answers: dict) -> None:
        self.token, self.answers = token, answers
        self.attempts: list[tuple[int, str, float, dict]] = []  # status, content type, seconds, body
        self.receipt: str | None = None


def drive(base_url: str, edition_id: int, officers: list[Officer], restart: threading.Event) -> list[str]:
    """CLIENTS threads submit every officer's answers, retrying on anything but 201 or 409."""
    todo: queue.Queue[Officer] = queue.Queue()
    for officer in officers:
        todo.put(officer)
    done = Counter()
    problems: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT) as http:
            while True:
                try:
                    officer = todo.get_nowait()
                except queue.Empty:
                    return
                for _ in range(100):
                    started = time.monotonic()
                    try:
                        response = http.post(
                            f"/api/v1/editions/{edition_id}/responses/",
                            json={"answers": officer.answers},
                            headers={"Authorization": f"Token {officer.token}"},
                        )
                    except httpx.TimeoutException:
                        problems.append("a request hung")
                        continue
                    except httpx.TransportError as exc:
                        problems.append(f"connection error: {type(exc).__name__}")
                        time.sleep(0.2)
                        continue
                    kind = response.headers.get("content-type", "")
                    body = response.json() if "json" in kind else {}
                    body["retry_after"] = response.headers.get("retry-after")
                    officer.attempts.append((response.status_code, kind, time.monotonic() - started, body))
                    if response.status_code == 201:
                        officer.receipt = body["receipt"]
                        break
                    if response.status_code == 409:  # an earlier attempt committed but its answer was lost
                        break
                    time.sleep(0.2)
                with lock:
                    done["officers"] += 1
                    if done["officers"] == RESTART_AFTER:
                        restart.set()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    return problems


def test_a_postgres_restart_mid_load_gives_clean_errors_and_retries_succeed(cluster, private_redis, tmp_path):
    key_dir = tmp_path / "pool-keys"
    env = stack.django_env(database_url=cluster.url, redis_url=private_redis.url, POOL_KEY_DIR=str(key_dir))
    plan_file = tmp_path / "plan.json"
    bench_stack(env, "prepare", str(OFFICERS), str(plan_file))
    plan = json.loads(plan_file.read_text())
    officers = [Officer(o["token"], o["answers"]) for o in plan["officers"]]

    port = stack.free_port()
    web = stack.gunicorn_start(env=env, port=port, workers=3, log=tmp_path / "web.log")
    restart = threading.Event()
    restarted = {}

    def restarter() -> None:
        if restart.wait(timeout=120):
            started = time.monotonic()
            cluster.pg_ctl("restart", "-m", "fast")
            restarted["seconds"] = time.monotonic() - started

    restarting = threading.Thread(target=restarter)
    restarting.start()
    try:
        problems = drive(f"http://127.0.0.1:{port}", plan["edition"], officers, restart)
        restarting.join(timeout=120)
    finally:
        stack.stop(web)
    assert "seconds" in restarted, "the database was restarted mid-load"

    attempts = [a for o in officers for a in o.attempts]
    failed = [a for a in attempts if a[0] not in (201, 409)]
    print(  # shown with -s: what the clients saw
        f"restart took {restarted['seconds']:.1f} s; {len(attempts)} requests: "
        f"{dict(Counter(a[0] for a in attempts))}; problems: {Counter(problems)}; "
        f"slowest {max(a[2] for a in attempts):.2f} s"
    )
    # Clean errors: every failure is a 503 in JSON with Retry-After, none hung or dropped the connection.
    assert problems == []
    assert failed, "the restart was seen by the clients"
    assert {(status, kind) for status, kind, _, _ in failed} == {(503, "application/json")}
    assert all(body["retry_after"] == "5" and body["detail"] for *_, body in failed)
    assert max(seconds for _, _, seconds, _ in attempts) < REQUEST_TIMEOUT
    # Retries succeed: every officer's submission ended acknowledged (or, if the one attempt whose
    # answer was lost had committed, refused as a second answer).
    outcomes = Counter(o.attempts[-1][0] for o in officers)
    assert set(outcomes) <= {201, 409} and sum(outcomes.values()) == OFFICERS
    assert all(o.receipt for o in officers if o.attempts[-1][0] == 201)
    for officer in officers:
        if officer.attempts[-1][0] == 409:
            assert any(a[0] != 201 for a in officer.attempts[:-1])

    # All or nothing: each officer marked submitted has exactly one sealed submission; after the release
    # every acknowledged receipt is in the dataset, and nothing else.
    counts = json.loads(bench_stack(env, "release", str(plan["edition"])))
    assert counts["participations_submitted"] == counts["staged_before_release"] == OFFICERS
    assert counts["responses_released"] == OFFICERS and counts["staged_after_release"] == 0
    from responses.services import receipt_digest

    acknowledged = {receipt_digest(o.receipt) for o in officers if o.receipt}
    assert acknowledged <= set(counts["receipt_digests"]) and len(counts["receipt_digests"]) == OFFICERS
    wait_until(lambda: web.poll() is not None, timeout=5, what="gunicorn to stop")
