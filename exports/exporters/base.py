"""The exporter contract (after pretix's BaseExporter / ListExporter).

An exporter turns an anonymised `Dataset` into a file. It never reads the database and never sees a row
that has not been through disclosure control (exports/anonymise). To add a format, write a subclass and
list it in exports/exporters/__init__.py; nothing else changes.

Subclasses set `identifier` (the API's `format`), `verbose_name`, `extension`, `media_type`, and implement
`write(dataset, path, progress)`, which streams `dataset.rows()` into `path` and calls `progress(n)` with
the number of rows written so far (`counting(...)` does that). Composite exporters (codebook, bundle)
override `write_files` instead and may write several files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Protocol

from exports.dataset import Dataset, Progress

PROGRESS_EVERY = 1000
# A spreadsheet evaluates a cell that starts with one of these; OWASP's advice is to prefix a quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\x00")


def neutralise_formula(value: str) -> str:
    """'=HYPERLINK(...)' → "'=HYPERLINK(...)": shown as text, never evaluated. Only for strings: numbers
    are written as numbers and stay numbers."""
    return "'" + value if value.startswith(FORMULA_START) else value


def counting(rows: Iterable[list[Any]], progress: Progress) -> Iterator[list[Any]]:
    n = 0
    for n, row in enumerate(rows, start=1):
        yield row
        if n % PROGRESS_EVERY == 0:
            progress(n)
    progress(n)


class ExportContext(Protocol):
    """What composite exporters get from the job (exports/services.py implements it)."""

    def dataset(self) -> Dataset:
        """The main table; a fresh random order and fresh row ids on each call unless the analyst asked
        for stable ids within the bundle."""

    def free_text(self) -> Dataset | None:
        """Free text on its own (item, text; no quasi-identifiers), when it goes to a separate file."""

    def progress(self, count: int) -> Progress:
        """A callback for one pass of `count` rows."""

    @property
    def report(self) -> dict[str, Any]: ...


class Exporter:
    identifier: ClassVar[str]
    verbose_name: ClassVar[str]
    extension: ClassVar[str]
    media_type: ClassVar[str] = "application/octet-stream"
    # Listed in the request form and the API (the codebook's HTML part is reached through "codebook").
    public: ClassVar[bool] = True
    # Writes the data (and so the free text), not only its description: a review of free text applies.
    writes_rows: ClassVar[bool] = True

    def write(self, dataset: Dataset, path: Path, progress: Progress) -> None:
        raise NotImplementedError

    def passes(self) -> int:
        """How many passes over the main table `write_files` makes (for the progress bar)."""
        return 1

    def write_files(self, context: ExportContext, directory: Path) -> list[Path]:
        """The main table, and the free-text table beside it in the same format when asked for."""
        files = []
        for dataset in (context.dataset(), context.free_text()):
            if dataset is None:
                continue
            path = directory / f"{dataset.name}.{self.extension}"
            self.write(dataset, path, context.progress(dataset.count))
            files.append(path)
        return files


def by_identifier(exporters: Iterable[type[Exporter]]) -> dict[str, type[Exporter]]:
    registry: dict[str, type[Exporter]] = {}
    for exporter in exporters:
        if exporter.identifier in registry:
            raise ValueError(f"two exporters are called {exporter.identifier!r}")
        registry[exporter.identifier] = exporter
    return registry


Writer = Callable[[Dataset, Path, Progress], None]
