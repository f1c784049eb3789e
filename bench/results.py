"""Benchmark: results pages, the results API and chart CSVs under gunicorn, for an edition with 1,000,
10,000 and 100,000 released responses (DESIGN "Numbers to reach": results page p95 <= 300 ms at 100k).

In a throwaway database, the 2017 reference edition gets synthetic released responses: the demo's 2017
generator (responses/demo.py: the published shares, free text written for the coding frames) with a new
seed for every 435 responses, so the distribution holds and the answers vary. Rows go in with PostgreSQL
COPY from in-memory text, in the release's row shapes (random UUID ids, no time columns). A sample of the
free-text answers gets human codes and the rest automatic codes from one trained run, as after coding.

Two gunicorn servers on loopback share the database: one with the results cache off (every request
aggregates in SQL: the cost of a cache miss, and what the code did before the cache) and one with it on.
For each size, each server gets sequential requests (one client, so each latency is one request's own):
every results page (HTML), the whole-edition API (JSON) and a few chart CSVs. Prints one JSON object
with median and p95 per size, server and kind of request; the first request of each URL on the cached
server (the miss) is reported apart from the warm ones.

Usage: .venv/bin/python bench/results.py   (env: BENCH_SIZES=1000,10000,100000 BENCH_REPEATS=10)
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import stack  # noqa: E402 - the repository root is on the path only from here

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_results")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "1000,10000,100000").split(",")]
REPEATS = int(os.environ.get("BENCH_REPEATS", "10"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
# Production serves static files from collectstatic's manifest: built once, in a directory of this run.
DATA_DIR = tempfile.mkdtemp(prefix="bench-results-")
PORTS = {"uncached": stack.free_port(), "cached": stack.free_port()}
HUMAN_SHARE = 0.05  # free-text answers coded by people; the trained run codes the rest
# Categories the trained run could not learn (alpha below the bar), so only human codes count for them.
HUMAN_ONLY = {"trends": ["tech_savvy_offenders", "view_and_delete"], "workload_reasons": ["lack_resources"]}
CSV_ITEMS = ["country", "workload_change", "avg_case_images_csam", "trends"]
TARGET_P95_MS = 300


def server_env(*, cached: bool) -> dict[str, str]:
    return stack.django_env(
        database_url=DB_URL,
        redis_url=REDIS_URL,
        DATA_DIR=DATA_DIR,
        RESULTS_CACHE_SECONDS="3600" if cached else "0",
    )


def setup() -> dict[str, Any]:
    """Migrate, import and open 2017 with its codebooks; an analyst with an MFA-passed session."""
    stack.django_setup(server_env(cached=True))
    stack.migrate()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from accounts.models import Role
    from accounts.services import api_token_create, user_create
    from coding.models import Category, CodeSource, CodingRun, RunKind, RunStatus
    from coding.services import codebooks_import_reference
    from surveys.presentation import build_pages
    from surveys.selectors import edition_definition
    from tests.conftest import login_with_mfa

    call_command("collectstatic", "--noinput", verbosity=0)
    edition = stack.reference_edition_open()
    codebooks_import_reference(edition=edition)
    for item_code, codes in HUMAN_ONLY.items():
        Category.objects.filter(
            codebook__edition=edition, codebook__item_code=item_code, code__in=codes
        ).update(human_only=True)
    runs = {
        code: CodingRun.objects.create(
            edition=edition, item_code=code, kind=RunKind.TRAINED, status=RunStatus.SUCCEEDED,
            classifier="tfidf-lr", progress=100,
        ).pk
        for code in edition.codebooks.values_list("item_code", flat=True)
    }  # fmt: skip
    analyst = user_create(email="bench-analyst@example.org", role=Role.ANALYST)
    client = login_with_mfa(Client(), analyst)
    return {
        "edition_id": edition.pk,
        "pages": len(build_pages(edition_definition(edition))),
        "session": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "token": api_token_create(user=analyst),
        "runs": runs,
        "categories": {
            (c.codebook.item_code, c.code): c.pk
            for c in Category.objects.filter(codebook__edition=edition).select_related("codebook")
        },
        "human": CodeSource.HUMAN.value,
        "auto": CodeSource.AUTO.value,
    }


def _copy_text(value: Any) -> str:
    """A value in COPY's text format (tab-separated; backslash, tab and newlines escaped)."""
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class Tables:
    """In-memory COPY input for the anonymous-side tables one chunk of responses writes."""

    COLUMNS = {
        "responses_response": ("id", "edition_id"),
        "responses_answer": ("id", "response_id", "item_id", "choice", "number", "text"),
        "coding_humancoding": ("id", "answer_id", "coder"),
        "coding_autocoding": ("id", "answer_id", "run_id"),
        "coding_answercode": (
            "id", "answer_id", "category_id", "source", "coder", "run_id", "classifier",
            "classifier_version", "probability", "accepted",
        ),
    }  # fmt: skip

    def __init__(self) -> None:
        self.buffers = {name: io.StringIO() for name in self.COLUMNS}
        self.rows = dict.fromkeys(self.COLUMNS, 0)

    def add(self, table: str, *values: Any) -> None:
        self.buffers[table].write("\t".join(r"\N" if v is None else _copy_text(v) for v in values) + "\n")
        self.rows[table] += 1

    def copy(self, cursor: Any) -> None:
        for table, columns in self.COLUMNS.items():
            buffer = self.buffers[table]
            buffer.seek(0)
            cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)


