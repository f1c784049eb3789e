"""Build small XLSForm workbooks in memory for tests."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import openpyxl

Rows = Sequence[Sequence[Any]]

SURVEY_HEADER = ("type", "name", "label", "hint", "required", "relevant", "constraint", "appearance")
CHOICES_HEADER = ("list_name", "name", "label")

YES_NO_CHOICES: list[tuple[str, str, str]] = [("yes_no", "yes", "Yes"), ("yes_no", "no", "No")]


def build_xlsform(
    survey: Rows | None,
    choices: Rows | None = None,
    settings: Rows | None = None,
    *,
    survey_header: Sequence[str] = SURVEY_HEADER,
    choices_header: Sequence[str] = CHOICES_HEADER,
    settings_header: Sequence[str] = ("form_title", "form_id", "version", "default_language"),
    extra_sheets: dict[str, Rows] | None = None,
) -> bytes:
    """An .xlsx with a survey sheet (header + rows), and choices / settings sheets when given.

    Rows are written from row 2 in order; `None` cells stay empty, and an empty tuple leaves a blank row.
    `survey=None` leaves the survey sheet out."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    sheets: list[tuple[str, Sequence[str] | None, Rows | None]] = [
        ("survey", survey_header, survey),
        ("choices", choices_header, choices),
        ("settings", settings_header, settings),
    ]
    for name, header, rows in sheets:
        if rows is None:
            continue
        sheet = workbook.create_sheet(name)
        if header:
            sheet.append(list(header))
        for row in rows:
            sheet.append(list(row) if row else [None])
    for name, rows in (extra_sheets or {}).items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
    if not workbook.sheetnames:
        workbook.create_sheet("Sheet1")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def row(type_: str, name: str | None = None, label: str | None = None, **columns: Any) -> tuple[Any, ...]:
    """A survey row in SURVEY_HEADER order: row("integer", "age", "Age", constraint=". >= 0")."""
    values = {"type": type_, "name": name, "label": label, **columns}
    unknown = set(values) - set(SURVEY_HEADER)
    if unknown:
        raise ValueError(f"columns not in SURVEY_HEADER: {sorted(unknown)}")
    return tuple(values.get(column) for column in SURVEY_HEADER)
