"""Benchmark: results pages, the results API and chart CSVs under gunicorn, for an edition with 1,000,
10,000 and 100,000 released responses (DESIGN "Numbers to reach": results page p95 <= 300 ms at 100k).

In a throwaway database, the 2017 reference edition gets synthetic released responses: the demo's 2017
generator (responses/demo.py: the published shares, free text written for the coding frames) with a new
seed for every 435 responses, so the distribution holds and the answers vary. Rows go in with PostgreSQL
COPY from in-memory text, in the release's row shapes (random UUID ids, no time columns). A sample of the
free-text answers gets human codes and the rest automatic codes from one trained run, as after coding.

Two gunicorn servers on loopback share the database: one with the results cache off (every request
aggregates in SQL: the cost of a cache miss) and one with it on. For each size, the servers get
sequential requests, taking turns request by request (one client, so each latency is one request's own;
side by side under the same machine load): every results page (HTML), every page again with a filter
(agency_type = national: never warmed, so computed on its first request even with the cache on, from
the pair counts the warm-up keeps after a release, results/tallies.py, counted before measuring), the
whole-edition API (JSON) and a few chart CSVs. Server CPU per request (gunicorn worker plus its PostgreSQL backend) is read beside wall
time. The first request of each URL on the cached server (a miss: nothing warmed it) is reported apart
from the warm ones. Then what a release does now: the results change and a real Celery worker warms
them (results.warm); once the cache holds them, the first request of every URL is measured again
("after_warm_up", with the warm-up's own duration and CPU).

Usage: .venv/bin/python bench/results.py   (env: BENCH_SIZES=1000,10000,100000 BENCH_REPEATS=10)
BENCH_KEEP_DB=1 keeps the database of an earlier run and loads only the responses each size still lacks
(loading 100,000 takes minutes), so a change can be measured again on the same rows.
BENCH_BASELINE_SRC=DIR also serves another source tree (e.g. `git archive main | tar -x -C DIR`), uncached,
taking turns with the others: before and after in the same run. BENCH_SCHEMA_AS_IS=1 skips migrating (a
kept database migrated back to the baseline's indexes).
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
HUMAN_SHARE = 0.05  # free-text answers coded by people; the trained run codes the rest
# Categories the trained run could not learn (alpha below the bar), so only human codes count for them.
HUMAN_ONLY = {"trends": ["tech_savvy_offenders", "view_and_delete"], "workload_reasons": ["lack_resources"]}
CSV_ITEMS = ["country", "workload_change", "avg_case_images_csam", "trends"]
TARGET_P95_MS = 300
KEEP_DB = os.environ.get("BENCH_KEEP_DB", "") not in ("", "0")
# Another source tree (e.g. `git archive main`) served beside this one on the same database, uncached:
# before and after side by side. Its schema must be this tree's or older (extra indexes stay visible to it).
# BENCH_SCHEMA_AS_IS=1 (with BENCH_KEEP_DB): no migration, e.g. a kept database migrated back to the
# baseline's schema, to measure the baseline on its own indexes.
SCHEMA_AS_IS = os.environ.get("BENCH_SCHEMA_AS_IS", "") not in ("", "0")
BASELINE_SRC = Path(os.environ["BENCH_BASELINE_SRC"]) if os.environ.get("BENCH_BASELINE_SRC") else None


def server_env(*, cached: bool, name: str = "bench") -> dict[str, str]:
    # The application name tells this server's PostgreSQL backends apart (their CPU is measured).
    database_url = f"{DB_URL}{'&' if '?' in DB_URL else '?'}application_name={name}"
    return stack.django_env(
        database_url=database_url,
        redis_url=REDIS_URL,
        DATA_DIR=DATA_DIR,
        RESULTS_CACHE_SECONDS="3600" if cached else "0",
        # The bench's "release" is a coding-generation change; warm it at once, as a release does.
        RESULTS_WARM_DEBOUNCE_SECONDS="0",
    )


def setup() -> dict[str, Any]:
    """Migrate, import and open 2017 with its codebooks; an analyst with an MFA-passed session."""
    stack.django_setup(server_env(cached=True))
    if not SCHEMA_AS_IS:
        stack.migrate()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from accounts.models import Role, User
    from accounts.services import api_token_create, user_create
    from coding.models import Category, CodeSource, CodingRun, RunKind, RunStatus
    from coding.services import codebooks_import_reference
    from surveys.models import Edition
    from surveys.presentation import build_pages
    from surveys.selectors import edition_definition
    from tests.conftest import login_with_mfa

    call_command("collectstatic", "--noinput", verbosity=0)
    edition = Edition.objects.filter(series__slug="bench", label="2017").first()
    if edition is None:  # a new database (BENCH_KEEP_DB finds the edition of an earlier run)
        edition = stack.reference_edition_open()
        codebooks_import_reference(edition=edition)
        for item_code, codes in HUMAN_ONLY.items():
            Category.objects.filter(
                codebook__edition=edition, codebook__item_code=item_code, code__in=codes
            ).update(human_only=True)
        for code in edition.codebooks.values_list("item_code", flat=True):
            run = CodingRun.objects.create(
                edition=edition, item_code=code, kind=RunKind.TRAINED, status=RunStatus.SUCCEEDED,
                classifier="tfidf-lr", progress=100,
            )  # fmt: skip
            # It covered every category (as the coders below saw every one): no final code is unknown.
            run.categories.set(Category.objects.filter(codebook__edition=edition, codebook__item_code=code))
    runs = dict(CodingRun.objects.filter(edition=edition).values_list("item_code", "pk"))
    analyst = User.objects.filter(email="bench-analyst@example.org").first() or user_create(
        email="bench-analyst@example.org", role=Role.ANALYST
    )
    client = login_with_mfa(Client(), analyst)
    return {
        "edition_id": edition.pk,
        "released": edition.responses.count(),
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
        "coding_categoryseen": ("id", "coding_id", "category_id"),
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

    from coding.finals import final_codes_refresh
    from responses.demo import demo_payloads_2017
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
    # The codes went in by COPY, around coding's services: keep their final codes as a coding write does.
    refresh_started = time.monotonic()
    for code in state["runs"]:
        final_codes_refresh(item_id=items[code][0])
    refresh_seconds = round(time.monotonic() - refresh_started, 1)
    with connection.cursor() as cursor:
        # What autovacuum does soon after a release: visibility map (index-only scans) and statistics.
        cursor.execute(
            "VACUUM ANALYZE responses_response, responses_answer, coding_humancoding, "
            "coding_autocoding, coding_answercode, coding_categoryseen, coding_finalcoding, coding_finalcode, "
            "coding_finalunknown, coding_finalfilled, coding_autofill"
        )
    # The released count changed, so nothing cached for the edition is read again (results/cache.py).
    return {
        "load_seconds": round(time.monotonic() - started, 1),
        "final_codes_refresh_seconds": refresh_seconds,
        "rows": totals,
        "next_seed": seed,
    }


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
        coding_id = uuid.uuid4()
        tables.add("coding_humancoding", coding_id, answer_id, "bench")
        for (item_code, _), category in state["categories"].items():
            if item_code == item:  # offered every category of the codebook
                tables.add("coding_categoryseen", uuid.uuid4(), coding_id, category)
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


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone since it was listed
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


class Server:
    """A gunicorn server under measurement; its CPU is its workers' plus its PostgreSQL backends' (found
    by the application name its database URL sets), so per-request CPU is read beside wall time."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], port: int) -> None:
        self.name, self.process, self.base = name, process, f"http://127.0.0.1:{port}"

    def cpu(self, admin: Any) -> float:
        master = self.process.pid
        try:
            workers = [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
        except OSError:
            workers = []
        with admin.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [self.name])
            backends = [row[0] for row in cursor.fetchall()]
        return _cpu_seconds(workers + backends)