def load_responses(state: dict[str, Any], *, count: int, first_seed: int) -> dict[str, Any]:
    """COPY `count` synthetic released responses (and their codes) into the edition; returns timings."""
    from django.db import connection, transaction

    from responses.demo import demo_payloads_2017
    from results.cache import results_invalidate
    from surveys.models import Edition, Item
    from surveys.questionnaire import CHOICE_TYPES
    from surveys.selectors import edition_questionnaire

    edition = Edition.objects.get(pk=state["edition_id"])
    questionnaire = edition_questionnaire(edition)
    items = {i.code: (i.pk, i.type) for i in Item.objects.filter(edition=edition)}
    rng = random.Random(first_seed)
    started = time.monotonic()
    written, seed, totals = 0, first_seed, dict.fromkeys(Tables.COLUMNS, 0)
    while written < count:
        tables = Tables()
        chunk_end = min(count, written + 10_000)
        while written < chunk_end:
            payloads = demo_payloads_2017(seed=seed)[: chunk_end - written]
            seed += 1
            rng.shuffle(payloads)  # released rows carry no submission order
            for payload in payloads:
                response_id = uuid.uuid4()
                tables.add("responses_response", response_id, edition.pk)
                for code, value in questionnaire.clean_answers(payload["answers"]).items():
                    item_id, kind = items[code]
                    if kind in CHOICE_TYPES:
                        for choice in value if isinstance(value, list) else [value]:
                            tables.add(
                                "responses_answer", uuid.uuid4(), response_id, item_id, choice, None, None
                            )
                    elif kind in ("integer", "decimal"):
                        tables.add("responses_answer", uuid.uuid4(), response_id, item_id, None, value, None)
                    else:
                        answer_id = uuid.uuid4()
                        tables.add("responses_answer", answer_id, response_id, item_id, None, None, value)
                        if code in state["runs"]:
                            _code_answer(state, tables, rng, answer_id, code, payload["codes"].get(code, []))
            written += len(payloads)
        with transaction.atomic(), connection.cursor() as cursor:
            tables.copy(cursor.cursor)
        totals = {t: totals[t] + n for t, n in tables.rows.items()}
    with connection.cursor() as cursor:
        # What autovacuum does soon after a release: visibility map (index-only scans) and statistics.
        cursor.execute(
            "VACUUM ANALYZE responses_response, responses_answer, coding_humancoding, "
            "coding_autocoding, coding_answercode"
        )
    # What a pool release does after writing rows: the edition's cached results are stale.
    results_invalidate(edition_id=edition.pk)
    return {"load_seconds": round(time.monotonic() - started, 1), "rows": totals, "next_seed": seed}


