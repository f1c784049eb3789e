"""The codebook (JSON for programs, HTML for people) and the bundle of every format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.template.loader import render_to_string

from exports import dataset as ds
from exports.dataset import Dataset
from exports.exporters.base import ExportContext, Exporter

# What an empty cell of a coded category column means (exports/selectors.py::_category_columns).
CATEGORY_EMPTY = (
    "0 = coded, the category does not apply. Empty = not answered or not coded, or the coding cannot say "
    "whether the category applies: the coder was not offered it (added to the codebook after the answer "
    "was coded, or retired before), unless a trained model decided it for that answer (then its value is "
    "the model's, as in the results' mixed figures), the automatic coding did not cover it, it is coded by "
    "people only and the answer was coded automatically, or the edition's codebook lacks it. Such answers "
    "are left out of the category's base, as in the results."
)


def codebook(dataset: Dataset, report: dict[str, Any]) -> dict[str, Any]:
    variables = []
    for v in dataset.variables:
        numeric = v.numeric_codes() if v.kind in ds.LABELLED_KINDS else {}
        entry: dict[str, Any] = {
            "name": v.name,
            "label": v.label,
            "item": v.item_code,
            "item_type": v.item_type,
            "kind": v.kind,
            "quasi_identifier": v.quasi_identifier,
            "values": [
                {"code": code, "label": label, "sav_dta_code": numeric.get(code)}
                for code, label in v.value_labels.items()
            ],
        }
        if v.kind == ds.CATEGORY:
            entry["category"] = v.choice
            entry["coding_frame"] = v.coding.get("frame", [])
            entry["empty"] = CATEGORY_EMPTY
        variables.append(entry)
    return {
        "title": dataset.title,
        "language": dataset.language,
        "rows": dataset.count,
        "row_id": "numbers 1..n after a fresh random ordering of this export; not a database id",
        "missing": "an empty cell: not asked or not answered (coded category columns: see their 'empty')",
        "variables": variables,
        "disclosure_control": report,
    }


class CodebookExporter(Exporter):
    identifier = "codebook"
    verbose_name = "Codebook (JSON and HTML)"
    extension = "json"
    media_type = "application/json"
    writes_rows = False

    def passes(self) -> int:
        return 0

    def write_files(self, context: ExportContext, directory: Path) -> list[Path]:
        dataset = context.dataset()
        book = codebook(dataset, context.report)
        json_path = directory / f"{dataset.name}_codebook.json"
        json_path.write_text(json.dumps(book, indent=2, ensure_ascii=False), encoding="utf-8")
        html_path = directory / f"{dataset.name}_codebook.html"
        html_path.write_text(render_to_string("exports/codebook.html", {"book": book}), encoding="utf-8")
        return [json_path, html_path]


class BundleExporter(Exporter):
    """Every format in one zip (the zip and its manifest are made by exports/services.py)."""

    identifier = "bundle"
    verbose_name = "Everything (zip with a manifest)"
    extension = "zip"
    media_type = "application/zip"

    def members(self) -> list[Exporter]:
        from exports.exporters import EXPORTERS

        return [
            exporter()
            for identifier, exporter in EXPORTERS.items()
            if identifier not in (self.identifier, CodebookExporter.identifier)
        ]

    def passes(self) -> int:
        return len(self.members())

    def write_files(self, context: ExportContext, directory: Path) -> list[Path]:
        files: list[Path] = []
        for exporter in self.members():
            dataset = context.dataset()
            path = directory / f"{dataset.name}.{exporter.identifier}.{exporter.extension}"
            if exporter.extension == exporter.identifier:
                path = directory / f"{dataset.name}.{exporter.extension}"
            exporter.write(dataset, path, context.progress(dataset.count))
            files.append(path)
        free = context.free_text()
        if free is not None:
            from exports.exporters.tabular import CsvExporter

            path = directory / f"{free.name}.csv"
            CsvExporter().write(free, path, context.progress(free.count))
            files.append(path)
        # Last, so the codebook reports what redaction did in the files above.
        files.extend(CodebookExporter().write_files(context, directory))
        return files
