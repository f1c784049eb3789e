"""Locust: every simulated officer submits the 2017 edition once through the API, then stops.

Run by bench/load.py (`make load`), which writes the plan (edition id, one API token and one answer set per
officer) to LOAD_PLAN and reads what happened from LOAD_RESULTS: the status of every request, the receipts
of the acknowledged (201) submissions and each latency. The last officer to finish ends the run.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import gevent
from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser

PLAN = json.loads(Path(os.environ["LOAD_PLAN"]).read_text())
RESULTS = Path(os.environ["LOAD_RESULTS"])
URL = f"/api/v1/editions/{PLAN['edition']}/responses/"

_officers = iter(PLAN["officers"])
_statuses: Counter[str] = Counter()
_receipts: list[str] = []
_latencies_ms: list[float] = []
_window = {"first_sent": 0.0, "last_answered": 0.0}
_finished = 0
_retries = [0]
MAX_ATTEMPTS = 5


class Officer(FastHttpUser):
    wait_time = constant(0)
    network_timeout = 30.0
    connection_timeout = 30.0

    @task
    def submit_once(self) -> None:
        global _finished
        officer = next(_officers, None)
        if officer is None:  # more users than officers: nothing left to answer
            raise StopUser
        sent = time.monotonic()
        _window["first_sent"] = _window["first_sent"] or sent
        # Like a real client, an officer told 503 ("briefly unavailable", nothing saved) waits for the
        # Retry-After time and sends again; every attempt is counted apart in `retries_503`.
        for attempt in range(1, MAX_ATTEMPTS + 1):
            with self.client.post(
                URL,
                json={"answers": officer["answers"]},
                headers={"Authorization": f"Token {officer['token']}"},
                name="submit",
                catch_response=True,
            ) as response:
                status = response.status_code
                retry_after = float(response.headers.get("Retry-After") or 1)
                if status == 201:
                    _receipts.append(response.json()["receipt"])
                    response.success()
                elif status == 503 and attempt < MAX_ATTEMPTS:
                    response.success()  # not a failure yet: it will be sent again
                else:
                    response.failure(f"HTTP {status} {response.error or ''}"[:200])
            if status != 503 or attempt == MAX_ATTEMPTS:
                break
            _retries[0] += 1
            gevent.sleep(min(retry_after, 5))
        _latencies_ms.append((time.monotonic() - sent) * 1000)
        _statuses[str(status)] += 1
        _window["last_answered"] = time.monotonic()
        _finished += 1
        if _finished == len(PLAN["officers"]):
            gevent.spawn(self.environment.runner.quit)
        raise StopUser


@events.quitting.add_listener
def _write_results(environment, **_kwargs) -> None:
    total = environment.stats.total
    RESULTS.write_text(
        json.dumps(
            {
                "statuses": dict(_statuses),
                "retries_503": _retries[0],
                "receipts": _receipts,
                "latencies_ms": _latencies_ms,
                "seconds": _window["last_answered"] - _window["first_sent"],
                "locust": {"requests": total.num_requests, "failures": total.num_failures},
            }
        )
    )
