"""`make bench`: run every benchmark script and print one JSON report.

Each script (submissions, results, exports, coding) prints JSON; the report nests them under their names
and adds `figures`: one entry per row of DESIGN.md "Numbers to reach", read from those outputs (nothing is
measured here), each with the median, its spread, the number of runs, the ceiling measured in the same
run (a trivial view under the same gunicorn; PostgreSQL COPY of the same rows) and whether the target is
met. A figure whose script failed, timed out or did not measure it has `measured: null`, `met: null` and
the reason.

BENCH_QUICK=1 (`make bench-quick`): fewer runs, 1,000 and 10,000 responses only, coding on a sample of
the NHS answers: for CI and for checking the bench code, not for the targets (figures measured under other
conditions than the target's get `met: null` and a note).

Databases: <BENCH_DB_PREFIX>_<script> (default prefix "bench") unless BENCH_DATABASE_URL /
BENCH_EXPORTS_DB are set; Redis: BENCH_REDIS_URL. Each script stops after BENCH_SCRIPT_TIMEOUT seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
from bench.stack import free_port  # noqa: E402 - the repository root is on the path only from here
from coding.classifiers import default_trained  # noqa: E402 - Django-free

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PREFIX = os.environ.get("BENCH_DB_PREFIX", "bench")
TIMEOUT = int(os.environ.get("BENCH_SCRIPT_TIMEOUT", "900" if QUICK else "7200"))
# The product's default trained classifier depends on the number of human-coded answers
# (coding.classifiers.default_trained): each figure reads the rows of the classifier the product would use.
PRODUCT_CLASSIFIERS = "tfidf-minilm-map-clauses-lr,tfidf-minilm-lr,tfidf-minilm-svm"
BEST_PEER_PER_S = 33.0  # django-survey-and-report on SQLite, measured by hand (DESIGN); not re-run here
TARGET_RESPONSES = 100_000  # the size DESIGN names for exports and results
OTHER_FORMATS = {"xlsx": "XLSX", "sav": "SPSS (.sav)", "dta": "Stata (.dta)", "parquet": "Parquet"}


def plan() -> dict[str, tuple[list[str], dict[str, str]]]:
    """Arguments and environment of each script, full or quick; explicit BENCH_* settings win."""
    sizes = "1000,10000" if QUICK else "1000,10000,100000"
    coding_args = [
        "--methods",
        PRODUCT_CLASSIFIERS,
        "--sizes",
        "10,all",
        "--repeats",
        "2",
        "--sample",
        "2500",
    ]
    return {
        "submissions": (
            [],
            {
                "BENCH_DATABASE_URL": f"{PG}/{PREFIX}_submissions",
                "BENCH_PORT": str(free_port()),
                "BENCH_RUNS": "3",
                "BENCH_SECONDS": "3" if QUICK else "5",
                "BENCH_OFFICERS": "9000" if QUICK else "16000",
            },
        ),
        "results": (
            [],
            {
                "BENCH_DATABASE_URL": f"{PG}/{PREFIX}_results",
                "BENCH_SIZES": sizes,
                "BENCH_REPEATS": "3" if QUICK else "10",
            },
        ),
        "exports": (
            ["--sizes", sizes, "--repeats", "2" if QUICK else "3"],
            {"BENCH_EXPORTS_DB": f"{PREFIX}_exports"},
        ),
        "coding": (coding_args if QUICK else [], {"HF_HUB_OFFLINE": "1"}),
    }


def run_script(name: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run one script in its own process group (so a timeout also stops its gunicorn and children)."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(BENCH / f"{name}.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        stdout, stderr = process.communicate()
        stderr += f"\n(stopped after {TIMEOUT} s: BENCH_SCRIPT_TIMEOUT)"
    entry: dict[str, Any] = {"args": args, "seconds": round(time.monotonic() - started, 1)}
    try:
        if process.returncode != 0:
            raise ValueError(f"exit status {process.returncode}")
        entry["result"] = json.loads(stdout)
    except (json.JSONDecodeError, ValueError) as error:
        entry["error"] = f"{error}: {(stderr or stdout)[-2000:]}"
    print(
        f"bench: {name} done in {entry['seconds']} s{' (failed)' if 'error' in entry else ''}",
        file=sys.stderr,
    )
    return entry


class Missing(Exception):
    """A figure's source is absent: the script failed, was skipped or did not measure it."""


