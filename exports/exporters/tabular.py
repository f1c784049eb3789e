"""CSV, wide (one row per response) and long (one row per answer)."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

from exports import dataset as ds
from exports.dataset import Dataset, Progress
from exports.exporters.base import FORMULA_START, Exporter, counting

WRITE_BUFFER = 1 << 20


def _neutralise_formulas(batch: list[Sequence[Any]], string_at: list[int]) -> None:
    """`_cell` on the string columns of a batch, in place. A column holds few distinct values (choice
    codes), so those are checked, not every cell; a row changes only if it holds a risky value."""
    for i in string_at:
        values = set(map(itemgetter(i), batch))
        values.discard(None)
        risky = {value for value in values if value.startswith(FORMULA_START)}
        if risky:
            for n, row in enumerate(batch):
                if row[i] in risky:
                    changed = batch[n] = list(row)
                    changed[i] = "'" + row[i]


def _cell(value: Any) -> Any:
    # Strings that a spreadsheet would evaluate get a leading quote; numbers pass unchanged.
    if value.__class__ is str and value.startswith(FORMULA_START):
        return "'" + value
    return value


class CsvExporter(Exporter):
    identifier = "csv"
    verbose_name = "CSV, one row per response"
    extension = "csv"
    media_type = "text/csv"

    def write(self, dataset: Dataset, path: Path, progress: Progress) -> None:
        # Only text and choice columns can hold strings; the rest are numbers or empty.
        string_at = [i for i, v in enumerate(dataset.variables) if not v.numeric]
        with path.open("w", newline="", encoding="utf-8", buffering=WRITE_BUFFER) as fh:
            writer = csv.writer(fh)
            writer.writerow(dataset.columns)
            done = 0
            for batch in dataset.batches():
                _neutralise_formulas(batch, string_at)
                writer.writerows(batch)
                done += len(batch)
                progress(done)
            progress(done)


class CsvLongExporter(Exporter):
    identifier = "csv_long"
    verbose_name = "CSV, one row per answer"
    extension = "csv"
    media_type = "text/csv"

    def write(self, dataset: Dataset, path: Path, progress: Progress) -> None:
        variables = dataset.variables
        leading = [i for i, v in enumerate(variables) if v.kind in (ds.ID, ds.EDITION)]
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow([variables[i].name for i in leading] + ["item", "value"])
            for row in counting(dataset.rows(), progress):
                head = [row[i] for i in leading]
                writer.writerows([*head, item, _cell(value)] for item, value in self._answers(variables, row))

    @staticmethod
    def _answers(variables: list[ds.Variable], row: list[Any]) -> Iterator[tuple[str, Any]]:
        for variable, value in zip(variables, row, strict=True):
            if value is None or variable.kind in (ds.ID, ds.EDITION):
                continue
            if variable.kind == ds.FLAG:
                # As Answer rows: one per chosen choice.
                if value == 1:
                    yield variable.item_code, variable.choice
            elif variable.kind == ds.CATEGORY:
                if value == 1:
                    yield f"{variable.item_code}__category", variable.choice
            else:
                yield variable.item_code or variable.name, value
