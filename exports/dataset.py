"""What an exporter sees: described columns and a stream of already anonymised rows.

Exporters never touch the database or the disclosure-control step: `Dataset.rows()` yields rows that
have been through it (exports/anonymise), in a fresh random order, with fresh row ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

# Column kinds. Choice-like kinds carry value labels; flags and categories are 0/1.
ID = "id"
EDITION = "edition"
CHOICE = "choice"
FLAG = "flag"  # one column per choice of a multiple-choice item: 1 chosen, 0 not, empty unanswered
CATEGORY = "category"  # one column per coding category of a free-text item (coding/)
INTEGER = "integer"
DECIMAL = "decimal"
TEXT = "text"

NUMERIC_KINDS = frozenset({ID, FLAG, CATEGORY, INTEGER, DECIMAL})
LABELLED_KINDS = frozenset({EDITION, CHOICE, FLAG, CATEGORY})
FLAG_LABELS = {"0": "Not chosen", "1": "Chosen"}
CATEGORY_LABELS = {"0": "Not coded with this category", "1": "Coded with this category"}


@dataclass
class Variable:
    name: str
    label: str
    kind: str
    item_code: str = ""
    item_type: str = ""
    # Code → label, in questionnaire order (choices) or 0/1 (flags, categories).
    value_labels: dict[str, str] = field(default_factory=dict)
    choice: str = ""  # the choice or category code of a FLAG / CATEGORY column
    quasi_identifier: bool = False
    # Coding frame of a CATEGORY column's item (code, label, description, retired, human_only): codebook.
    coding: dict[str, Any] = field(default_factory=dict)

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS

    def numeric_codes(self) -> dict[str, int]:
        """Choice code → integer code, for formats that label only numbers (SPSS, Stata)."""
        if self.kind in (FLAG, CATEGORY):
            return {"0": 0, "1": 1}
        return {code: i for i, code in enumerate(self.value_labels, start=1)}


Progress = Callable[[int], None]
BATCH_SIZE = 2000


@dataclass
class Dataset:
    """A table ready to write. `rows()` starts a fresh pass over the data each time it is called."""

    name: str  # file name stem, e.g. "law-enforcement-survey_2017"
    title: str
    variables: list[Variable]
    count: int
    rows: Callable[[], Iterator[Sequence[Any]]]
    language: str
    report: dict[str, Any] = field(default_factory=dict)
    # The same rows as `rows()`, in lists, for writers that take many at once (CSV). Without it,
    # `batches()` cuts `rows()` into lists of BATCH_SIZE.
    chunks: Callable[[], Iterator[list[Sequence[Any]]]] | None = None

    @property
    def columns(self) -> list[str]:
        return [v.name for v in self.variables]

    def batches(self) -> Iterator[list[Sequence[Any]]]:
        """A fresh pass over the rows, a list of rows at a time."""
        if self.chunks is not None:
            yield from self.chunks()
            return
        rows = self.rows()
        while batch := list(islice(rows, BATCH_SIZE)):
            yield batch
