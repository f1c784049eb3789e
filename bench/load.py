"""Load test (`make load`): 1,000 vetted officers answer the 2017 edition concurrently through the API
(Locust, headless, loopback only), then the edition closes, a real Celery worker releases the pool, and
every acknowledged submission is accounted for. Prints one JSON summary; exits 1 if a check fails.

A fresh database (LOAD_DATABASE_URL), gunicorn and a Celery worker on this machine; bounded in count
(LOAD_OFFICERS), arrival rate (LOAD_SPAWN_RATE users/s) and time (LOAD_RUN_TIME seconds for Locust).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import stack  # noqa: E402 - the repository root is on the path only from here

DB_URL = os.environ.get("LOAD_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/load_survey")
REDIS_URL = os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/12")
OFFICERS = int(os.environ.get("LOAD_OFFICERS", "1000"))
SPAWN_RATE = int(os.environ.get("LOAD_SPAWN_RATE", "50"))
RUN_TIME = int(os.environ.get("LOAD_RUN_TIME", "180"))
WEB_WORKERS = int(os.environ.get("LOAD_WEB_WORKERS", "4"))
RELEASE_TIMEOUT = 180


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))], 1) if ordered else 0.0


def receipt_digest(code: str) -> str:
    # Recomputed here rather than imported, so the check does not trust the code it checks.
    return hashlib.sha256("".join(ch for ch in code.upper() if ch.isalnum()).encode()).hexdigest()


def run_locust(*, base_url: str, plan: Path, results: Path, log: Path) -> None:
    command = [
        str(stack.VENV_BIN / "locust"), "-f", str(ROOT / "bench/locustfile.py"), "--headless",
        "--users", str(OFFICERS), "--spawn-rate", str(SPAWN_RATE), "--run-time", f"{RUN_TIME}s",
        "--host", base_url, "--only-summary", "--stop-timeout", "30", "--exit-code-on-error", "0",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    env = {**os.environ, "LOAD_PLAN": str(plan), "LOAD_RESULTS": str(results)}
    with log.open("wb") as out:
        subprocess.run(command, env=env, stdout=out, stderr=out, timeout=RUN_TIME + 90, check=True)


def release_wait(edition_id: int) -> float:
    """Close the edition (which queues the release for the worker) and wait until the pool is empty."""
    from accounts.models import Participation, ParticipationStatus
    from responses.models import Response, StagedSubmission
    from surveys.models import Edition
    from surveys.services import edition_close

    started = time.monotonic()
    edition_close(edition=Edition.objects.get(pk=edition_id))
    submitted = Participation.objects.filter(edition_id=edition_id, status=ParticipationStatus.SUBMITTED)
    while time.monotonic() - started < RELEASE_TIMEOUT:
        pending = StagedSubmission.objects.filter(edition_id=edition_id).exists()
        if not pending and Response.objects.filter(edition_id=edition_id).count() >= submitted.count():
            break
        time.sleep(0.5)
    return round(time.monotonic() - started, 1)


def accounting(edition_id: int, outcome: dict) -> dict:
    from django.db.models import Count

    from accounts.models import Participation, ParticipationStatus
    from responses.models import ReceiptDigest, Response, StagedSubmission

    participations = Participation.objects.filter(edition_id=edition_id)
    submitted = participations.filter(status=ParticipationStatus.SUBMITTED).count()
    released = Response.objects.filter(edition_id=edition_id).count()
    digests = set(ReceiptDigest.objects.filter(edition_id=edition_id).values_list("digest", flat=True))
    receipts = outcome["receipts"]
    acknowledged = outcome["statuses"].get("201", 0)
    officers_twice = participations.values("user_id").annotate(n=Count("id")).filter(n__gt=1).count()
    missing = [r for r in receipts if receipt_digest(r) not in digests]
    return {
        "acknowledged_201": acknowledged,
        "participations_submitted": submitted,
        "responses_released": released,
        "receipt_digests_released": len(digests),
        "receipts_unique": len(set(receipts)) == len(receipts),
        "acknowledged_receipts_missing": len(missing),
        "officers_counted_twice": officers_twice,
        "still_staged": StagedSubmission.objects.filter(edition_id=edition_id).count(),
    }


def checks(acc: dict) -> dict[str, bool]:
    n = acc["acknowledged_201"]
    return {
        "every officer acknowledged": n == OFFICERS,
        "submitted == released == acknowledged": acc["participations_submitted"]
        == acc["responses_released"]
        == n,
        "one receipt digest per response": acc["receipt_digests_released"] == acc["responses_released"],
        "no duplicate receipts": acc["receipts_unique"] and acc["officers_counted_twice"] == 0,
        "nothing lost": acc["acknowledged_receipts_missing"] == 0 and acc["still_staged"] == 0,
    }


def main() -> int:
    stack.recreate_database(DB_URL)
    work = Path(tempfile.mkdtemp(prefix="load-"))
    key_dir = work / "pool-keys"
    env = stack.django_env(database_url=DB_URL, redis_url=REDIS_URL)
    stack.django_setup(env | {"POOL_KEY_DIR": str(key_dir)})
    stack.migrate()
    setup_started = time.monotonic()
    prepared = stack.prepare(officers=OFFICERS, series_slug="load")
    edition_id = prepared["edition"]
    plan, results = work / "plan.json", work / "results.json"
    plan.write_text(json.dumps(prepared))
    setup_seconds = round(time.monotonic() - setup_started, 1)

    worker = server = None
    try:
        worker = stack.celery_worker_start(env=env, key_dir=key_dir, log=work / "worker.log")
        port = stack.free_port()
        server = stack.gunicorn_start(env=env, port=port, workers=WEB_WORKERS, log=work / "gunicorn.log")
        run_locust(base_url=f"http://127.0.0.1:{port}", plan=plan, results=results, log=work / "locust.log")
        stack.stop(server)
        server = None
        outcome = json.loads(results.read_text())
        release_seconds = release_wait(edition_id)
    finally:
        stack.stop(server)
        stack.stop(worker)

    latencies = outcome["latencies_ms"]
    acc = accounting(edition_id, outcome)
    verdict = checks(acc)
    summary = {
        "benchmark": "load",
        "officers": OFFICERS,
        "spawn_rate_per_s": SPAWN_RATE,
        "web_workers": WEB_WORKERS,
        "requests": len(latencies),
        "failures": len(latencies) - acc["acknowledged_201"],
        "statuses": outcome["statuses"],
        "retries_503": outcome.get("retries_503", 0),
        "locust": outcome["locust"],
        "latency_ms": {
            "median": round(statistics.median(latencies), 1) if latencies else None,
            "p95": percentile(latencies, 0.95),
            "p99": percentile(latencies, 0.99),
            "max": round(max(latencies), 1) if latencies else None,
        },
        "submissions_per_s": round(acc["acknowledged_201"] / outcome["seconds"], 1)
        if outcome["seconds"]
        else None,
        "submission_window_s": round(outcome["seconds"], 1),
        "setup_s": setup_seconds,
        "release_s": release_seconds,
        "accounting": acc,
        "checks": verdict,
        "passed": all(verdict.values()),
    }
    print(json.dumps(summary, indent=2))
    if summary["passed"]:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"logs kept in {work}", file=sys.stderr)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