def lookup(report: dict[str, Any], source: str) -> Any:
    """The value at "<script>.<dotted path>" in the scripts' outputs ([k=v] picks a list element)."""
    script, *path = source.split(".")
    entry = report.get(script) or {}
    if "error" in entry:
        last_line = [line for line in entry["error"].splitlines() if line.strip()][-1:] or [""]
        raise Missing(f"{script} failed: {last_line[0][:300]}")
    node: Any = entry.get("result")
    if node is None:
        raise Missing(f"{script} did not run")
    if "skipped" in node:
        raise Missing(f"{script} skipped: {node['skipped']}")
    for part in path:
        if part.startswith("[") and part.endswith("]"):
            key, value = part[1:-1].split("=")
            matches = [n for n in node if str(n.get(key)) == value]
            if not matches:
                raise Missing(f"{source}: no element with {key}={value}")
            node = matches[0]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise Missing(f"{source}: no {part!r}")
    return node


def spread(values: list[float]) -> dict[str, float] | None:
    return {"min": min(values), "max": max(values)} if values else None


class Figures:
    """Builds the `figures` list; each `add` reads its numbers through `lookup` and never guesses."""

    def __init__(self, report: dict[str, Any]) -> None:
        self.report = report
        self.items: list[dict[str, Any]] = []

    def get(self, source: str) -> Any:
        return lookup(self.report, source)

    def add(
        self,
        name: str,
        *,
        source: str,
        unit: str,
        target: tuple[str, float] | None,
        read: Callable[[], dict[str, Any]],
    ) -> None:
        figure: dict[str, Any] = {"name": name, "unit": unit, "source": source}
        figure["target"] = f"{target[0]} {target[1]:g}" if target else None
        try:
            values = read()
        except (Missing, KeyError, IndexError, TypeError) as missing:
            # A script's output without this number (failed, skipped, or an older output shape).
            figure |= {"measured": None, "spread": None, "runs": 0, "ceiling": None, "met": None}
            figure["error"] = f"{type(missing).__name__}: {missing}"
            self.items.append(figure)
            return
        measured = values.pop("measured")
        figure |= {
            "measured": measured,
            "spread": values.pop("spread", None),
            "runs": values.pop("runs", 1),
            "ceiling": values.pop("ceiling", None),
        }
        note = values.pop("not_target_conditions", None)
        if target is None or measured is None or note:
            figure["met"] = None
        else:
            op, bound = target
            figure["met"] = measured >= bound if op == ">=" else measured <= bound
        notes = [n for n in (note, values.pop("note", None)) if n]
        figure |= values
        if notes:
            figure["note"] = "; ".join(notes)
        self.items.append(figure)


def largest(report: dict[str, Any], source: str) -> dict[str, Any]:
    """The entry of the largest size in a list of per-size results."""
    sizes = lookup(report, source)
    if not sizes:
        raise Missing(f"{source}: no sizes measured")
    return max(sizes, key=lambda entry: entry["responses"])


def page_p95(entry: dict[str, Any], pages: dict[str, Any]) -> dict[str, Any]:
    """A results figure: the p95 of some page requests (bench/results.py's summary) at one size."""
    return {
        "measured": pages["p95_ms"],
        "spread": {"median": pages["median_ms"], "max": pages["max_ms"]},
        "runs": pages["requests"],
        "responses": entry["responses"],
        "not_target_conditions": size_note(entry["responses"]),
    }


def size_note(responses: int) -> str | None:
    if responses == TARGET_RESPONSES:
        return None
    return f"measured at {responses:,} responses; the target is at {TARGET_RESPONSES:,}"


