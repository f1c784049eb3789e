"""The load test (bench/load.py, `make load`) in the suite: 1,000 vetted officers submit the 2017 edition
at once through the API (Locust, headless, loopback), then the edition closes, a real worker releases the
pool, and every acknowledged submission is accounted for. About a minute and a half on 2 cores.

It runs in its own database (the test database's name + "_load", made afresh and dropped after) and a
private redis-server, so nothing else's worker can take its jobs.
"""

import json
import os
import subprocess
import sys

import psycopg2
import pytest

from bench import stack
from tests.faults.conftest import RedisServer

pytestmark = [pytest.mark.load, pytest.mark.timeout(480)]


def test_a_thousand_officers_submitting_at_once_are_each_acknowledged_and_released_once(tmp_path):
    database_url = os.environ["DATABASE_URL"] + "_load"
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    env = {
        **os.environ,
        "LOAD_OFFICERS": "1000",
        "LOAD_DATABASE_URL": database_url,
        "LOAD_REDIS_URL": redis.url,
    }
    try:
        run = subprocess.run(
            [sys.executable, str(stack.ROOT / "bench/load.py")],
            env=env,
            capture_output=True, text=True, timeout=420, check=False,
        )  # fmt: skip
    finally:
        redis.kill()
        base, name = database_url.rsplit("/", 1)
        admin = psycopg2.connect(base + "/postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    assert run.stdout, run.stderr[-3000:]
    summary = json.loads(run.stdout)
    accounting = summary["accounting"]
    assert summary["officers"] == 1000 and summary["requests"] == 1000
    assert summary["statuses"] == {"201": 1000} and summary["failures"] == 0
    assert (
        accounting["acknowledged_201"]
        == accounting["participations_submitted"]
        == accounting["responses_released"]
        == accounting["receipt_digests_released"]
        == 1000
    )
    assert accounting["receipts_unique"] and accounting["officers_counted_twice"] == 0
    assert accounting["acknowledged_receipts_missing"] == 0 and accounting["still_staged"] == 0
    assert summary["passed"] and run.returncode == 0, run.stderr[-3000:]
