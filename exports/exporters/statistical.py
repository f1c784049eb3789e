"""SPSS .sav and Stata .dta through pyreadstat, with variable labels and value labels.

Choice columns become integer codes (1, 2, … in questionnaire order) labelled with the choices' texts;
the codebook lists the mapping. pyreadstat writes from a whole DataFrame, so the table is assembled in
compact columns (float64 for numbers and codes, Python strings only for text) while rows stream in:
memory grows with the number of responses, about 8 bytes per numeric cell (docs/performance.md).
ReadStat stamps a creation time into both headers; we overwrite it with a fixed one (no timestamps).
"""

from __future__ import annotations

import math
import re
from array import array
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pyreadstat

from exports import dataset as ds
from exports.dataset import Dataset, Progress
from exports.exporters.base import Exporter, counting

NAN = math.nan


class StatisticalExporter(Exporter):
    name_limit: ClassVar[int]
    label_limit: ClassVar[int]

    def write(self, dataset: Dataset, path: Path, progress: Progress) -> None:
        variables = dataset.variables
        names = self.names(variables)
        codes = [v.numeric_codes() if v.kind in ds.LABELLED_KINDS else None for v in variables]
        numeric: list[array[float] | None] = []
        strings: list[list[str] | None] = []
        for v, mapping in zip(variables, codes, strict=True):
            as_number = v.numeric or mapping is not None
            numeric.append(array("d") if as_number else None)
            strings.append(None if as_number else [])
        for row in counting(dataset.rows(), progress):
            for i, value in enumerate(row):
                column = numeric[i]
                if column is not None:
                    mapping = codes[i]
                    if value is None:
                        column.append(NAN)
                    elif mapping is not None and variables[i].kind not in (ds.FLAG, ds.CATEGORY):
                        column.append(mapping.get(value, NAN))
                    else:
                        column.append(value)
                else:
                    strings[i].append("" if value is None else value)  # type: ignore[union-attr]
        frame = pd.DataFrame(
            {
                name: (pd.Series(numeric[i], dtype="float64") if numeric[i] is not None else strings[i])
                for i, name in enumerate(names)
            },
            columns=names,
        )
        value_labels = {
            names[i]: {code: variables[i].value_labels.get(text, text) for text, code in mapping.items()}
            for i, mapping in enumerate(codes)
            if mapping is not None
        }
        labels = [v.label[: self.label_limit] for v in variables]
        self.save(frame, path, labels, value_labels, dataset)
        self.clear_timestamp(path)

    def names(self, variables: list[ds.Variable]) -> list[str]:
        """Legal, unique variable names within the format's length limit."""
        names: list[str] = []
        taken: set[str] = set()
        for v in variables:
            name = re.sub(r"[^A-Za-z0-9_]", "_", v.name)
            if not name[:1].isalpha():
                name = "v_" + name
            name = name[: self.name_limit]
            n = 1
            while name.lower() in taken:
                suffix = f"_{n}"
                name = name[: self.name_limit - len(suffix)] + suffix
                n += 1
            taken.add(name.lower())
            names.append(name)
        return names

    def save(
        self,
        frame: pd.DataFrame,
        path: Path,
        labels: list[str],
        value_labels: dict[str, dict[int, str]],
        dataset: Dataset,
    ) -> None:
        raise NotImplementedError

    def clear_timestamp(self, path: Path) -> None:
        raise NotImplementedError


class SavExporter(StatisticalExporter):
    identifier = "sav"
    verbose_name = "SPSS (.sav)"
    extension = "sav"
    media_type = "application/x-spss-sav"
    name_limit = 64
    label_limit = 255

    def save(self, frame: Any, path: Path, labels: Any, value_labels: Any, dataset: Dataset) -> None:
        pyreadstat.write_sav(
            frame,
            str(path),
            file_label=dataset.title[:64],
            column_labels=labels,
            variable_value_labels=value_labels,
        )

    def clear_timestamp(self, path: Path) -> None:
        # System file header: creation date (9 bytes) at offset 84, time (8 bytes) at offset 93.
        with path.open("r+b") as fh:
            fh.seek(84)
            fh.write(b"01 Jan 00" + b"00:00:00")


class DtaExporter(StatisticalExporter):
    identifier = "dta"
    verbose_name = "Stata (.dta)"
    extension = "dta"
    media_type = "application/x-stata-dta"
    # Stata allows 32 characters, but pyreadstat names each value-label set after its variable plus a
    # counter, and that name has the same limit.
    name_limit = 28
    label_limit = 80

    def save(self, frame: Any, path: Path, labels: Any, value_labels: Any, dataset: Dataset) -> None:
        pyreadstat.write_dta(
            frame,
            str(path),
            file_label=dataset.title[:80],
            column_labels=labels,
            variable_value_labels=value_labels,
        )

    def clear_timestamp(self, path: Path) -> None:
        # <timestamp> holds a length byte and "dd Mon yyyy hh:mm" (17 characters) in the header.
        with path.open("r+b") as fh:
            head = fh.read(4096)
            at = head.find(b"<timestamp>")
            if at >= 0:
                length = head[at + len(b"<timestamp>")]
                fh.seek(at + len(b"<timestamp>") + 1)
                fh.write(b"01 Jan 2000 00:00"[:length].ljust(length))
