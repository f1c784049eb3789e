"""CPU per API submission, in one process: robust to a shared machine where wall-clock rates are not.

Sends N complete 2017-questionnaire submissions, each from a different officer, through the WSGI
application (the whole middleware stack, DRF, token authentication, validation, sealing, PostgreSQL) one
after another, and reports per submission: this process's CPU (Python), the PostgreSQL backend's CPU
(read from /proc for the backend serving this process), wall time, and the statements sent (counted on a
sample). Optionally writes a cProfile of the measured requests.

    .venv/bin/python bench/submission_cpu.py [--requests 1000] [--rounds 3] [--profile out.prof]

BENCH_DATABASE_URL (a throwaway database, recreated) and BENCH_REDIS_URL as for bench/submissions.py.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import stack  # noqa: E402 - the repository root is on the path only from here
from bench.submissions import COMPLETE_2017  # noqa: E402

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_submission_cpu")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (PostgreSQL backends run as another user: stat is public)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _environ(edition_id: int, token: str, body: bytes) -> dict[str, object]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": f"/api/v1/editions/{edition_id}/responses/",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Token {token}",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="submissions per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--sample", type=int, default=20, help="submissions whose statements are counted")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the last round here")
    args = parser.parse_args()

    stack.recreate_database(DB_URL)
    key_dir = Path(tempfile.mkdtemp(prefix="bench-submission-cpu-"))
    stack.django_setup(stack.django_env(database_url=DB_URL, redis_url=REDIS_URL, POOL_KEY_DIR=str(key_dir)))
    stack.migrate()
    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from responses.models import StagedSubmission
    from responses.services import pool_keys_replenish

    edition = stack.reference_edition_open()
    needed = args.warmup + args.sample + args.requests * args.rounds
    tokens = iter(stack.officers_with_tokens(edition=edition, count=needed, prefix="cpu"))
    pool_keys_replenish(spare=2)
    application = get_wsgi_application()
    body = json.dumps({"answers": COMPLETE_2017}).encode()

    def submit() -> None:
        status: list[str] = []
        chunks = application(_environ(edition.pk, next(tokens), body), lambda s, h, e=None: status.append(s))
        b"".join(chunks)
        if not status[0].startswith("201"):
            raise SystemExit(f"submission refused: {status[0]}")

    for _ in range(args.warmup):
        submit()
    with CaptureQueriesContext(connection) as captured:
        for _ in range(args.sample):
            submit()
    statements = [q["sql"] for q in captured.captured_queries]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]

    rounds = []
    profiler = cProfile.Profile() if args.profile else None
    for index in range(args.rounds):
        last = index == args.rounds - 1
        pg0, cpu0, wall0 = _proc_cpu_seconds(backend), time.process_time(), time.perf_counter()
        if profiler and last:
            profiler.enable()
        for _ in range(args.requests):
            submit()
        if profiler and last:
            profiler.disable()
        pg1, cpu1, wall1 = _proc_cpu_seconds(backend), time.process_time(), time.perf_counter()
        rounds.append(
            {
                "python_cpu_ms": round((cpu1 - cpu0) * 1000 / args.requests, 3),
                "postgres_cpu_ms": round((pg1 - pg0) * 1000 / args.requests, 3),
                "wall_ms": round((wall1 - wall0) * 1000 / args.requests, 3),
            }
        )
    if profiler:
        profiler.dump_stats(str(args.profile))
    staged = StagedSubmission.objects.filter(edition=edition).count()
    report = {
        "benchmark": "submission_cpu",
        "requests_per_round": args.requests,
        "rounds": rounds,
        "median": {k: statistics.median(r[k] for r in rounds) for k in rounds[0]},
        "statements_per_submission": round(len(statements) / args.sample, 2),
        "statements_of_one_submission": statements[: len(statements) // args.sample],
        "staged": staged,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
