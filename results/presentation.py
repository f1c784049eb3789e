"""Turns aggregated results into figures a template can draw: labelled bars with shares, per page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from results.selectors import OTHER, SUPPRESSED_ALL, category_base, share
from surveys.presentation import BlockView, ItemView, PageView


@dataclass
class Bar:
    code: str
    label: str
    count: int | None
    percent: float | None
    # Coded free text: a category only people code is a share of the human-coded respondents.
    human_coded_only: bool = False
    # Coded free text: the share's base where it is not the figure's n (some respondents' final codes
    # say nothing about the category, or it is coded by people only).
    base: int | None = None
    quotes: list[Any] = field(default_factory=list)  # results.quotes.Quote, redacted


@dataclass
class Figure:
    kind: str  # "bars", "grid", "numbers", "text", "empty"
    code: str
    label: str
    n: int | None
    bars: list[Bar] = field(default_factory=list)
    rows: list[Figure] = field(default_factory=list)  # grid rows
    summary: dict[str, Any] = field(default_factory=dict)
    suppressed: list[str] = field(default_factory=list)
    hidden: bool = False  # the whole figure is below the disclosure threshold
    note: str = ""

    @property
    def quoted_bars(self) -> list[Bar]:
        return [bar for bar in self.bars if bar.quotes]


def _category_labels(codebook: list[dict[str, Any]] | None) -> dict[str, str]:
    return {c["code"]: c["label"] for c in codebook or []}


def item_figure(
    item: ItemView,
    result: dict[str, Any],
    codebook: list[dict[str, Any]] | None = None,
    quotes: dict[str, list[Any]] | None = None,
) -> Figure:
    n = result["n"]
    hidden = SUPPRESSED_ALL in result["suppressed"]
    figure = Figure(
        kind="empty", code=item.code, label=item.label, n=n, hidden=hidden, suppressed=result["suppressed"]
    )
    if hidden:
        return figure
    if item.is_choice:
        labels = {c.code: c.label for c in item.choices} | {OTHER: "Others"}
        figure.kind = "bars"
        codes = [c.code for c in item.choices if c.code in result["counts"] or c.code in result["suppressed"]]
        if OTHER in result["counts"] or OTHER in result["suppressed"]:
            codes.append(OTHER)
        if item.type == "country":  # largest first, "Others" last, as in the report
            codes.sort(key=lambda c: (c == OTHER, -(result["counts"].get(c) or 0)))
        figure.bars = [
            Bar(c, labels.get(c, c), result["counts"].get(c), share(result["counts"].get(c), n))
            for c in codes
        ]
    elif item.type in ("integer", "decimal"):
        figure.kind = "numbers"
        figure.summary = result["summary"]
        figure.bars = [
            Bar(f"bin{i}", f"{b['from']:,} to {b['to']:,}", b["count"], share(b["count"], n))
            for i, b in enumerate(result["summary"].get("bins", []))
        ]
    elif item.type in ("text", "long_text"):
        figure.kind = "text"
        figure.summary = result["summary"]
        labels = _category_labels(codebook)
        codes = list(result["counts"]) + list(result["suppressed"])
        order = {code: i for i, code in enumerate(labels)}
        codes.sort(
            key=lambda c: (
                -(result["counts"].get(c) or 0) if c in result["counts"] else order.get(c, 0) + 10**9
            )
        )
        human_only = set(result["summary"].get("human_only", []))
        bases = result["summary"].get("bases", {})
        figure.bars = [
            Bar(
                c,
                labels.get(c, c),
                result["counts"].get(c),
                share(result["counts"].get(c), category_base(result, c)),
                human_coded_only=c in human_only,
                base=bases.get(c),
                quotes=(quotes or {}).get(c, []),
            )
            for c in codes
        ]
        if not result["summary"].get("coded"):
            figure.note = "Not coded yet: only the number of answers is shown."
    return figure


def page_figures(
    page: PageView,
    results: dict[str, Any],
    codebooks: dict[str, list[dict[str, Any]]] | None = None,
    quotes: dict[str, dict[str, list[Any]]] | None = None,
) -> list[Figure]:
    figures: list[Figure] = []

    def walk(blocks: list[BlockView]) -> None:
        for block in blocks:
            if block.kind == "item" and block.item is not None and block.item.code in results:
                code = block.item.code
                figures.append(
                    item_figure(
                        block.item, results[code], (codebooks or {}).get(code), (quotes or {}).get(code)
                    )
                )
            elif block.kind == "grid":
                rows = [item_figure(row, results[row.code]) for row in block.rows if row.code in results]
                figures.append(Figure(kind="grid", code=block.code, label=block.label, n=None, rows=rows))
            elif block.kind == "section":
                walk(block.blocks)

    walk(page.blocks)
    return figures


def item_csv_rows(item: dict[str, Any], item_code: str, *, coded_text: bool) -> list[list[Any]]:
    """The rows of one item's CSV (header first): each category or choice with its count, percent and
    denominator, histogram bins, then the withheld values. A free-text item also has the method behind
    the figures (summary.method; empty when not coded or withheld) and, per category, whether only people
    code it (its share is of the human-coded respondents), as columns rather than notes so a spreadsheet
    reads every row alike."""
    method = item["summary"].get("method", "")
    human_only = set(item["summary"].get("human_only", ()))

    def row(*cells: object, code: str) -> list[Any]:
        if not coded_text:
            return [item_code, code, *cells]
        flag = ("yes" if code in human_only else "no") if method else ""
        return [item_code, code, *cells, method, flag]

    header = ["item", "value", "count", "percent_of_respondents", "respondents"]
    rows: list[list[Any]] = [[*header, "method", "human_coding_only"] if coded_text else header]
    for code, count in item["counts"].items():
        base = category_base(item, code)  # a "human coding only" category: the human-coded respondents
        rows.append(row(count, round(100 * count / base, 1) if base else "", base, code=code))
    n = item["n"]
    for bin_ in item["summary"].get("bins", []):
        count = bin_["count"] if bin_["count"] is not None else "suppressed"
        rows.append([item_code, f"{bin_['from']}-{bin_['to']}", count, "", n])
    rows.extend(
        row("suppressed", "", n if n else "suppressed", code=code)
        for code in item["suppressed"]
        if not code.startswith("bin")
    )
    return rows
