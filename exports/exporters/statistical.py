"""SPSS .sav and Stata .dta through pyreadstat, with variable labels and value labels.

Choice columns become integer codes (1, 2, … in questionnaire order) labelled with the choices' texts;
the codebook lists the mapping. pyreadstat writes from a whole DataFrame (it needs the row count for the
file header and each string column's widest value before the first row), so the table has to be in
memory; what we control is how compact it is. Rows stream in and are packed chunk by chunk into typed
columns: codes as 1- or 2-byte integers with a missing mask (pandas' nullable Int8/Int16), numbers as
8-byte floats with a mask, text in Arrow string buffers. Every column is a pandas extension array, so
building the DataFrame copies nothing, and pyreadstat iterates it row by row. About 150 bytes per
response of the 2017 questionnaire, where float64 columns copied into a DataFrame took about 1,000
(docs/performance.md).
ReadStat stamps a creation time into both headers; we overwrite it with a fixed one (no timestamps).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyreadstat

from exports import dataset as ds
from exports.dataset import Dataset, Progress
from exports.exporters.base import Exporter, counting

CHUNK = 2_000  # rows packed at a time: the only part of the table held as Python objects
NO_CODE = -1  # a missing value among codes, before it becomes the mask


class _TypedColumn:
    """One variable's values in one typed array allocated before rows stream (so the short-lived Python
    objects of each chunk do not fragment the heap around long-lived data), filled chunk by chunk."""

    def __init__(self, dtype: Any, capacity: int, convert: Callable[[Any], Any]) -> None:
        self.data = np.empty(capacity, dtype=dtype)
        self.size = 0
        self.convert = convert

    def add(self, values: list[Any]) -> None:
        end = self.size + len(values)
        if end > len(self.data):  # more rows than counted (a release while the export ran)
            grown = np.empty(max(end, 2 * len(self.data)), dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : end] = np.fromiter(map(self.convert, values), self.data.dtype, len(values))
        self.size = end


class _CodeColumn(_TypedColumn):
    """Value-labelled codes (choices, 0/1 flags and categories) as pandas' nullable Int8 or Int16."""

    def finish(self) -> pd.api.extensions.ExtensionArray:
        data = self.data[: self.size]
        mask = data == NO_CODE
        data[mask] = 0
        return pd.arrays.IntegerArray(data, mask)


class _NumberColumn(_TypedColumn):
    def finish(self) -> pd.api.extensions.ExtensionArray:
        data = self.data[: self.size]
        return pd.arrays.FloatingArray(data, np.isnan(data))


class _TextColumn:
    """Text in Arrow string buffers (bytes and offsets), not one Python object per cell."""

    def __init__(self) -> None:
        self.parts: list[pa.Array] = []

    def add(self, values: list[Any]) -> None:
        # Empty, not missing: what SPSS and Stata show for no text.
        self.parts.append(pa.array(["" if v is None else v for v in values], type=pa.string()))

    def finish(self) -> pd.api.extensions.ExtensionArray:
        return pd.arrays.ArrowStringArray(pa.chunked_array(self.parts, type=pa.string()))


def _column(
    variable: ds.Variable, codes: dict[str, int] | None, capacity: int
) -> _CodeColumn | _NumberColumn | _TextColumn:
    if codes is not None:
        dtype = np.int8 if max(codes.values(), default=0) <= np.iinfo(np.int8).max else np.int16
        if variable.kind in (ds.FLAG, ds.CATEGORY):
            return _CodeColumn(dtype, capacity, lambda v: NO_CODE if v is None else int(v))
        return _CodeColumn(dtype, capacity, lambda v: NO_CODE if v is None else codes.get(v, NO_CODE))
    if variable.numeric:
        return _NumberColumn(np.float64, capacity, lambda v: np.nan if v is None else v)
    return _TextColumn()


def _chunks(rows: Iterable[list[Any]], size: int) -> Iterator[list[list[Any]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


class StatisticalExporter(Exporter):
    name_limit: ClassVar[int]
    label_limit: ClassVar[int]

    def write(self, dataset: Dataset, path: Path, progress: Progress) -> None:
        variables = dataset.variables
        names = self.names(variables)
        codes = [v.numeric_codes() if v.kind in ds.LABELLED_KINDS else None for v in variables]
        columns = [_column(v, mapping, dataset.count) for v, mapping in zip(variables, codes, strict=True)]
        for chunk in _chunks(counting(dataset.rows(), progress), CHUNK):
            for i, column in enumerate(columns):
                column.add([row[i] for row in chunk])
        frame = pd.DataFrame(
            {name: column.finish() for name, column in zip(names, columns, strict=True)}, copy=False
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


SAV_CREATION_AT = 92
SAV_FIXED_CREATION = b"01 Jan 00" + b"00:00:00"


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
        # System file header: "$FL2", product (60 bytes), five int32 (layout, case size, compression,
        # weight index, cases), the compression bias (float64) at 84, then the creation date (9 bytes,
        # "dd Mmm yy") at 92 and time (8 bytes, "hh:mm:ss") at 101.
        with path.open("r+b") as fh:
            fh.seek(SAV_CREATION_AT)
            fh.write(SAV_FIXED_CREATION)


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
