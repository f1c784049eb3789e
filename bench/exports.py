"""Benchmark of anonymised exports against PostgreSQL's own COPY of the same rows.

In a throwaway database (dropped at the end), the 2017 reference questionnaire gets 1,000, 10,000 and
100,000 synthetic responses (exports/synthetic.py), written with COPY straight into Response/Answer.
For each size: PostgreSQL's `COPY (<the export's own pivot query>) TO STDOUT WITH CSV`, and each format
built end to end by `export_run` (disclosure control included; free text left out, as COPY has none),
each in a fresh child process so its peak RSS can be read; plus CSV with free text redacted inline, to
show what redaction costs. Figures are medians of --repeats runs.

Usage: .venv/bin/python bench/exports.py [--sizes 1000,10000,100000] [--repeats 3] [--formats sav,dta]
Needs PostgreSQL (BENCH_PG, default postgres://postgres@127.0.0.1:5432); makes database BENCH_EXPORTS_DB
(default exports_bench), so two people on one server can run it at once with different names.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB = os.environ.get("BENCH_EXPORTS_DB", "exports_bench")
FORMATS = ["csv", "csv_long", "xlsx", "sav", "dta", "parquet"]


def setup_django(export_dir: str) -> None:
    os.environ["DATABASE_URL"] = f"{PG}/{DB}"
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ["EXPORT_DIR"] = export_dir
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def admin_sql(statement: str) -> None:
    import psycopg2

    conn = psycopg2.connect(f"{PG}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(statement)
    conn.close()


def prepare() -> int:
    """Create the database and an open 2017 edition; returns its id."""
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from surveys import services
    from surveys.reference import REFERENCE_DIR

    call_command("migrate", verbosity=0)
    series = services.series_get_or_create(slug="bench", title="Benchmark series")
    with (REFERENCE_DIR / "netclean-2017.xlsx").open("rb") as fh:
        definition = services.definition_from_upload(fileobj=fh, filename=fh.name)
    edition = services.edition_import_definition(series=series, label="2017", definition=definition)
    edition = services.edition_open(edition=edition, closes_at=timezone.now() + timedelta(days=30))
    return int(edition.pk)


def add_responses(edition_id: int, count: int, seed: int) -> None:
    """Bulk COPY of synthetic responses (the release path's row shapes: one Answer per choice)."""
    from django.db import connection

    from exports.synthetic import synthetic_answers
    from surveys.models import Item

    items = {i.code: (i.pk, i.type) for i in Item.objects.filter(edition_id=edition_id)}
    rng = random.Random(seed)
    chunk = 10_000
    with connection.cursor() as cursor:
        raw = cursor.cursor
        for start in range(0, count, chunk):
            responses, answers = io.StringIO(), io.StringIO()
            for n in range(start, min(count, start + chunk)):
                rid = uuid.uuid4()
                responses.write(f"{rid}\t{edition_id}\n")
                for code, value in synthetic_answers(rng, n).items():
                    item_id, kind = items[code]
                    for v in value if isinstance(value, list) else [value]:
                        choice = number = text = r"\N"
                        if kind in ("integer", "decimal"):
                            number = str(v)
                        elif kind in ("text", "long_text"):
                            text = str(v).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")
                        else:
                            choice = str(v)
                        answers.write(f"{uuid.uuid4()}\t{rid}\t{item_id}\t{choice}\t{number}\t{text}\n")
            responses.seek(0)
            answers.seek(0)
            raw.copy_from(responses, "responses_response", columns=("id", "edition_id"))
            raw.copy_from(
                answers,
                "responses_answer",
                columns=("id", "response_id", "item_id", "choice", "number", "text"),
            )
        cursor.execute("ANALYZE responses_response; ANALYZE responses_answer")


def copy_reference(edition_id: int) -> float:
    """Seconds for PostgreSQL to COPY the export's own query (same rows, same columns, same order)."""
    import secrets

    from django.db import connection

    from exports import selectors
    from surveys.models import Edition

    source = selectors.export_source(
        editions=[Edition.objects.get(pk=edition_id)], language="en", include_text=False
    )
    sql, params = selectors.pivot_sql(source, salt=secrets.token_hex(16))
    with connection.cursor() as cursor:
        statement = cursor.mogrify(sql, params).decode()
        sink = _Null()
        started = time.perf_counter()
        cursor.cursor.copy_expert(f"COPY ({statement}) TO STDOUT WITH CSV HEADER", sink)
        return time.perf_counter() - started


class _Null(io.RawIOBase):
    def write(self, data: bytes) -> int:  # type: ignore[override]
        return len(data)


def one(edition_id: int, fmt: str, free_text: str) -> dict[str, float]:
    """Child process: one export end to end; seconds and peak RSS above the idle process."""
    from accounts.models import User
    from exports import services
    from exports.models import ExportJob

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    user, _ = User.objects.get_or_create(email="bench@example.org")
    job = ExportJob.objects.create(
        requested_by=user,
        format=fmt,
        # Redaction timed inline, as when the analyst opts out of reading the texts first (exports/review.py).
        options=services.ExportOptions(format=fmt, free_text=free_text, review=False).as_dict(),
    )
    job.editions.set([edition_id])
    if free_text != "omit":
        from exports.anonymise.pii import redactor

        redactor()  # built once per worker process; not part of one export's time
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    services.export_run(job_id=job.pk)
    seconds = time.perf_counter() - started
    job.refresh_from_db()
    assert job.status == "succeeded", (job.error_type, job.error_message)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": seconds,
        "peak_rss_mb": peak / 1024,
        "rss_growth_mb": (peak - baseline) / 1024,
        "bytes": job.file_size or 0,
    }


