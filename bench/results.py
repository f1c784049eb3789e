"""Benchmark: the results of an edition with 100,000 responses (DESIGN: results page p95 <= 300 ms).

Writes 100k synthetic 2017 responses (the demo generator with different seeds) into a throwaway
database, then times each results page's aggregation and the whole-edition results API. Prints JSON.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_results")
RESPONSES = int(os.environ.get("BENCH_RESPONSES", "100000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "20"))


def main() -> None:
    import psycopg2

    name = DB_URL.rsplit("/", 1)[1]
    admin = psycopg2.connect(DB_URL.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    os.environ.update(
        DATABASE_URL=DB_URL, SECRET_KEY="bench", DJANGO_SETTINGS_MODULE="config.settings",
        ALLOWED_HOSTS="testserver", REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"),
    )  # fmt: skip
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from datetime import timedelta

    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test import Client
    from django.utils import timezone

    from accounts.models import Role
    from accounts.services import api_token_create, user_create
    from responses.demo import demo_payloads_2017
    from responses.services import responses_write_released
    from results.selectors import edition_results
    from surveys import services
    from surveys.presentation import build_pages
    from surveys.reference import REFERENCE_DIR
    from surveys.selectors import edition_definition, edition_questionnaire

    call_command("migrate", verbosity=0)
    series = services.series_get_or_create(slug="bench")
    with (REFERENCE_DIR / "netclean-2017.xlsx").open("rb") as fh:
        definition = services.definition_from_upload(fileobj=fh, filename=fh.name)
    edition = services.edition_import_definition(series=series, label="2017", definition=definition)
    edition = services.edition_open(edition=edition, closes_at=timezone.now() + timedelta(days=1))
    questionnaire = edition_questionnaire(edition)
    started = time.monotonic()
    written, seed = 0, 0
    while written < RESPONSES:
        batch = demo_payloads_2017(seed=seed)[: RESPONSES - written]
        cleaned = [{"answers": questionnaire.clean_answers(p["answers"])} for p in batch]
        with transaction.atomic():
            written += responses_write_released(edition_id=edition.pk, payloads=cleaned)
        seed += 1
    load_seconds = time.monotonic() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("SELECT count(*) FROM responses_answer")
        answers = cursor.fetchone()[0]

    pages = build_pages(edition_definition(edition))
    per_page: dict[str, dict[str, float]] = {}
    for page in pages:
        timings = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            edition_results(edition=edition, item_codes=page.item_codes)
            timings.append((time.perf_counter() - t0) * 1000)
        timings.sort()
        per_page[page.code] = {
            "p50_ms": round(statistics.median(timings), 1),
            "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 1),
        }

    analyst = user_create(email="bench-analyst@example.org", role=Role.ANALYST)
    client = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=analyst)}")
    api = []
    for _ in range(max(5, REPEATS // 4)):
        t0 = time.perf_counter()
        assert client.get(f"/api/v1/editions/{edition.pk}/results/").status_code == 200
        api.append((time.perf_counter() - t0) * 1000)
    api.sort()
    worst_page_p95 = max(v["p95_ms"] for v in per_page.values())
    print(json.dumps({
        "benchmark": "results",
        "responses": written,
        "answer_rows": answers,
        "load_seconds": round(load_seconds, 1),
        "results_page_aggregation_ms": per_page,
        "worst_page_p95_ms": worst_page_p95,
        "whole_edition_api_ms": {"p50": round(statistics.median(api), 1), "max": round(api[-1], 1)},
        "target_page_p95_ms": 300,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
