"""`make run` end to end: the embedded demo (SQLite in DATA_DIR, jobs in-process) does what a new user tries.

The rest of the suite runs on PostgreSQL, so SQL that only PostgreSQL understands would pass it and break
the README's first command. Here one subprocess environment without DATABASE_URL / REDIS_URL runs what
scripts/run.sh runs before serving (migrate, load_demo, pool_keys_replenish), then
tests/embedded_demo_journey.py drives the pages and the API with Django's test client in that same SQLite
database and prints what it saw as JSON; the tests below assert on it.
"""

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED_2017 = json.loads((ROOT / "surveys" / "reference" / "published-2017.json").read_text())["figures"]
# Variables that would point the demo at the suite's PostgreSQL, Redis or directories.
INHERITED = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "EXPORT_DIR", "POOL_KEY_DIR", "DATA_DIR")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("embedded")
    env = {k: v for k, v in os.environ.items() if k not in INHERITED}
    env.update(DATA_DIR=str(data_dir), DEBUG="1", STAFF_MFA_REQUIRED="0")
    python = sys.executable
    for command in (
        [python, "manage.py", "migrate", "--no-input"],
        [python, "manage.py", "load_demo"],
        # scripts/run.sh makes the staging keys itself in embedded mode (no worker makes them).
        [python, "manage.py", "pool_keys_replenish"],
    ):
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{command[2]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    journey = subprocess.run(
        [python, "tests/embedded_demo_journey.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert journey.returncode == 0, journey.stderr[-5000:]
    return json.loads(journey.stdout.strip().splitlines()[-1])


def step(demo, name):
    """The data a step of the journey returned; its traceback as the failure if it raised."""
    result = demo[name]
    assert result["ok"], f"{name} failed in the embedded demo:\n{result['error']}"
    return result["data"]


def share(item, code):
    """Percent of respondents as the pages show it (a "human coding only" category: of the human-coded)."""
    base = item["summary"]["human_coded"] if code in item["summary"].get("human_only", []) else item["n"]
    return round(100 * item["counts"][code] / base, 1)


def chart(demo, key):
    rows = step(demo, "chart_csvs")[key]
    columns = ["item", "value", "count", "percent_of_respondents", "respondents"]
    if key.endswith(":trends"):  # coded free text: the method and the human-only flag too
        columns += ["method", "human_coding_only"]
    assert rows[0] == columns
    return {row[1]: row for row in rows[1:]}


def test_it_runs_on_sqlite_with_jobs_in_process(demo):
    assert demo["vendor"] == "sqlite"
    assert demo["eager"] is True


def test_every_results_page_of_2017_and_2016_shows_its_figures(demo):
    pages = step(demo, "results_pages")
    for label in ("2017", "2016"):
        assert pages[label] >= 1
        for number in range(1, pages[label] + 1):
            assert pages[f"{label}:{number}"]["figures"] >= 1, (label, number)


def test_the_administrator_sees_the_results_too(demo):
    assert step(demo, "results_admin") == 200


def test_a_filtered_page_counts_only_the_chosen_agency_type(demo):
    filtered = step(demo, "results_filtered")
    national = chart(demo, "2017:agency_type")["national"]
    assert filtered["figures"] >= 1
    assert filtered["respondents"] == int(national[2]) < int(national[4])


def test_coded_trends_match_the_report_in_the_api(demo):
    trends = step(demo, "results_api")["2017"]["trends"]
    assert trends["summary"]["coded"] and trends["n"] > 0
    # Two thirds of the demo's trends answers are coded by its model (a third by people), so even the
    # headline figure is a model's estimate: 25.5 % before the codebook texts joined the training, 24.2 %
    # after, against the report's 25.5 %.
    assert share(trends, "apps_chatrooms") == pytest.approx(
        PUBLISHED_2017["trends_pct"]["apps_chatrooms"], abs=2
    )
    shown = [c for c in trends["counts"] if c not in trends["summary"]["human_only"]]
    assert len(shown) >= 5
    for code in shown:  # the rest is coded by the demo's model, so a few points off the report
        assert share(trends, code) == pytest.approx(PUBLISHED_2017["trends_pct"][code], abs=3), code


def test_the_trends_page_shows_the_coded_shares(demo):
    html = step(demo, "trends_page")["html"]
    trends = step(demo, "results_api")["2017"]["trends"]
    assert f"(n = {trends['n']})" in html
    for code, count in trends["counts"].items():
        if code in trends["suppressed"]:
            continue
        row = rf'<td class="num">{count}</td>\s*<td class="share"><span[^>]*></span> {share(trends, code)} %'
        assert re.search(row, html), code


def test_the_comparison_puts_2016_beside_2017(demo):
    html = step(demo, "compare")
    rows = {
        (item, measure): (before, after)
        for item, measure, before, after in re.findall(
            r"<tr><td><code>(\w+)</code></td><td>(\w+)</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>", html
        )
    }
    for item, value in (("country", "US"), ("workload_change", "increased"), ("better_equipped", "yes")):
        before, after = rows[(item, value)]
        assert before == f"{chart(demo, f'2016:{item}')[value][3]} %"
        assert after == f"{chart(demo, f'2017:{item}')[value][3]} %"
    assert (
        rows[("trends", "apps_chatrooms")][1]
        == f"{share(step(demo, 'results_api')['2017']['trends'], 'apps_chatrooms')} %"
    )


def test_the_report_and_its_pdf(demo):
    report = step(demo, "report")
    assert report["figures"] >= sum(
        step(demo, "results_pages")[f"2017:{n}"]["figures"]
        for n in range(1, step(demo, "results_pages")["2017"] + 1)
    )
    assert report["pdf_type"] == "application/pdf" and report["pdf_head"] == "%PDF-"


def test_every_chart_has_its_csv(demo):
    csvs = step(demo, "chart_csvs")
    api = step(demo, "results_api")
    assert {key.split(":")[0] for key in csvs} == {"2017", "2016"}
    countries = chart(demo, "2017:country")
    assert {row[4] for row in countries.values()} == {str(api["2017"]["respondents"])}
    assert (
        sum(int(row[2]) for row in countries.values() if row[2] != "suppressed") <= api["2017"]["respondents"]
    )
    trends = api["2017"]["trends"]
    assert chart(demo, "2017:trends")["apps_chatrooms"][2:] == [
        str(trends["counts"]["apps_chatrooms"]),
        str(share(trends, "apps_chatrooms")),
        str(trends["summary"].get("bases", {}).get("apps_chatrooms", trends["n"])),
        trends["summary"]["method"],
        "no",
    ]


def test_the_coding_screen_and_answers_api(demo):
    coding = step(demo, "coding_screen")
    answered = step(demo, "results_api")["2017"]["trends"]["summary"]["answered"]
    assert coding["screen_has_codebook"]
    assert coding["answers"]["count"] == answered
    codes = [c for answer in coding["answers"]["results"] for c in answer["codes"]]
    assert any(c["source"] == "auto" and c["probability"] is not None for c in codes)


def test_a_coding_run_started_through_the_api_finishes_in_process(demo):
    coding = step(demo, "coding_run")
    run = coding["run"]
    assert coding["start_status"] == 202
    assert (run["status"], run["kind"], run["classifier"], run["progress"]) == (
        "succeeded",
        "trained",
        "tfidf-lr",
        100,
    )
    assert run["metrics"]["answers"] == coding["trends_after"]["summary"]["answered"]


def unzip(path):
    archive = zipfile.ZipFile(path)
    manifest = json.loads(archive.read("manifest.json"))
    return archive, {f["name"]: f for f in manifest["files"]}


def read_table(archive, name, tmp_path):
    data = archive.read(name)
    if name.endswith(".csv"):
        return pd.read_csv(io.BytesIO(data))
    if name.endswith(".xlsx"):
        return pd.read_excel(io.BytesIO(data))
    if name.endswith(".parquet"):
        return pd.read_parquet(io.BytesIO(data))
    path = tmp_path / name  # ReadStat reads files
    path.write_bytes(data)
    read = pyreadstat.read_sav if name.endswith(".sav") else pyreadstat.read_dta
    return read(path)[0]


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "sav", "dta", "parquet"])
def test_an_export_is_reviewed_built_and_downloaded(demo, fmt, tmp_path):
    export = step(demo, f"export_{fmt}")
    respondents = step(demo, "results_api")["2017"]["respondents"]
    trends = step(demo, "coding_run")["trends_after"]
    archive, files = unzip(export["file"])
    main, free_text = (f"law-enforcement-survey_2017{suffix}.{fmt}" for suffix in ("", "_free_text"))
    assert set(files) == {main, free_text}
    rows = read_table(archive, main, tmp_path)
    assert export["row_count"] == len(rows) == respondents
    assert int(rows["trends__apps_chatrooms"].sum()) == trends["counts"]["apps_chatrooms"]
    texts = read_table(archive, free_text, tmp_path)
    assert len(texts) == export["reviewed"] > 0  # every free-text answer read by the reviewer, none left out
    assert texts["item"].nunique() >= 2  # SPSS and Stata hold the item as a labelled number
    if fmt not in ("sav", "dta"):
        assert set(texts["item"]) >= {"trends", "workload_reasons"}


def test_the_codebook_export(demo):
    export = step(demo, "export_codebook")
    archive, files = unzip(export["file"])
    book = json.loads(archive.read("law-enforcement-survey_2017_codebook.json"))
    assert book["rows"] == export["row_count"] == step(demo, "results_api")["2017"]["respondents"]
    assert "trends__apps_chatrooms" in {v["name"] for v in book["variables"]}
    assert "law-enforcement-survey_2017_codebook.html" in files


def test_the_demo_officer_answers_the_open_2017_edition(demo):
    portal = step(demo, "officer_portal")
    assert portal["home_lists_2017"] and portal["first_status"] == 200
    assert portal["submit_status"] == 200 and "receipt" in portal["submit_html"]
    assert "You have already answered this questionnaire" in portal["again_html"]