def child(edition_id: int, fmt: str, free_text: str, export_dir: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", f"{edition_id},{fmt},{free_text}", "--export-dir", export_dir],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeats", type=int, default=3)
    runs_all = ["csv_redacted_text", *FORMATS]
    parser.add_argument("--formats", default=",".join(runs_all), help="a subset of " + ",".join(runs_all))
    parser.add_argument("--child")
    parser.add_argument("--export-dir")
    args = parser.parse_args()
    if args.child:
        setup_django(args.export_dir)
        edition_id, fmt, free_text = args.child.split(",")
        print(json.dumps(one(int(edition_id), fmt, free_text)))
        return

    export_dir = tempfile.mkdtemp(prefix="exports-bench-")
    admin_sql(f"DROP DATABASE IF EXISTS {DB}")
    admin_sql(f"CREATE DATABASE {DB}")
    try:
        setup_django(export_dir)
        edition_id = prepare()
        results = []
        have = 0
        for size in (int(s) for s in args.sizes.split(",")):
            add_responses(edition_id, size - have, seed=size)
            have = size
            copy_runs = [copy_reference(edition_id) for _ in range(args.repeats)]
            copy_s = statistics.median(copy_runs)
            entry: dict[str, object] = {
                "responses": size,
                "copy_seconds": round(copy_s, 3),
                "copy_seconds_runs": [round(s, 3) for s in copy_runs],
                "copy_rows_per_s": round(size / copy_s),
                "formats": {},
            }
            chosen = {"csv", *args.formats.split(",")}  # CSV is the reference of every ratio
            runs = [(label, "csv", "redacted") for label in ["csv_redacted_text"] if label in chosen]
            runs += [(f, f, "omit") for f in FORMATS if f in chosen]
            csv_s = None
            for label, fmt, free_text in runs:
                samples = [child(edition_id, fmt, free_text, export_dir) for _ in range(args.repeats)]
                seconds = statistics.median(s["seconds"] for s in samples)
                if label == "csv":
                    csv_s = seconds
                entry["formats"][label] = {  # type: ignore[index]
                    "seconds": round(seconds, 3),
                    "seconds_runs": [round(s["seconds"], 3) for s in samples],
                    "rows_per_s": round(size / seconds),
                    "peak_rss_mb": round(statistics.median(s["peak_rss_mb"] for s in samples), 1),
                    "rss_growth_mb": round(statistics.median(s["rss_growth_mb"] for s in samples), 1),
                    "bytes": int(samples[0]["bytes"]),
                }
            assert csv_s is not None
            entry["csv_vs_copy"] = round((size / csv_s) / (size / copy_s), 3)
            entry["ratio_to_csv"] = {
                f: round(entry["formats"][f]["seconds"] / csv_s, 2)  # type: ignore[index]
                for f in entry["formats"]  # type: ignore[attr-defined]
            }
            results.append(entry)
            print(json.dumps(entry), file=sys.stderr)
        print(json.dumps({"benchmark": "exports", "repeats": args.repeats, "results": results}, indent=2))
    finally:
        from django.db import connections

        connections.close_all()
        admin_sql(f"DROP DATABASE IF EXISTS {DB}")


if __name__ == "__main__":
    main()