def _urls(state: dict[str, Any]) -> dict[str, list[str]]:
    edition = state["edition_id"]
    return {
        "page_html": [f"/staff/results/{edition}/?page={p}" for p in range(1, state["pages"] + 1)],
        # A filter (national agencies, ~30 % of respondents): never warmed, so on every server a first
        # request computes it; the same pages as above.
        "page_html_filtered": [
            f"/staff/results/{edition}/?page={p}&f_agency_type=national" for p in range(1, state["pages"] + 1)
        ],
        "api_json": [f"/api/v1/editions/{edition}/results/"],
        "chart_csv": [f"/staff/results/{edition}/items/{code}.csv" for code in CSV_ITEMS],
    }


def measure(servers: list[Server], state: dict[str, Any], *, repeats: int) -> dict[str, Any]:
    """Sequential requests: each results page, the API and some chart CSVs, `repeats` times each, the
    servers taking turns request by request (side by side under the same machine load).

    The first request of every URL is kept apart ("first"): on the cached server it is the miss."""
    import psycopg2
    import requests

    session = requests.Session()
    session.cookies.set("sessionid", state["session"])
    api_headers = {"Authorization": f"Token {state['token']}"}
    admin = psycopg2.connect(DB_URL)
    admin.autocommit = True
    report: dict[str, Any] = {server.name: {} for server in servers}
    try:
        for kind, paths in _urls(state).items():
            first = {s.name: [] for s in servers}
            warm = {s.name: [] for s in servers}
            cpu = {s.name: [] for s in servers}
            for path in paths:
                for attempt in range(repeats):
                    for server in servers:
                        cpu_before = server.cpu(admin)
                        elapsed = _get(session, server.base + path, kind, api_headers)
                        cpu[server.name].append((server.cpu(admin) - cpu_before) * 1000)
                        (first if attempt == 0 else warm)[server.name].append(elapsed)
            for server in servers:
                f, w = first[server.name], warm[server.name]
                report[server.name][kind] = {
                    "all": _summary(f + w),
                    "first": _summary(f),
                    "warm": _summary(w) if w else None,
                    # Server CPU (gunicorn worker + PostgreSQL backend) per request, all requests.
                    "cpu_ms": _summary(cpu[server.name]),
                }
    finally:
        admin.close()
    return report


