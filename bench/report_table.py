"""The `figures` of a `make bench` report (bench/run_all.py) as a Markdown table for docs/performance.md.

Usage: .venv/bin/python bench/report_table.py docs/bench-report.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and abs(value) < 10:
        return f"{value:.3g}"
    return f"{value:,.0f}" if isinstance(value, int | float) else str(value)


def spread(value: dict[str, Any] | None) -> str:
    return ", ".join(f"{k} {number(v)}" for k, v in value.items()) if value else "—"


def ceiling(value: dict[str, Any] | None) -> str:
    return f"{number(value['value'])} ({value['what']})" if value else "—"


def verdict(figure: dict[str, Any]) -> str:
    if figure["met"] is True:
        return "met"
    if figure["met"] is False:
        return "**not met**"
    return f"not judged: {figure.get('error') or figure.get('note') or 'no numeric target'}"


def main() -> None:
    report = json.loads(Path(sys.argv[1]).read_text())
    load = report["machine"].get("load_average_1_5_15", {})
    print(
        f"Report of {report['started']} ({report['mode']} mode), {report['machine']['cores']} cores, "
        f"load average (1, 5, 15 min) {load.get('start')} at the start and {load.get('end')} at the end."
    )
    print()
    print(
        "| figure | measured (median) | spread | runs | unit | ceiling in the same run | target | verdict |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for f in report["figures"]:
        cells = [f["name"], number(f["measured"]), spread(f["spread"]), str(f["runs"]), f["unit"],
                 ceiling(f["ceiling"]), f["target"] or "—", verdict(f)]  # fmt: skip
        print("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")


if __name__ == "__main__":
    main()
