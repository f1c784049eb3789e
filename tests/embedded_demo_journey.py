"""What a new user of `make run` does, run inside the embedded demo (SQLite, jobs in-process).

Not a test module: tests/test_embedded_demo.py runs it in a subprocess after `migrate` and `load_demo`,
with no DATABASE_URL / REDIS_URL, and asserts on the JSON it prints. Each step is recorded on its own
(its data, or the traceback that stopped it), so one SQLite incompatibility does not hide the others.
"""

import csv
import io
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from responses.demo import demo_payloads_2017  # noqa: E402
from surveys.management.commands.load_demo import DEMO_PASSWORD, SERIES_SLUG  # noqa: E402
from surveys.models import Edition  # noqa: E402
from surveys.presentation import build_pages  # noqa: E402
from surveys.selectors import edition_definition  # noqa: E402

FORMATS = ("csv", "xlsx", "sav", "dta", "parquet", "codebook")
results: dict[str, Any] = {"vendor": connection.vendor, "eager": settings.CELERY_TASK_ALWAYS_EAGER}


def step(name: str) -> Callable[[Callable[[], Any]], None]:
    """Run the decorated function now; keep what it returns, or the traceback that stopped it."""

    def run(fn: Callable[[], Any]) -> None:
        try:
            results[name] = {"ok": True, "data": fn()}
        except Exception:
            results[name] = {"ok": False, "error": traceback.format_exc()}

    return run


def login(email: str) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"login": email, "password": DEMO_PASSWORD})
    if response.status_code != 302:
        raise AssertionError(f"login of {email} answered {response.status_code}")
    return client


def text(response: Any) -> str:
    return b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()


def get(client: Client, url: str, **extra: Any) -> Any:
    response = client.get(url, **extra)
    if response.status_code != 200:
        raise AssertionError(f"GET {url} answered {response.status_code}: {text(response)[:2000]}")
    return response


setup_test_environment()
edition_2017 = Edition.objects.get(series__slug=SERIES_SLUG, label="2017")
edition_2016 = Edition.objects.get(series__slug=SERIES_SLUG, label="2016")
results["editions"] = {"2017": edition_2017.pk, "2016": edition_2016.pk}
admin = login("admin@example.org")
analyst = login("analyst@example.org")


@step("results_pages")
def _results_pages() -> dict[str, Any]:
    pages: dict[str, Any] = {}
    for edition in (edition_2017, edition_2016):
        count = len(build_pages(edition_definition(edition)))
        pages[edition.label] = count
        for number in range(1, count + 1):
            page = text(get(analyst, f"/staff/results/{edition.pk}/?page={number}"))
            pages[f"{edition.label}:{number}"] = {"figures": page.count('id="fig-')}
    return pages


@step("results_admin")
def _results_admin() -> int:
    return get(admin, f"/staff/results/{edition_2017.pk}/").status_code


@step("results_filtered")
def _results_filtered() -> dict[str, Any]:
    page = text(get(analyst, f"/staff/results/{edition_2017.pk}/?page=1&f_agency_type=national"))
    api = get(analyst, f"/api/v1/editions/{edition_2017.pk}/results/?f_agency_type=national").json()
    return {"figures": page.count('id="fig-'), "respondents": api["respondents"]}


@step("results_api")
def _results_api() -> dict[str, Any]:
    out = {}
    for edition in (edition_2017, edition_2016):
        data = get(analyst, f"/api/v1/editions/{edition.pk}/results/").json()
        out[edition.label] = {"respondents": data["respondents"], "trends": data["items"]["trends"]}
    return out


@step("trends_page")
def _trends_page() -> dict[str, Any]:
    pages = build_pages(edition_definition(edition_2017))
    number = next(i for i, page in enumerate(pages, 1) if "trends" in page.item_codes)
    return {"html": text(get(analyst, f"/staff/results/{edition_2017.pk}/?page={number}"))}


@step("compare")
def _compare() -> str:
    return text(get(analyst, f"/staff/results/{edition_2017.pk}/compare/{edition_2016.pk}/"))


@step("report")
def _report() -> dict[str, Any]:
    html = text(get(analyst, f"/staff/results/{edition_2017.pk}/report/"))
    pdf = get(analyst, f"/staff/results/{edition_2017.pk}/report/?format=pdf")
    body = b"".join(pdf.streaming_content) if pdf.streaming else pdf.content
    return {"figures": html.count('id="fig-'), "pdf_type": pdf["Content-Type"], "pdf_head": body[:5].decode()}