def _get(session: Any, url: str, kind: str, api_headers: dict[str, str]) -> float:
    """One request's wall time in ms; anything but a 200 with the expected content stops the run."""
    t0 = time.perf_counter()
    response = session.get(url, headers=api_headers if kind == "api_json" else {}, timeout=300)
    body = response.content
    elapsed = (time.perf_counter() - t0) * 1000
    if response.status_code != 200 or (kind.startswith("page_html") and b"respondents" not in body):
        raise RuntimeError(f"{url} answered {response.status_code}")
    return elapsed


def after_warm_up(cached: Server, state: dict[str, Any]) -> dict[str, Any]:
    """Make every cached entry stale (a new coding generation; a release does it by changing the count)
    and let the real worker warm them: results_invalidate queues the same task a release queues
    (results.warm, with no debounce in this bench); then request every URL once on the cached server.
    The warm-up's duration is from queueing to everything cached (results and quote ids)."""
    from results.cache import results_invalidate
    from results.services import results_warmed
    from results.tallies import filter_tallies_current
    from surveys.models import Edition

    edition = Edition.objects.get(pk=state["edition_id"])
    started = time.monotonic()
    results_invalidate(edition_id=edition.pk)  # outside a transaction: bump and queue now
    while not results_warmed(edition=edition):
        if time.monotonic() - started > 600:
            raise RuntimeError("the worker did not warm the results in 10 minutes")
        time.sleep(0.05)
    warm = {"seconds": round(time.monotonic() - started, 2)}
    # Then the filters' tallies the warm-up counts last (results/tallies.py), so the first views below
    # do not share the machine with it.
    while not filter_tallies_current(edition_id=edition.pk):
        if time.monotonic() - started > 600:
            raise RuntimeError("the worker did not count the filter tallies in 10 minutes")
        time.sleep(0.05)
    warm["with_filter_tallies_seconds"] = round(time.monotonic() - started, 2)
    return {"warm_up": warm, **measure([cached], state, repeats=1)[cached.name]}


def main() -> None:
    load_before = os.getloadavg()
    if not (KEEP_DB and stack.database_exists(DB_URL)):
        stack.recreate_database(DB_URL)
    state = setup()
    from results.cache import results_stale  # Django is configured by setup()
    from results.tallies import filter_tallies_refresh

    modes = {"uncached": ROOT, "cached": ROOT}
    if BASELINE_SRC:
        modes["baseline_uncached"] = BASELINE_SRC
    servers: list[Server] = []
    processes: list[subprocess.Popen[bytes]] = []
    sizes: list[dict[str, Any]] = []
    try:
        for mode, root in modes.items():
            port = stack.free_port()
            env = server_env(cached=mode == "cached", name=mode)
            process = stack.gunicorn_start(env=env, port=port, workers=WORKERS, timeout=300, root=root)
            servers.append(Server(mode, process, port))
            processes.append(process)
        key_dir = Path(DATA_DIR) / "pool-keys"
        key_dir.mkdir()
        worker_env = server_env(cached=True, name="worker")
        processes.append(stack.celery_worker_start(env=worker_env, key_dir=key_dir))
        loaded = state["released"]
        seed = 1 if not loaded else 1000 + loaded  # a kept database: new seeds for the rows it lacks
        for size in SIZES:
            if size < loaded:
                raise SystemExit(f"the kept database holds {loaded} responses, more than {size}")
            load = load_responses(state, count=size - loaded, first_seed=seed)
            loaded, seed = size, load["next_seed"]
            entry: dict[str, Any] = {"responses": size, "load": load}
            # Nothing cached before may be read (a kept database can hold the same count as a run before).
            results_stale(edition_id=state["edition_id"])
            # What the warm-up after that release or coding change does last, in the worker: the pair
            # counts that filtered views read (results/tallies.py). The cache stays empty.
            started = time.monotonic()
            filter_tallies_refresh(edition_id=state["edition_id"])
            entry["filter_tallies_refresh_seconds"] = round(time.monotonic() - started, 1)
            entry |= measure(servers, state, repeats=REPEATS)
            entry["after_warm_up"] = after_warm_up(servers[1], state)
            sizes.append(entry)
    finally:
        for process in processes:
            stack.stop(process)
        shutil.rmtree(DATA_DIR, ignore_errors=True)
    print(json.dumps({
        "benchmark": "results",
        "server": f"gunicorn, {WORKERS} gthread workers (config/gunicorn_conf.py), loopback, one client at a time",
        "repeats_per_url": REPEATS,
        # The machine is shared: its load says how far these latencies are from a quiet machine's.
        "load_average_1_5_15": {"before": [round(x, 1) for x in load_before], "after": [round(x, 1) for x in os.getloadavg()]},
        "sizes": sizes,
        "target": {"responses": 100_000, "page_html_p95_ms": TARGET_P95_MS},
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
