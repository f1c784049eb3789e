"""bench/run_all.py turns the scripts' JSON into the DESIGN figures without inventing any."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    sys.path.insert(0, str(ROOT))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_all = _load("run_all")


def submissions_output() -> dict:
    return {
        "trivial_view_rps": {"median": 1400, "runs": [1400, 1500, 1300]},
        "submissions_rps": {"median": 90.0, "runs": [88.0, 90.0, 95.0], "p99_ms": [1, 2, 3], "non_2xx": 0},
        "ratio_to_trivial_view": 0.064,
        "ratio_to_best_peer": 2.7,
        "at_100_per_s": {"offered_per_s": 100, "requests": 800, "p50_ms": 40.0, "p95_ms": 80.0,
                         "p99_ms": 120.0, "non_201": 0},
        "accounting": {"participations_submitted": 10, "staged": 0, "released": 10, "responses_in_db": 10,
                       "lost": 0},
    }  # fmt: skip


def results_output(largest: int) -> dict:
    def page(p95: float) -> dict:
        summary = {"requests": 30, "median_ms": p95 / 2, "p95_ms": p95, "max_ms": p95 * 2}
        filtered_first = {"requests": 8, "median_ms": 150.0, "p95_ms": 250.0, "max_ms": 250.0}
        return {"page_html": {"all": summary}, "page_html_filtered": {"first": filtered_first}}

    def first_views(p95: float) -> dict:
        first = {"requests": 8, "median_ms": p95 / 2, "p95_ms": p95, "max_ms": p95}
        return {"warm_up": {"seconds": 12.5}, "page_html": {"first": first}}

    sizes = [
        {"responses": n, "uncached": page(400.0), "cached": page(20.0), "after_warm_up": first_views(30.0)}
        for n in (1000, largest)
    ]
    return {"sizes": sizes}


def by_name(figures: list[dict]) -> dict[str, dict]:
    return {f["name"]: f for f in figures}


def test_figures_from_script_outputs_with_ceilings_spreads_and_verdicts() -> None:
    report = {
        "submissions": {"result": submissions_output()},
        "results": {"result": results_output(100_000)},
        "exports": {"error": "exit status 1: boom"},
        "coding": {"result": {"skipped": "data not found"}},
    }
    figures = by_name(run_all.build_figures(report))

    rate = figures["complete 2017 submissions through the API"]
    assert rate["measured"] == 90.0 and rate["met"] is False
    assert rate["spread"] == {"min": 88.0, "max": 95.0} and rate["runs"] == 3
    assert rate["ceiling"]["value"] == 1400
    ratio = figures["submissions as a ratio to a trivial view"]
    # Run by run: each submissions run against the trivial-view run beside it.
    assert ratio["met"] is True
    assert ratio["spread"] == {"min": round(90 / 1500, 3), "max": round(95 / 1300, 3)}
    assert figures["submission p95 at 100/s offered"]["met"] is True
    assert figures["acknowledged submissions lost"]["measured"] == 0
    assert figures["acknowledged submissions lost"]["met"] is True
    assert figures["results page p95 (results cache off)"]["met"] is False
    assert figures["results page p95 (results cache on)"]["met"] is True
    filtered = figures["results page p95, first view with a filter (computed)"]
    assert (filtered["measured"], filtered["runs"], filtered["met"]) == (250.0, 8, True)
    warmed = figures["results page p95, first view after a release (warmed)"]
    assert (warmed["measured"], warmed["runs"], warmed["warm_up_seconds"], warmed["met"]) == (
        30.0,
        8,
        12.5,
        True,
    )

    # A failed or skipped script yields null figures with the reason, never a number.
    csv = figures["CSV export throughput as a share of PostgreSQL COPY"]
    assert csv["measured"] is None and csv["met"] is None and "boom" in csv["error"]
    f1 = next(f for name, f in figures.items() if name.startswith("NHS micro-F1"))
    assert f1["measured"] is None and f1["met"] is None and "skipped" in f1["error"]


def test_a_figure_measured_below_the_target_size_is_not_judged() -> None:
    report = {"results": {"result": results_output(10_000)}}
    page = by_name(run_all.build_figures(report))["results page p95 (results cache on)"]
    assert page["measured"] == 20.0 and page["responses"] == 10_000
    assert page["met"] is None and "10,000" in page["note"]
    assert by_name(run_all.build_figures(report))["complete 2017 submissions through the API"]["error"]


def test_reference_alpha_is_the_median_of_the_draws_with_their_spread() -> None:
    draws = [0.6, 0.9, 0.85, 0.79, 0.81]
    row = {"alpha_median": 0.81, "alpha_mean": 0.79, "alpha_samples": draws, "alpha_overall": 0.6,
           "test_answers": 19}  # fmt: skip
    coding = {"reference_items_10_per_category": {"trends": {run_all.default_trained(0): row}}}
    figures = by_name(run_all.build_figures({"coding": {"result": coding}}))
    alpha = figures["coding alpha against held-out human codes, 10 per category: trends"]
    assert (alpha["measured"], alpha["runs"], alpha["met"]) == (0.81, 5, True)
    assert alpha["spread"] == {"min": 0.6, "max": 0.9, "mean": 0.79}
