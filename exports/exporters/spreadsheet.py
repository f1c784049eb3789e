"""XLSX, written row by row (xlsxwriter's constant-memory mode), with a variables sheet for the labels."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import xlsxwriter

from exports.dataset import Dataset, Progress
from exports.exporters.base import Exporter, counting, neutralise_formula

# A fixed document date: the file must not tell when it was made (no timestamps in exports).
DOCUMENT_DATE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
MAX_CELL = 32_767  # Excel's limit on characters in a cell


class XlsxExporter(Exporter):
    identifier = "xlsx"
    verbose_name = "Excel workbook (XLSX)"
    extension = "xlsx"
    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    def write(self, dataset: Dataset, path: Path, progress: Progress) -> None:
        workbook = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                # Never turn a string into a formula, a number or a link: what was text stays text.
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
            },
        )
        workbook.set_properties({"title": dataset.title, "created": DOCUMENT_DATE.replace(tzinfo=None)})
        data = workbook.add_worksheet("data")
        bold = workbook.add_format({"bold": True})
        for col, name in enumerate(dataset.columns):
            data.write_string(0, col, name, bold)
        writers = [
            data.write_number if variable.numeric else data.write_string for variable in dataset.variables
        ]
        columns = list(enumerate(writers))
        for r, row in enumerate(counting(dataset.rows(), progress), start=1):
            for col, write in columns:
                value = row[col]
                if value is None:
                    continue
                if write == data.write_string:
                    value = neutralise_formula(value)[:MAX_CELL]
                write(r, col, value)
        self._variables_sheet(workbook, dataset, bold)
        workbook.close()

    @staticmethod
    def _variables_sheet(workbook: xlsxwriter.Workbook, dataset: Dataset, bold: object) -> None:
        sheet = workbook.add_worksheet("variables")
        for col, title in enumerate(("variable", "label", "item", "type", "values")):
            sheet.write_string(0, col, title, bold)
        for r, v in enumerate(dataset.variables, start=1):
            values = "; ".join(f"{code} = {label}" for code, label in v.value_labels.items())
            for col, text in enumerate((v.name, v.label, v.item_code, v.item_type or v.kind, values)):
                sheet.write_string(r, col, neutralise_formula(text)[:MAX_CELL])
