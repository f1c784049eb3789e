"""The exporter registry: one class per format (see exports/exporters/base.py for the contract)."""

from exports.exporters.base import Exporter, by_identifier, neutralise_formula
from exports.exporters.codebook import BundleExporter, CodebookExporter
from exports.exporters.columnar import ParquetExporter
from exports.exporters.spreadsheet import XlsxExporter
from exports.exporters.statistical import DtaExporter, SavExporter
from exports.exporters.tabular import CsvExporter, CsvLongExporter

EXPORTERS: dict[str, type[Exporter]] = by_identifier(
    (
        CsvExporter,
        CsvLongExporter,
        XlsxExporter,
        SavExporter,
        DtaExporter,
        ParquetExporter,
        CodebookExporter,
        BundleExporter,
    )
)

__all__ = ["EXPORTERS", "Exporter", "neutralise_formula"]