def _code_answer(
    state: dict[str, Any],
    tables: Tables,
    rng: random.Random,
    answer_id: uuid.UUID,
    item: str,
    codes: list[str],
) -> None:
    """Human codes for a sample; the trained run's accepted codes (the written-for categories) elsewhere."""
    if rng.random() < HUMAN_SHARE:
        tables.add("coding_humancoding", uuid.uuid4(), answer_id, "bench")
        source, coder, run, probability = state["human"], "bench", None, None
    else:
        tables.add("coding_autocoding", uuid.uuid4(), answer_id, state["runs"][item])
        source, coder, run, probability = state["auto"], "", state["runs"][item], 0.9
    for code in codes:
        category = state["categories"][(item, code)]
        tables.add(
            "coding_answercode", uuid.uuid4(), answer_id, category, source, coder, run,
            "tfidf-lr" if run else "", "1" if run else "", probability, "t",
        )  # fmt: skip


def _summary(latencies: list[float]) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[max(0, math.ceil(len(ordered) * 0.95) - 1)], 1),
        "max_ms": round(ordered[-1], 1),
    }


def measure(base: str, state: dict[str, Any], *, repeats: int) -> dict[str, Any]:
    """Sequential requests: each results page, the API and some chart CSVs, `repeats` times each.

    The first request of every URL is kept apart ("first"): on the cached server it is the miss."""
    import requests

    edition = state["edition_id"]
    session = requests.Session()
    session.cookies.set("sessionid", state["session"])
    api_headers = {"Authorization": f"Token {state['token']}"}
    urls = {
        "page_html": [f"{base}/staff/results/{edition}/?page={p}" for p in range(1, state["pages"] + 1)],
        "api_json": [f"{base}/api/v1/editions/{edition}/results/"],
        "chart_csv": [f"{base}/staff/results/{edition}/items/{code}.csv" for code in CSV_ITEMS],
    }
    report: dict[str, Any] = {}
    for kind, targets in urls.items():
        first, warm = [], []
        for url in targets:
            for attempt in range(repeats):
                t0 = time.perf_counter()
                response = session.get(url, headers=api_headers if kind == "api_json" else {}, timeout=120)
                body = response.content
                elapsed = (time.perf_counter() - t0) * 1000
                if response.status_code != 200 or (kind == "page_html" and b"respondents" not in body):
                    raise RuntimeError(f"{url} answered {response.status_code}")
                (first if attempt == 0 else warm).append(elapsed)
        report[kind] = {"all": _summary(first + warm), "first": _summary(first), "warm": _summary(warm)}
    return report


def main() -> None:
    load_before = os.getloadavg()
    stack.recreate_database(DB_URL)
    state = setup()
    servers: dict[str, subprocess.Popen[bytes]] = {}
    sizes: list[dict[str, Any]] = []
    try:
        for mode, port in PORTS.items():
            servers[mode] = stack.gunicorn_start(
                env=server_env(cached=mode == "cached"), port=port, workers=WORKERS, timeout=300
            )
        loaded, seed = 0, 1
        for size in SIZES:
            load = load_responses(state, count=size - loaded, first_seed=seed)
            loaded, seed = size, load["next_seed"]
            entry: dict[str, Any] = {"responses": size, "load": load}
            for mode, port in PORTS.items():
                entry[mode] = measure(f"http://127.0.0.1:{port}", state, repeats=REPEATS)
            sizes.append(entry)
    finally:
        for server in servers.values():
            stack.stop(server)
        shutil.rmtree(DATA_DIR, ignore_errors=True)
    print(json.dumps({
        "benchmark": "results",
        "server": f"gunicorn, {WORKERS} sync workers, loopback, one client at a time",
        "repeats_per_url": REPEATS,
        # The machine is shared: its load says how far these latencies are from a quiet machine's.
        "load_average_1_5_15": {"before": [round(x, 1) for x in load_before], "after": [round(x, 1) for x in os.getloadavg()]},
        "sizes": sizes,
        "target": {"responses": 100_000, "page_html_p95_ms": TARGET_P95_MS},
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