def build_figures(report: dict[str, Any]) -> list[dict[str, Any]]:
    f = Figures(report)

    def submissions() -> dict[str, Any]:
        runs = f.get("submissions.submissions_rps.runs")
        trivial = f.get("submissions.trivial_view_rps")
        return {
            "measured": f.get("submissions.submissions_rps.median"),
            "spread": spread(runs),
            "runs": len(runs),
            "ceiling": {"value": trivial["median"], "what": "trivial view (/healthz), same gunicorn, req/s"},
        }

    f.add("complete 2017 submissions through the API", source="submissions.submissions_rps.median",
          unit="submissions/s", target=(">=", 300), read=submissions)  # fmt: skip

    def ratio_trivial() -> dict[str, Any]:
        runs = f.get("submissions.submissions_rps.runs")
        trivial = f.get("submissions.trivial_view_rps")
        per_run = [round(s / t, 3) for s, t in zip(runs, trivial["runs"], strict=False)]
        return {
            "measured": f.get("submissions.ratio_to_trivial_view"),
            "spread": spread(per_run),
            "runs": len(per_run),
            "ceiling": {"value": trivial["median"], "what": "trivial view (/healthz), same gunicorn, req/s"},
        }

    f.add("submissions as a ratio to a trivial view", source="submissions.ratio_to_trivial_view",
          unit="ratio", target=(">=", 0.06), read=ratio_trivial)  # fmt: skip

    def ratio_peer() -> dict[str, Any]:
        runs = f.get("submissions.submissions_rps.runs")
        return {
            "measured": f.get("submissions.ratio_to_best_peer"),
            "spread": spread([round(r / BEST_PEER_PER_S, 1) for r in runs]),
            "runs": len(runs),
            "ceiling": {"value": BEST_PEER_PER_S, "what": "best peer (django-survey-and-report, SQLite), "
                        "submissions/s from DESIGN, not re-measured in this run"},
        }  # fmt: skip

    f.add("submissions against the best peer", source="submissions.ratio_to_best_peer", unit="times the best peer",
          target=(">=", 10), read=ratio_peer)  # fmt: skip

    def p95_paced() -> dict[str, Any]:
        paced = f.get("submissions.at_100_per_s")
        return {
            "measured": paced["p95_ms"],
            "spread": {"p50": paced["p50_ms"], "p99": paced["p99_ms"]},
            "runs": 1,
            "requests": paced["requests"],
            "non_201": paced["non_201"],
        }

    f.add("submission p95 at 100/s offered", source="submissions.at_100_per_s.p95_ms", unit="ms",
          target=("<=", 100), read=p95_paced)  # fmt: skip

    def lost() -> dict[str, Any]:
        accounting = f.get("submissions.accounting")
        return {"measured": accounting["lost"], "runs": 1, "accounting": accounting}

    f.add("acknowledged submissions lost", source="submissions.accounting.lost", unit="submissions",
          target=("<=", 0), read=lost)  # fmt: skip

    def csv_vs_copy() -> dict[str, Any]:
        entry = largest(report, "exports.results")
        csv = entry["formats"]["csv"]
        n = entry["responses"]
        ratios = [
            round(copy_s / csv_s, 3)
            for copy_s, csv_s in zip(entry["copy_seconds_runs"], csv["seconds_runs"], strict=False)
        ]
        return {
            "measured": entry["csv_vs_copy"],
            "spread": spread(ratios),
            "runs": len(csv["seconds_runs"]),
            "ceiling": {"value": entry["copy_rows_per_s"], "what": f"PostgreSQL COPY of the same {n:,} rows, rows/s"},
            "csv_rows_per_s": csv["rows_per_s"],
            "responses": n,
            "not_target_conditions": size_note(n),
        }  # fmt: skip

    f.add("CSV export throughput as a share of PostgreSQL COPY", source="exports.results[-1].csv_vs_copy",
          unit="ratio (CSV rows/s ÷ COPY rows/s)", target=(">=", 0.5), read=csv_vs_copy)  # fmt: skip

    for fmt, label in OTHER_FORMATS.items():

        def ratio_to_csv(fmt: str = fmt) -> dict[str, Any]:
            entry = largest(report, "exports.results")
            if fmt not in entry["formats"]:
                raise Missing(f"exports: {fmt} not run")
            csv_s = entry["formats"]["csv"]["seconds"]
            runs = entry["formats"][fmt]["seconds_runs"]
            return {
                "measured": entry["ratio_to_csv"][fmt],
                "spread": spread([round(s / csv_s, 2) for s in runs]),
                "runs": len(runs),
                "ceiling": {"value": csv_s, "what": "CSV export of the same rows, seconds"},
                "seconds": entry["formats"][fmt]["seconds"],
                "responses": entry["responses"],
            }

        f.add(f"{label} export time as a multiple of CSV", source=f"exports.results[-1].ratio_to_csv.{fmt}",
              unit="times CSV time", target=("<=", 5), read=ratio_to_csv)  # fmt: skip

    for fmt in ["csv", *OTHER_FORMATS]:

        def memory(fmt: str = fmt) -> dict[str, Any]:
            sizes = sorted(lookup(report, "exports.results"), key=lambda e: e["responses"])
            per_size = {
                str(e["responses"]): e["formats"][fmt]["rss_growth_mb"] for e in sizes if fmt in e["formats"]
            }
            if not per_size:
                raise Missing(f"exports: {fmt} not run")
            n = max(int(k) for k in per_size)
            return {
                "measured": round(per_size[str(n)] / (n / 1000), 3),
                "spread": None,
                "runs": len(sizes),
                "peak_rss_growth_mb_by_responses": per_size,
                "note": "DESIGN asks for memory flat in the number of responses and gives no number: "
                f"compare the peak RSS growth across sizes (measured here up to {n:,} responses)",
            }

        f.add(f"{fmt.upper() if fmt == 'csv' else OTHER_FORMATS[fmt]} export peak memory per 1,000 responses",
              source=f"exports.results[*].formats.{fmt}.rss_growth_mb", unit="MB per 1k responses",
              target=None, read=memory)  # fmt: skip

    def coding_row(per_category: str) -> dict[str, Any]:
        rows = f.get("coding.results")
        for row in rows:
            if str(row["human_codes_per_category"]) == per_category and row["method"] == default_trained(
                row["train_answers"]
            ):
                return row
        raise Missing(f"coding: no row of the default classifier with {per_category} codes per category")

    def sample_note() -> str | None:
        sample = f.get("coding.data").get("sample")
        return f"quick mode: a sample of {sample:,} NHS answers, not all of them" if sample else None

    def coding_speed(key: str) -> Callable[[], dict[str, Any]]:
        def read() -> dict[str, Any]:
            row = coding_row("all")
            runs = row[f"{key}_runs"] if f"{key}_runs" in row else row["answers_per_second_runs"]
            return {
                "measured": row[key],
                "spread": spread(runs),
                "runs": len(runs),
                "answers": row["test_answers"],
            }

        return read

    f.add("auto-coding throughput (default classifier, answer vectors stored)",
          source="coding.results[method=default].answers_per_second_stored", unit="answers/s",
          target=(">=", 500), read=coding_speed("answers_per_second_stored"))  # fmt: skip
    f.add("auto-coding throughput (default classifier, answers never seen: MiniLM included)",
          source="coding.results[method=default].answers_per_second_first_time",
          unit="answers/s", target=(">=", 500), read=coding_speed("answers_per_second_first_time"))  # fmt: skip

    def retrain() -> dict[str, Any]:
        timing = f.get(f"coding.retrain_1000.{default_trained(1000)}")
        runs = timing.get("with_cv_seconds_runs", [])
        return {
            "measured": timing["with_cv_seconds"],
            "spread": spread(runs),
            "runs": len(runs),
            "final_fit_seconds": timing["final_fit_seconds"],
            "cpu_seconds": timing["with_cv_cpu_seconds"],
        }

    f.add(f"retraining one item's model on 1,000 coded answers ({default_trained(1000)}, 5-fold CV + final fit)",
          source=f"coding.retrain_1000.{default_trained(1000)}.with_cv_seconds", unit="s", target=("<=", 10),
          read=retrain)  # fmt: skip

    reference_path = "coding.reference_items_10_per_category"
    try:
        reference_items = list(lookup(report, reference_path))
    except Missing:
        reference_items = ["(reference items)"]
    for item in reference_items:

        def alpha(item: str = item) -> dict[str, Any]:
            result = f.get(f"{reference_path}.{item}.{default_trained(0)}")
            draws = result["alpha_samples"]
            return {"measured": result["alpha_median"], "spread": spread(draws) | {"mean": result["alpha_mean"]},
                    "runs": len(draws), "test_answers": result["test_answers"]}  # fmt: skip

        f.add(f"coding alpha against held-out human codes, 10 per category: {item}",
              source=f"{reference_path}.{item}.{default_trained(0)}.alpha_median",
              unit="Krippendorff's alpha", target=(">=", 0.80), read=alpha)  # fmt: skip

    def micro_f1() -> dict[str, Any]:
        row = coding_row("all")
        return {"measured": row["micro_f1"], "runs": 1, "test_answers": row["test_answers"],
                "not_target_conditions": sample_note()}  # fmt: skip

    f.add("NHS micro-F1, all codes (default classifier)",
          source="coding.results[method=default].micro_f1", unit="micro-F1",
          target=(">=", 0.75), read=micro_f1)  # fmt: skip

    def share_error() -> dict[str, Any]:
        row = coding_row("all")
        error = row["share_error_estimated_pp"]
        return {"measured": error["max"], "spread": {"mean": error["mean"], "max": error["max"]}, "runs": 1,
                "hard_codes_pp": row["share_error_hard_pp"], "not_target_conditions": sample_note(),
                "note": "the largest error over all categories (mean probability per category)"}  # fmt: skip

    f.add("category share error, NHS all codes (default classifier)",
          source="coding.results[method=default].share_error_estimated_pp.max",
          unit="percentage points", target=("<=", 1), read=share_error)  # fmt: skip

    for mode, label in [("uncached", "results cache off"), ("cached", "results cache on")]:

        def results_p95(mode: str = mode) -> dict[str, Any]:
            entry = largest(report, "results.sizes")
            return page_p95(entry, entry[mode]["page_html"]["all"])

        f.add(f"results page p95 ({label})", source=f"results.sizes[-1].{mode}.page_html.all.p95_ms",
              unit="ms", target=("<=", 300), read=results_p95)  # fmt: skip

    def filtered_first_p95() -> dict[str, Any]:
        # A filtered view is never warmed: its first request computes every figure under the filter (from
        # the pair counts the warm-up keeps for the filters the pages offer, results/tallies.py).
        entry = largest(report, "results.sizes")
        return page_p95(entry, entry["cached"]["page_html_filtered"]["first"])

    f.add("results page p95, first view with a filter (computed)",
          source="results.sizes[-1].cached.page_html_filtered.first.p95_ms", unit="ms", target=("<=", 300),
          read=filtered_first_p95)  # fmt: skip

    def warmed_p95() -> dict[str, Any]:
        # What an analyst meets first after a release: the worker has warmed the cache (results.warm).
        entry = largest(report, "results.sizes")
        warm_up = entry["after_warm_up"]["warm_up"]
        return page_p95(entry, entry["after_warm_up"]["page_html"]["first"]) | {
            "warm_up_seconds": warm_up["seconds"]
        }

    f.add("results page p95, first view after a release (warmed)",
          source="results.sizes[-1].after_warm_up.page_html.first.p95_ms", unit="ms", target=("<=", 300),
          read=warmed_p95)  # fmt: skip
    return f.items


def main() -> None:
    load_start = os.getloadavg()
    report: dict[str, Any] = {
        "mode": "quick" if QUICK else "full",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cores": os.cpu_count()},
    }
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
    only = [s for s in os.environ.get("BENCH_ONLY", "").split(",") if s]
    for name, (args, defaults) in plan().items():
        if only and name not in only:
            report[name] = {"error": "not run (BENCH_ONLY)"}
            continue
        env = {**defaults, **os.environ, "BENCH_REDIS_URL": redis_url}
        report[name] = run_script(name, args, env)
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    # The machine may be shared: its load says how far these figures are from a quiet machine's.
    report["machine"]["load_average_1_5_15"] = {
        "start": [round(x, 2) for x in load_start],
        "end": [round(x, 2) for x in os.getloadavg()],
    }
    report["figures"] = build_figures(report)
    met = [fig["met"] for fig in report["figures"]]
    report["summary"] = {"met": met.count(True), "not_met": met.count(False), "not_judged": met.count(None)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