@step("chart_csvs")
def _chart_csvs() -> dict[str, Any]:
    out = {}
    for edition in (edition_2017, edition_2016):
        for item in edition.items.order_by("position"):
            body = text(get(analyst, f"/staff/results/{edition.pk}/items/{item.code}.csv"))
            out[f"{edition.label}:{item.code}"] = list(csv.reader(io.StringIO(body)))
    return out


@step("coding_screen")
def _coding_screen() -> dict[str, Any]:
    screen = text(get(analyst, f"/staff/coding/editions/{edition_2017.pk}/items/trends/"))
    answers = get(analyst, f"/api/v1/editions/{edition_2017.pk}/items/trends/answers/?page_size=20").json()
    return {"screen_has_codebook": "apps_chatrooms" in screen, "answers": answers}


@step("coding_run")
def _coding_run() -> dict[str, Any]:
    started = analyst.post(
        f"/api/v1/editions/{edition_2017.pk}/items/trends/coding-runs/",
        {"classifier": "tfidf-lr", "seed": 3},
        content_type="application/json",
    )
    if started.status_code not in (201, 202):
        raise AssertionError(f"coding run answered {started.status_code}: {text(started)[:2000]}")
    run = get(analyst, f"/api/v1/coding-runs/{started.json()['id']}/").json()
    # The figures after this run: the exports below take their coded columns from the same final codes.
    trends = get(analyst, f"/api/v1/editions/{edition_2017.pk}/results/").json()["items"]["trends"]
    return {"start_status": started.status_code, "run": run, "trends_after": trends}


def _export(fmt: str) -> dict[str, Any]:
    created = analyst.post(
        f"/api/v1/editions/{edition_2017.pk}/exports/", {"format": fmt}, content_type="application/json"
    )
    if created.status_code != 202:
        raise AssertionError(f"export {fmt} answered {created.status_code}: {text(created)[:2000]}")
    job_id = created.json()["id"]
    job = get(analyst, f"/api/v1/exports/{job_id}/").json()
    reviewed = 0
    if job["status"] == "awaiting_review":
        entries = get(analyst, f"/api/v1/exports/{job_id}/review/?page_size=500").json()
        reviewed = entries["count"]
        approved = analyst.post(
            f"/api/v1/exports/{job_id}/review/approve/",
            {"digest": entries["digest"]},
            content_type="application/json",
        )
        if approved.status_code not in (200, 202):
            raise AssertionError(f"approval answered {approved.status_code}: {text(approved)[:2000]}")
        job = get(analyst, f"/api/v1/exports/{job_id}/").json()
    if job["status"] != "succeeded":
        raise AssertionError(f"export {fmt} ended {job['status']}: {job['errors']}")
    download = get(analyst, job["download_url"])
    body = b"".join(download.streaming_content) if download.streaming else download.content
    path = Path(settings.DATA_DIR) / f"download-{fmt}"
    path.write_bytes(body)
    return {
        "row_count": job["row_count"],
        "reviewed": reviewed,
        "file": str(path),
        "name": job["file"]["name"],
    }


for fmt in FORMATS:
    step(f"export_{fmt}")(lambda fmt=fmt: _export(fmt))


@step("officer_portal")
def _officer_portal() -> dict[str, Any]:
    officer = login("officer@example.org")
    home = text(get(officer, "/portal/"))
    first = get(officer, f"/portal/{edition_2017.pk}/")
    answers = demo_payloads_2017()[0]["answers"]
    form: dict[str, Any] = {
        code: [str(v) for v in value] if isinstance(value, list) else str(value)
        for code, value in answers.items()
    }
    form["_action"] = "submit"
    submitted = officer.post(f"/portal/{edition_2017.pk}/", form)
    again = text(get(officer, f"/portal/{edition_2017.pk}/"))
    return {
        "home_lists_2017": f"/portal/{edition_2017.pk}/" in home,
        "first_status": first.status_code,
        "submit_status": submitted.status_code,
        "submit_html": text(submitted),
        "again_html": again,
    }


print(json.dumps(results, default=str))
