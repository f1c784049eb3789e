"""Draw how cost grows with the number of responses, from a `make bench` report (bench/run_all.py).

Left: the results page's p95 latency with the results cache off and on (results.py). Right: the seconds
of each export format and of PostgreSQL COPY of the same rows (exports.py). Log-scaled axes; what a run
did not measure is left out and said on the panel. With several reports (e.g. runs of BENCH_ONLY=results
and BENCH_ONLY=exports), each panel takes the first report that measured it, and the title names each.

Usage: .venv/bin/python bench/chart.py REPORT.json [MORE_REPORTS.json ...] OUT.svg
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("svg")  # no display; SVG text stays text
import matplotlib.pyplot as plt

FORMATS = {"csv": "CSV", "xlsx": "XLSX", "sav": "SPSS", "dta": "Stata", "parquet": "Parquet"}
RESULTS_TARGET_MS = 300


def results_series(report: dict[str, Any]) -> dict[str, list[tuple[int, float]]]:
    sizes = ((report.get("results") or {}).get("result") or {}).get("sizes") or []
    return {
        label: [(s["responses"], s[mode]["page_html"]["all"]["p95_ms"]) for s in sizes]
        for mode, label in [("uncached", "cache off"), ("cached", "cache on")]
    }


def export_series(report: dict[str, Any]) -> dict[str, list[tuple[int, float]]]:
    sizes = ((report.get("exports") or {}).get("result") or {}).get("results") or []
    series = {"PostgreSQL COPY": [(s["responses"], s["copy_seconds"]) for s in sizes]}
    for fmt, label in FORMATS.items():
        series[label] = [(s["responses"], s["formats"][fmt]["seconds"]) for s in sizes if fmt in s["formats"]]
    return series


def draw(ax: Any, series: dict[str, list[tuple[int, float]]], *, title: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("released responses")
    ax.set_ylabel(ylabel)
    drawn = False
    for label, points in series.items():
        if points:
            xs, ys = zip(*sorted(points), strict=True)
            style = "--" if label == "PostgreSQL COPY" else "-"
            ax.plot(xs, ys, style, marker="o", label=label)
            drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "not measured in this run", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks([1_000, 10_000, 100_000], ["1k", "10k", "100k"])
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)


def first_measured(reports: list[dict[str, Any]], series: Any) -> tuple[dict[str, Any] | None, Any]:
    for report in reports:
        found = series(report)
        if any(found.values()):
            return report, found
    return None, series({})


def caption(report: dict[str, Any] | None) -> str:
    if report is None:
        return "not measured"
    load = report.get("machine", {}).get("load_average_1_5_15", {})
    return (
        f"make bench ({report.get('mode', '?')}) {report.get('started', '?')}, "
        f"{report.get('machine', {}).get('cores', '?')} cores, load avg (1 min) start/end "
        f"{(load.get('start') or ['?'])[0]} / {(load.get('end') or ['?'])[0]}"
    )


def main() -> None:
    *report_paths, out_path = (Path(arg) for arg in sys.argv[1:])
    reports = [json.loads(path.read_text()) for path in report_paths]
    plt.rcParams["svg.hashsalt"] = "bench"  # stable element ids: a re-drawn chart diffs cleanly
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.4))
    results_report, results = first_measured(reports, results_series)
    exports_report, exports = first_measured(reports, export_series)
    draw(left, results, title="Results page p95", ylabel="ms")
    if left.lines:
        left.axhline(RESULTS_TARGET_MS, color="grey", linewidth=0.8, linestyle=":")
        left.annotate("target 300 ms at 100k", (1_000, RESULTS_TARGET_MS), fontsize=7, color="grey")
    draw(right, exports, title="Export of all responses (end to end)", ylabel="seconds")
    fig.suptitle(
        f"Results: {caption(results_report)}\nExports: {caption(exports_report)}\n"
        "(shared machine: other engineers' work was running)",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(out_path, format="svg", metadata={"Date": None})
    print(f"chart: {out_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
