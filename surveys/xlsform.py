"""XLSForm (.xlsx) → JSON questionnaire definition (docs/questionnaire-format.md, section XLSForm).

The workbook is read cell by cell so that every problem can be reported with its sheet, row (as Excel
numbers it) and column letter. pyxform, the reference XLSForm implementation, provides the column
aliases (`list name`, `label::English (en)`, `relevance`, ...), the type keywords and cell value
conversion; once our own checks pass, pyxform's conversion to an XForm runs as a last check so that
nothing ODK would reject gets in. Everything outside the supported subset is refused, never dropped.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import openpyxl
import pycountry
from openpyxl.utils import get_column_letter
from pyxform import aliases
from pyxform import constants as pyxform_constants
from pyxform.builder import create_survey_element_from_dict
from pyxform.errors import PyXFormError
from pyxform.parsing.sheet_headers import clean_text_values, process_header
from pyxform.question import MultipleChoiceQuestion, Option
from pyxform.question_type_dictionary import QUESTION_TYPE_DICT
from pyxform.survey import Survey
from pyxform.validators.pyxform.sheet_misspellings import find_sheet_misspellings
from pyxform.xls2json import RE_BEGIN_CONTROL, RE_END_CONTROL, RE_OSM, RE_SELECT, workbook_to_json
from pyxform.xls2json_backends import RE_WHITESPACE, DefinitionData, is_empty, xlsx_value_to_str

from surveys.definition import (
    DEFAULT_LANGUAGE,
    FORMAT,
    LANGUAGE_CODE_MAX_LENGTH,
    LANGUAGE_CODE_RE,
    DefinitionError,
    DefinitionInvalid,
    iso_country_codes,
    language_name,
    validate_definition,
)

DEFAULT_MAX_BYTES = 5_000_000
# Zip-bomb guards, checked on the archive's directory before any entry is inflated. Python's zipfile
# stops inflating an entry at its declared size, so the declared sizes bound the real work.
MAX_UNCOMPRESSED_BYTES = 50_000_000
MAX_COMPRESSION_RATIO = 100
RATIO_CHECK_MIN_BYTES = 1_000_000
MAX_ZIP_ENTRIES = 1_000
MAX_SHEET_ROWS = 20_000
# Cells read from one sheet, empty ones included: openpyxl gives each row up to its last cell, so one
# styled cell in column XFD makes a row 16,384 cells wide, and reading those one by one took minutes.
MAX_SHEET_CELLS = 2_000_000

SURVEY = "survey"
CHOICES = "choices"
SETTINGS = "settings"
# Sheets pyxform reads that hold features outside the subset.
UNSUPPORTED_SHEETS = frozenset(pyxform_constants.SUPPORTED_SHEET_NAMES - {SURVEY, CHOICES, SETTINGS})

ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# Column tokens (as pyxform's header parser returns them) → our field names.
SURVEY_FIELDS: dict[tuple[str, ...], str] = {
    ("type",): "type",
    ("name",): "name",
    ("label",): "label",
    ("hint",): "hint",
    ("bind", "required"): "required",
    ("bind", "jr:requiredMsg"): "required_message",
    ("bind", "relevant"): "relevant",
    ("bind", "constraint"): "constraint",
    ("bind", "jr:constraintMsg"): "constraint_message",
    ("control", "appearance"): "appearance",
}
CHOICES_FIELDS: dict[tuple[str, ...], str] = {
    (pyxform_constants.LIST_NAME_S,): "list_name",
    ("name",): "name",
    ("label",): "label",
}
SETTINGS_FIELDS: dict[tuple[str, ...], str] = {
    ("title",): "title",
    ("id_string",): "form_id",
    ("version",): "version",
    ("default_language",): "default_language",
}
TRANSLATABLE = frozenset({"label", "hint", "required_message", "constraint_message", "title"})
# How the columns are named in messages (XLSForm's own spelling).
COLUMN_TITLES = {
    "title": "form_title",
    "form_id": "form_id",
    "list_name": "list_name",
}
# Column fields whose definition key differs.
DEFINITION_KEYS = {"name": "code"}
GROUP_ROW_FIELDS = frozenset({"type", "name", "label", "relevant", "appearance"})

TRUE_WORDS = frozenset({"yes", "true", "true()", "1"})
FALSE_WORDS = frozenset({"no", "false", "false()", "0"})


def _pyxform_aliases_of(base: str) -> frozenset[str]:
    """pyxform's spellings of a question type (e.g. `int` for `integer`), from its type dictionary."""
    target = QUESTION_TYPE_DICT[base]
    return frozenset(
        name for name, spec in QUESTION_TYPE_DICT.items() if spec == target and "select" not in name
    )


PLAIN_TYPES: dict[str, str] = {
    alias: base for base in ("text", "integer", "decimal", "note") for alias in _pyxform_aliases_of(base)
}
RE_COUNTRY = re.compile(r"country(?: (?P<list_name>\S+))?")
RE_YES_NO = re.compile(r"yes_no(?: (?P<list_name>\S+))?")
RE_LANGUAGE = re.compile(r"(?P<name>.*?)\s*\(\s*(?P<code>[^()\s]+)\s*\)")
RE_PYXFORM_ROW = re.compile(r"\[row : (\d+)\]\s*")
RE_PYXFORM_SHEET = re.compile(r"On the '(\w+)' sheet")
OR_OTHER_LABEL = "Specify other."


# ---- reading the workbook -----------------------------------------------------------------------


@dataclass
class _Column:
    letter: str
    header: str
    field: str | None  # None: a column outside the subset
    language: str | None = None  # language code of a translatable column; None: default language


@dataclass
class _Row:
    number: int
    cells: dict[str, str]  # column letter → non-empty value


@dataclass
class _Sheet:
    name: str
    columns: list[_Column]
    rows: list[_Row]

    def column(self, field_name: str, language: str | None = None) -> _Column | None:
        for column in self.columns:
            if column.field == field_name and column.language == language:
                return column
        return None

    def columns_of(self, field_name: str) -> list[_Column]:
        return [column for column in self.columns if column.field == field_name]


@dataclass
class _Errors:
    items: list[DefinitionError] = field(default_factory=list)

    def add(
        self,
        message: str,
        *,
        sheet: str | None = None,
        row: int | None = None,
        column: str | None = None,
        element: str | None = None,
        field_name: str | None = None,
    ) -> None:
        self.items.append(DefinitionError(message, element, field_name, sheet=sheet, row=row, column=column))


def _refuse(message: str) -> DefinitionInvalid:
    return DefinitionInvalid([DefinitionError(message, None, None)])


def _read_bytes(source: str | os.PathLike[str] | bytes | IO[bytes], max_bytes: int) -> bytes:
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            if path.stat().st_size > max_bytes:
                raise _refuse(f"The file is larger than {max_bytes:,} bytes.")
            with path.open("rb") as handle:
                data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise _refuse(f"The file could not be read: {exc.strerror or exc}.") from None
    else:
        data = source.read(max_bytes + 1)
        if not isinstance(data, bytes):
            raise _refuse("The upload must be read as bytes (a binary file).")
    if len(data) > max_bytes:
        raise _refuse(f"The file is larger than {max_bytes:,} bytes.")
    return data


def _check_archive(data: bytes) -> None:
    """Refuse anything but a plausible .xlsx before openpyxl inflates a single entry."""
    if data.startswith(OLE2_MAGIC):
        raise _refuse(
            "This is an old Excel .xls workbook (or an encrypted one); save it as an Excel workbook (.xlsx)."
        )
    if not data.startswith(ZIP_MAGIC):
        raise _refuse("The file is not an Excel workbook (.xlsx); CSV and other formats are not accepted.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise _refuse("The file is not a valid .xlsx workbook (a damaged zip archive).") from None
    if len(entries) > MAX_ZIP_ENTRIES:
        raise _refuse(f"The workbook holds more than {MAX_ZIP_ENTRIES:,} parts; refused as unsafe.")
    total = sum(entry.file_size for entry in entries)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise _refuse(
            f"The workbook would expand to {total:,} bytes (more than {MAX_UNCOMPRESSED_BYTES:,}); "
            "refused as unsafe."
        )
    for entry in entries:
        if entry.flag_bits & 0x1:
            raise _refuse("The workbook is encrypted; remove the password and upload it again.")
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size >= RATIO_CHECK_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise _refuse(
                f"The workbook part {entry.filename!r} is compressed {ratio:,.0f} to 1, "
                "which only a zip bomb does; refused as unsafe."
            )
    names = {entry.filename for entry in entries}
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise _refuse("The file is a zip archive but not an Excel workbook (.xlsx).")


def _cell_text(value: Any) -> str | None:
    """A cell as pyxform reads it: strings stripped, whole floats as integers, TRUE/FALSE for booleans."""
    if isinstance(value, str):
        value = value.strip()
    if is_empty(value):
        return None
    text = xlsx_value_to_str(value)
    return text if isinstance(text, str) else str(text)


def _bounded_rows(worksheet: Any, sheet: str, errors: _Errors) -> Iterator[tuple[Any, ...]]:
    """The sheet's rows of values; stops with an error once they span more than MAX_SHEET_CELLS cells."""
    worksheet.reset_dimensions()  # read-only mode trusts the stored dimensions, which can be wrong
    scanned = 0
    for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
        scanned += len(values)
        if scanned > MAX_SHEET_CELLS:
            errors.add(
                f"The sheet spans more than {MAX_SHEET_CELLS:,} cells (empty ones included, up to the "
                "last used or formatted column of each row); delete the unused rows and columns.",
                sheet=sheet,
                row=number,
            )
            return
        yield values


def _read_sheet(
    worksheet: Any,
    kind: str,
    fields: dict[tuple[str, ...], str],
    header_aliases: dict[str, Any],
    header_columns: set[str],
    errors: _Errors,
    language_of: Callable[[str, str, str], str | None],
) -> _Sheet:
    name = str(worksheet.title)
    rows_iter = _bounded_rows(worksheet, kind, errors)
    header_cells = [_cell_text(value) for value in next(rows_iter, ())]
    raw_headers = [RE_WHITESPACE.sub(" ", header) if header else None for header in header_cells]
    use_double_colon = any("::" in header for header in raw_headers if header)
    columns: list[_Column] = []
    by_letter: dict[str, _Column] = {}
    seen: dict[tuple[str | None, str | None], str] = {}
    for index, header in enumerate(raw_headers):
        if header is None:
            continue
        letter = get_column_letter(index + 1)
        _, tokens = process_header(header, use_double_colon, header_aliases, header_columns)
        field_name = fields.get(tokens)
        language: str | None = None
        if field_name is None and len(tokens) > 1 and fields.get(tokens[:-1]) in TRANSLATABLE:
            field_name = fields[tokens[:-1]]
            language = language_of(tokens[-1], kind, letter)
        column = _Column(letter, header, field_name, language)
        if field_name is not None:
            key = (field_name, language)
            if key in seen:
                errors.add(
                    f"Column {header!r} repeats column {seen[key]} ({_describe(field_name, language)}).",
                    sheet=kind,
                    row=1,
                    column=letter,
                )
                column.field = None
            else:
                seen[key] = letter
        columns.append(column)
        by_letter[letter] = column
    rows: list[_Row] = []
    orphan_columns: set[str] = set()
    for number, values in enumerate(rows_iter, start=2):
        cells: dict[str, str] = {}
        for index, value in enumerate(values):
            if value is None:
                continue
            text = _cell_text(value)
            if text is None:
                continue
            letter = get_column_letter(index + 1)
            if letter not in by_letter:
                if letter not in orphan_columns:
                    orphan_columns.add(letter)
                    errors.add(
                        "This cell has a value but its column has no header in row 1.",
                        sheet=kind,
                        row=number,
                        column=letter,
                    )
                continue
            cells[letter] = text
        if cells:
            rows.append(_Row(number, cells))
            if len(rows) > MAX_SHEET_ROWS:
                errors.add(f"The sheet has more than {MAX_SHEET_ROWS:,} rows.", sheet=kind, row=number)
                break
    _report_unsupported_columns(kind, columns, rows, errors)
    return _Sheet(name, columns, rows)


def _describe(field_name: str, language: str | None) -> str:
    title = COLUMN_TITLES.get(field_name, field_name)
    return f"{title} in {language}" if language else title


def _report_unsupported_columns(kind: str, columns: list[_Column], rows: list[_Row], errors: _Errors) -> None:
    for column in columns:
        if column.field is not None:
            continue
        used = [row.number for row in rows if column.letter in row.cells]
        if not used:
            continue  # an empty column changes nothing
        more = f" (and {len(used) - 1} more row{'s' if len(used) > 2 else ''})" if len(used) > 1 else ""
        errors.add(
            f"Column {column.header!r} is not supported on the {kind} sheet{more}; "
            "remove it (this importer reads only the documented XLSForm subset).",
            sheet=kind,
            row=used[0],
            column=column.letter,
        )


# ---- languages ----------------------------------------------------------------------------------


class _Languages:
    """The languages named in column headers and settings, in order of appearance."""

    def __init__(self, errors: _Errors) -> None:
        self.errors = errors
        self.names: dict[str, str] = {}

    def parse(self, token: str) -> tuple[str, str] | None:
        token = token.strip()
        match = RE_LANGUAGE.fullmatch(token)
        if match:
            code = match["code"]
            if not LANGUAGE_CODE_RE.fullmatch(code) or len(code) > LANGUAGE_CODE_MAX_LENGTH:
                return None
            return code, match["name"].strip() or language_name(code)
        if LANGUAGE_CODE_RE.fullmatch(token) and language_name(token) != token:
            return token, language_name(token)
        found = pycountry.languages.get(name=token)
        if found is not None:
            code = getattr(found, "alpha_2", None) or found.alpha_3
            return str(code), str(found.name)
        return None

    def from_header(self, token: str, sheet: str, letter: str) -> str | None:
        if token == pyxform_constants.DEFAULT_LANGUAGE_VALUE:
            return None  # pyxform's name for the default language
        parsed = self.parse(token)
        if parsed is None:
            self.errors.add(
                f"Cannot tell the language of {token!r}; write it as 'Name (code)', e.g. 'English (en)'.",
                sheet=sheet,
                row=1,
                column=letter,
            )
            return None
        code, name = parsed
        self.names.setdefault(code, name)
        return code


# ---- the survey sheet ---------------------------------------------------------------------------


@dataclass
class _TypeInfo:
    kind: str  # begin, end, item, or error
    control: str = ""  # group / repeat / loop for begin and end
    item_type: str = ""
    list_name: str | None = None
    or_other: bool = False
    message: str = ""


def _classify_type(raw: str) -> _TypeInfo:
    type_text = " ".join(raw.split())
    end = RE_END_CONTROL.fullmatch(type_text)
    if end:
        return _TypeInfo("end", control=aliases.control[end["type"]])
    begin = RE_BEGIN_CONTROL.fullmatch(type_text)
    if begin:
        control = aliases.control[begin["type"]]
        if control != pyxform_constants.GROUP:
            return _TypeInfo("begin", control=control, message="Repeats are not supported.")
        if begin["list_name"]:
            return _TypeInfo("begin", control=control, message="A group over a list is not supported.")
        return _TypeInfo("begin", control=control)
    select = RE_SELECT.fullmatch(type_text)
    if select:
        command = select["select_command"]
        list_name = select["list_name"]
        target = aliases.select[command]
        if command in aliases.select_from_file or target not in {
            pyxform_constants.SELECT_ONE,
            pyxform_constants.SELECT_ALL_THAT_APPLY,
        }:
            return _TypeInfo("error", message=f"The XLSForm type {type_text!r} is not supported.")
        if "${" in list_name or os.path.splitext(list_name)[1]:
            return _TypeInfo(
                "error",
                message="Choices from other answers or from files are not supported; use a choice list.",
            )
        item_type = "select_one" if target == pyxform_constants.SELECT_ONE else "select_multiple"
        return _TypeInfo(
            "item", item_type=item_type, list_name=list_name, or_other=bool(select["specify_other"])
        )
    country = RE_COUNTRY.fullmatch(type_text)
    if country:
        return _TypeInfo("item", item_type="country", list_name=country["list_name"])
    yes_no = RE_YES_NO.fullmatch(type_text)
    if yes_no:
        return _TypeInfo("item", item_type="yes_no", list_name=yes_no["list_name"] or "yes_no")
    if type_text in PLAIN_TYPES:
        return _TypeInfo("item", item_type=PLAIN_TYPES[type_text])
    known = (
        type_text in QUESTION_TYPE_DICT
        or type_text in aliases._type_alias_map
        or type_text in aliases.settings_header
        or type_text in aliases.cascading
        or RE_OSM.fullmatch(type_text) is not None
    )
    if known:
        return _TypeInfo("error", message=f"The XLSForm type {type_text!r} is not supported.")
    return _TypeInfo("error", message=f"Unknown type {type_text!r}.")


@dataclass
class _OpenGroup:
    node: dict[str, Any]
    control: str
    row: int
    type_column: str | None


class _SurveyBuilder:
    """Turns the rows of the survey sheet into groups and items."""

    def __init__(self, sheet: _Sheet, default_language: str, errors: _Errors) -> None:
        self.sheet = sheet
        self.default_language = default_language
        self.errors = errors
        self.type_column = sheet.column("type")
        self.rows_of: dict[int, int] = {}  # id(node) → spreadsheet row
        self.top: list[dict[str, Any]] = []
        self.stack: list[_OpenGroup] = []
        self.pyxform_types: dict[int, str] = {}  # row → type to hand pyxform for our extensions
        self.or_other_lists: list[str] = []
        self.list_rows: list[int] = []  # rows of items that name a choice list

    def value(self, row: _Row, field_name: str, language: str | None = None) -> str:
        column = self.sheet.column(field_name, language)
        return row.cells.get(column.letter, "") if column else ""

    def texts(self, row: _Row, field_name: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for column in self.sheet.columns_of(field_name):
            text = row.cells.get(column.letter)
            if text:
                out[column.language or self.default_language] = text
        return out

    def error(self, row: _Row, field_name: str | None, message: str) -> None:
        column = self.sheet.column(field_name) if field_name else None
        if column is None and field_name in TRANSLATABLE:
            columns = self.sheet.columns_of(field_name)
            column = columns[0] if columns else None
        self.errors.add(
            message,
            sheet=SURVEY,
            row=row.number,
            column=column.letter if column else None,
            element=self.value(row, "name") or None,
            field_name=DEFINITION_KEYS.get(field_name or "", field_name),
        )

    def expression(self, row: _Row, field_name: str) -> str:
        # Spreadsheet autocorrect turns quotes into typographic ones; pyxform straightens them too.
        return str(clean_text_values(self.value(row, field_name)))

    def children(self) -> list[dict[str, Any]]:
        return self.stack[-1].node["children"] if self.stack else self.top

    def build(self) -> list[dict[str, Any]]:
        for row in self.sheet.rows:
            self.row(row)
        for open_group in reversed(self.stack):
            self.errors.add(
                f"'begin_{open_group.control}' {open_group.node['code']!r} is never closed "
                f"by an 'end_{open_group.control}' row.",
                sheet=SURVEY,
                row=open_group.row,
                column=open_group.type_column,
            )
        return self.top

    def row(self, row: _Row) -> None:
        raw_type = self.value(row, "type")
        if not raw_type:
            if any(column.field is not None for column in self.sheet.columns if column.letter in row.cells):
                self.error(row, "type", "This row has no type.")
            return
        info = _classify_type(raw_type)
        if info.kind == "end":
            self.end(row, info)
            return
        name = self.value(row, "name")
        if info.kind == "begin":
            self.begin(row, info, name)
            return
        if info.kind == "error":
            self.error(row, "type", info.message)
            return
        if not name:
            if info.item_type != "note":
                self.error(row, "name", "This row has no name.")
                return
            name = f"note_{row.number}"  # a note is never answered, so pyxform names it too
        self.item(row, info, name)

    def begin(self, row: _Row, info: _TypeInfo, name: str) -> None:
        if info.message:
            self.error(row, "type", info.message)
        elif not name:
            self.error(row, "name", "This group has no name.")
        for column in self.sheet.columns:
            if column.field and column.field not in GROUP_ROW_FIELDS and column.letter in row.cells:
                self.errors.add(
                    f"{_describe(column.field, None).capitalize()} is not supported on a group row.",
                    sheet=SURVEY,
                    row=row.number,
                    column=column.letter,
                )
        node: dict[str, Any] = {
            "kind": "group",
            "code": name,
            "label": self.texts(row, "label"),
            "relevant": self.expression(row, "relevant"),
            "appearance": self.value(row, "appearance"),
            "children": [],
        }
        self.rows_of[id(node)] = row.number
        # A refused repeat still opens a level, so its end row balances and its rows are still checked.
        if not info.message and name:
            self.children().append(node)
        self.stack.append(
            _OpenGroup(node, info.control, row.number, self.type_column.letter if self.type_column else None)
        )

    def end(self, row: _Row, info: _TypeInfo) -> None:
        if not self.stack or self.stack[-1].control != info.control:
            expected = f"'end_{self.stack[-1].control}'" if self.stack else "no end row"
            self.error(
                row,
                "type",
                f"'end_{info.control}' without a matching 'begin_{info.control}' (expected {expected}).",
            )
            return
        self.stack.pop()

    def item(self, row: _Row, info: _TypeInfo, name: str) -> None:
        appearance = self.value(row, "appearance")
        item_type = info.item_type
        if item_type == "text" and "multiline" in appearance.split():
            item_type = "long_text"
            appearance = " ".join(word for word in appearance.split() if word != "multiline")
        required = self.value(row, "required")
        required_flag = False
        if required:
            word = required.lower()
            if word in TRUE_WORDS:
                required_flag = True
            elif word not in FALSE_WORDS:
                self.error(
                    row,
                    "required",
                    f"'required' must be yes or no (expressions are not supported), not {required!r}.",
                )
        node: dict[str, Any] = {
            "kind": "item",
            "code": name,
            "type": item_type,
            "label": self.texts(row, "label"),
            "hint": self.texts(row, "hint"),
            "required": required_flag,
            "required_message": self.texts(row, "required_message"),
            "relevant": self.expression(row, "relevant"),
            "constraint": self.expression(row, "constraint"),
            "constraint_message": self.texts(row, "constraint_message"),
            "appearance": appearance,
            "choice_list": info.list_name,
        }
        self.rows_of[id(node)] = row.number
        self.children().append(node)
        if item_type == "country":
            self.pyxform_types[row.number] = f"select_one {info.list_name}" if info.list_name else "text"
        elif item_type == "yes_no":
            self.pyxform_types[row.number] = f"select_one {info.list_name}"
        if info.list_name is not None:
            self.list_rows.append(row.number)
        if info.or_other and info.list_name:
            self.or_other_lists.append(info.list_name)
            other: dict[str, Any] = {
                "kind": "item",
                "code": f"{name}_other",
                "type": "text",
                "label": {self.default_language: OR_OTHER_LABEL},
                "relevant": f"selected(${{{name}}}, 'other')",
            }
            self.rows_of[id(other)] = row.number
            self.children().append(other)


def _gather_pages(top: list[dict[str, Any]], taken: set[str]) -> list[dict[str, Any]]:
    """Top-level groups are pages; runs of items outside any group become pages page_1, page_2, ..."""
    pages: list[dict[str, Any]] = []
    run: list[dict[str, Any]] = []
    counter = 0

    def close_run() -> None:
        nonlocal counter, run
        if not run:
            return
        counter += 1
        while f"page_{counter}" in taken:  # never collide with a code of the form
            counter += 1
        pages.append(
            {"code": f"page_{counter}", "label": {}, "relevant": "", "appearance": "", "children": run}
        )
        run = []

    for node in top:
        if node["kind"] == "group":
            close_run()
            page = dict(node)
            del page["kind"]
            pages.append(page)
        else:
            run.append(node)
    close_run()
    return pages


def _codes(nodes: Iterable[dict[str, Any]]) -> Iterator[str]:
    for node in nodes:
        yield node["code"]
        if node.get("kind") == "group":
            yield from _codes(node["children"])


# ---- the importer -------------------------------------------------------------------------------


class _Importer:
    def __init__(self, workbook: Any, source_name: str | None) -> None:
        self.workbook = workbook
        self.source_name = source_name
        self.errors = _Errors()
        self.languages = _Languages(self.errors)
        self.sheets: dict[str, _Sheet] = {}
        self.element_rows: dict[str, int | None] = {}  # JSON pointer → survey/choices row
        self.choice_rows: dict[str, list[int]] = {}
        self.default_language = DEFAULT_LANGUAGE
        self.builder: _SurveyBuilder | None = None

    # -- sheets

    def read(self) -> bool:
        by_name = {str(name).lower(): name for name in self.workbook.sheetnames}
        if SURVEY not in by_name:
            hint = find_sheet_misspellings(key=SURVEY, keys=list(self.workbook.sheetnames)) or ""
            self.errors.add(f"The workbook has no sheet named 'survey'. {hint}".strip())
            return False
        for lowered, actual in by_name.items():
            if lowered in UNSUPPORTED_SHEETS:
                rows = _bounded_rows(self.workbook[actual], actual, self.errors)
                if any(_cell_text(v) for row in rows for v in row if v is not None):
                    self.errors.add(
                        f"The {actual!r} sheet is not supported "
                        "(an XLSForm feature outside this importer's subset).",
                        sheet=actual,
                    )
        if SETTINGS in by_name:
            self.sheets[SETTINGS] = self.read_sheet(by_name[SETTINGS], SETTINGS)
        self.default_language = self.settings_default_language()
        self.sheets[SURVEY] = self.read_sheet(by_name[SURVEY], SURVEY)
        if CHOICES in by_name:
            self.sheets[CHOICES] = self.read_sheet(by_name[CHOICES], CHOICES)
        return True

    def read_sheet(self, actual: str, kind: str) -> _Sheet:
        fields, header_aliases, header_columns = {
            SURVEY: (SURVEY_FIELDS, aliases.survey_header, set(MultipleChoiceQuestion.get_slot_names())),
            CHOICES: (CHOICES_FIELDS, aliases.list_header, set(Option.get_slot_names())),
            SETTINGS: (SETTINGS_FIELDS, aliases.settings_header, set(Survey.get_slot_names())),
        }[kind]
        return _read_sheet(
            self.workbook[actual],
            kind,
            fields,
            header_aliases,
            header_columns,
            self.errors,
            self.languages.from_header,
        )

    def setting(self, field_name: str) -> tuple[str, _Column | None, int | None]:
        sheet = self.sheets.get(SETTINGS)
        column = sheet.column(field_name) if sheet else None
        if sheet is None or column is None or not sheet.rows:
            return "", column, None
        first = sheet.rows[0]
        return first.cells.get(column.letter, ""), column, first.number

    def settings_default_language(self) -> str:
        value, column, row = self.setting("default_language")
        if value:
            parsed = self.languages.parse(value)
            if parsed is None:
                self.errors.add(
                    f"Cannot tell the language of {value!r}; write it as 'Name (code)', e.g. 'English (en)'.",
                    sheet=SETTINGS,
                    row=row,
                    column=column.letter if column else None,
                )
            else:
                self.languages.names = {parsed[0]: parsed[1], **self.languages.names}
                return parsed[0]
        return DEFAULT_LANGUAGE

    def resolve_default_language(self) -> None:
        """Without a setting, plain `label` columns are English; without those, the first language named."""
        value, _, _ = self.setting("default_language")
        if value:
            return
        plain = any(
            column.field in TRANSLATABLE and column.language is None
            for sheet in self.sheets.values()
            for column in sheet.columns
        )
        if not plain and self.languages.names:
            self.default_language = next(iter(self.languages.names))

    def check_required_columns(self) -> bool:
        ok = True
        survey = self.sheets[SURVEY]
        for field_name in ("type", "name", "label"):
            if not survey.columns_of(field_name):
                self.errors.add(f"The survey sheet has no '{field_name}' column.", sheet=SURVEY, row=1)
                ok = False
        choices = self.sheets.get(CHOICES)
        if choices is not None and (choices.rows or choices.columns):
            for field_name in ("list_name", "name", "label"):
                if not choices.columns_of(field_name):
                    self.errors.add(f"The choices sheet has no '{field_name}' column.", sheet=CHOICES, row=1)
        # A plain column is the default language, so a column naming that language says it twice.
        for kind, sheet in self.sheets.items():
            for column in sheet.columns:
                if column.language == self.default_language and sheet.column(column.field or "", None):
                    self.errors.add(
                        f"Column {column.header!r} repeats the plain {column.field!r} column: "
                        f"{self.default_language!r} is the default language.",
                        sheet=kind,
                        row=1,
                        column=column.letter,
                    )
                    column.field = None
        settings = self.sheets.get(SETTINGS)
        if settings is not None:
            for row in settings.rows[1:]:
                self.errors.add(
                    "The settings sheet is read from row 2 only; remove the values below it.",
                    sheet=SETTINGS,
                    row=row.number,
                    column=min(row.cells),
                )
        return ok

    # -- choices

    def choice_lists(self) -> dict[str, list[dict[str, Any]]]:
        sheet = self.sheets.get(CHOICES)
        lists: dict[str, list[dict[str, Any]]] = {}
        if sheet is None:
            return lists
        list_column = sheet.column("list_name")
        name_column = sheet.column("name")
        for row in sheet.rows:
            if not any(column.field for column in sheet.columns if column.letter in row.cells):
                continue  # only unsupported columns: already reported
            list_name = row.cells.get(list_column.letter, "") if list_column else ""
            code = row.cells.get(name_column.letter, "") if name_column else ""
            if not list_name:
                self.errors.add(
                    "This choice has no list_name.",
                    sheet=CHOICES,
                    row=row.number,
                    column=list_column.letter if list_column else None,
                )
                continue
            if not code:
                self.errors.add(
                    "This choice has no name.",
                    sheet=CHOICES,
                    row=row.number,
                    column=name_column.letter if name_column else None,
                )
                continue
            label: dict[str, str] = {}
            for column in sheet.columns_of("label"):
                text = row.cells.get(column.letter)
                if text:
                    label[column.language or self.default_language] = text
            lists.setdefault(list_name, []).append({"code": code, "label": label})
            self.choice_rows.setdefault(list_name, []).append(row.number)
        return lists

    # -- the whole form

    def definition(self) -> dict[str, Any]:
        survey = self.sheets[SURVEY]
        choice_lists = self.choice_lists()
        self.builder = builder = _SurveyBuilder(survey, self.default_language, self.errors)
        top = builder.build()
        if builder.list_rows and CHOICES not in self.sheets:
            self.errors.add(
                f"The workbook has no 'choices' sheet, but row {builder.list_rows[0]} of the survey "
                "sheet uses a choice list.",
                sheet=CHOICES,
            )
        # The `other` choice goes into the list itself, shared by every select on it, as pyxform does.
        for list_name in builder.or_other_lists:
            choices = choice_lists.get(list_name)
            if choices is not None and all(choice["code"] != "other" for choice in choices):
                languages = [lang for choice in choices for lang in choice["label"]] or [
                    self.default_language
                ]
                choices.append({"code": "other", "label": dict.fromkeys(languages, "Other")})
        self.refine_types(top, choice_lists)
        pages = _gather_pages(top, set(_codes(top)))
        title_texts = self.title()
        value_form_id, _, _ = self.setting("form_id")
        value_version, _, _ = self.setting("version")
        languages = [{"code": self.default_language, "name": self.language_name(self.default_language)}]
        languages += [
            {"code": code, "name": name}
            for code, name in self.languages.names.items()
            if code != self.default_language
        ]
        definition: dict[str, Any] = {
            "format": FORMAT,
            "title": title_texts,
            "form_id": value_form_id,
            "version": value_version,
            "default_language": self.default_language,
            "languages": languages,
            "choice_lists": choice_lists,
            "groups": pages,
        }
        self.index_rows(pages, choice_lists)
        return definition

    def language_name(self, code: str) -> str:
        return self.languages.names.get(code) or language_name(code)

    def title(self) -> dict[str, str]:
        sheet = self.sheets.get(SETTINGS)
        texts: dict[str, str] = {}
        if sheet is not None and sheet.rows:
            for column in sheet.columns_of("title"):
                text = sheet.rows[0].cells.get(column.letter)
                if text:
                    texts[column.language or self.default_language] = text
        if self.default_language not in texts:
            # pyxform falls back to the form id; the file name is the last resort.
            form_id, _, _ = self.setting("form_id")
            fallback = form_id or (Path(self.source_name).stem if self.source_name else "") or "Questionnaire"
            texts = {self.default_language: fallback, **texts}
        return texts

    def refine_types(
        self, nodes: list[dict[str, Any]], choice_lists: dict[str, list[dict[str, Any]]]
    ) -> None:
        """select_one on a yes/no list is yes_no; on a list named country of ISO codes, country."""
        countries = iso_country_codes()
        for node in nodes:
            if node["kind"] == "group":
                self.refine_types(node["children"], choice_lists)
                continue
            if node["type"] != "select_one":
                continue
            codes = [choice["code"] for choice in choice_lists.get(node["choice_list"], [])]
            if sorted(codes) == ["no", "yes"]:
                node["type"] = "yes_no"
            elif node["choice_list"] == "country" and codes and all(code in countries for code in codes):
                node["type"] = "country"

    def index_rows(self, pages: list[dict[str, Any]], choice_lists: dict[str, list[dict[str, Any]]]) -> None:
        assert self.builder is not None  # noqa: S101 - set by definition() just before
        rows_of = self.builder.rows_of

        def walk(nodes: list[dict[str, Any]], prefix: str) -> None:
            for index, node in enumerate(nodes):
                pointer = f"{prefix}/{index}"
                self.element_rows[pointer] = rows_of.get(id(node))
                if "children" in node:
                    walk(node["children"], pointer + "/children")

        walk(pages, "/groups")
        for list_name, rows in self.choice_rows.items():
            self.element_rows[f"/choice_lists/{list_name}"] = rows[0]
            for index, row in enumerate(rows):
                self.element_rows[f"/choice_lists/{list_name}/{index}"] = row

    # -- mapping validation errors back to cells

    def locate(self, error: DefinitionError) -> DefinitionError:
        pointer = error.pointer or ""
        parts = pointer.split("/")
        if pointer.startswith("/groups/") or pointer.startswith("/choice_lists/"):
            sheet_kind = SURVEY if pointer.startswith("/groups/") else CHOICES
            row: int | None = None
            for end in range(len(parts), 1, -1):
                prefix = "/".join(parts[:end])
                if prefix in self.element_rows:
                    row = self.element_rows[prefix]
                    break
            column = self.column_for(sheet_kind, error.field, pointer)
            return DefinitionError(
                error.message,
                error.element,
                error.field,
                sheet=sheet_kind,
                row=row,
                column=column,
                pointer=error.pointer,
            )
        if pointer == "/groups":
            return DefinitionError(
                error.message, error.element, error.field, sheet=SURVEY, pointer=error.pointer
            )
        settings_field = {"/title": "title", "/form_id": "form_id", "/version": "version"}.get(pointer)
        if settings_field:
            _, column_info, row_number = self.setting(settings_field)
            if column_info is not None:
                return DefinitionError(
                    error.message,
                    error.element,
                    error.field,
                    sheet=SETTINGS,
                    row=row_number,
                    column=column_info.letter,
                    pointer=error.pointer,
                )
        return error

    def column_for(self, sheet_kind: str, field_name: str | None, pointer: str) -> str | None:
        sheet = self.sheets.get(sheet_kind)
        if sheet is None or field_name is None:
            return None
        if sheet_kind == CHOICES:
            if pointer.count("/") == 2:  # the list as a whole
                name = "list_name"
            else:
                name = {"code": "name", "label": "label"}.get(field_name, "name")
        else:
            name = {
                "code": "name",
                "type": "type",
                "kind": "type",
                "children": "type",
                "choice_list": "type",
                "min": "constraint",
                "max": "constraint",
            }.get(field_name, field_name)
        column = sheet.column(name, None) or sheet.column(name, self.default_language)
        if column is None:
            candidates = sheet.columns_of(name)
            column = candidates[0] if candidates else None
        return column.letter if column else None

    # -- pyxform's own conversion, the last check

    def pyxform_check(self) -> None:
        assert self.builder is not None  # noqa: S101 - set by definition()
        data = DefinitionData(
            survey=self.pyxform_rows(SURVEY, self.builder.pyxform_types),
            survey_header=self.pyxform_header(SURVEY),
            choices=self.pyxform_rows(CHOICES, {}) if CHOICES in self.sheets else None,
            choices_header=self.pyxform_header(CHOICES) if CHOICES in self.sheets else None,
            settings=self.pyxform_rows(SETTINGS, {}) if SETTINGS in self.sheets else None,
            settings_header=self.pyxform_header(SETTINGS) if SETTINGS in self.sheets else None,
            sheet_names=[sheet.name for sheet in self.sheets.values()],
        )
        warnings: list[str] = []
        try:
            form = workbook_to_json(workbook_dict=data, form_name="data", warnings=warnings)
            create_survey_element_from_dict(form).to_xml(validate=False, warnings=warnings)
        except PyXFormError as exc:
            self.errors.items.append(pyxform_error(exc, self.sheets))

    def pyxform_header(self, kind: str) -> list[dict[str, Any]]:
        return [{column.header: None for column in self.sheets[kind].columns if column.field is not None}]

    def pyxform_rows(self, kind: str, type_overrides: dict[int, str]) -> list[dict[str, str]]:
        """Rows as pyxform's reader gives them, blank rows included so its row numbers are Excel's."""
        sheet = self.sheets[kind]
        headers = {column.letter: column.header for column in sheet.columns if column.field is not None}
        type_column = sheet.column("type")
        out: list[dict[str, str]] = []
        for row in sheet.rows:
            while len(out) < row.number - 2:
                out.append({})
            cells = {headers[letter]: value for letter, value in row.cells.items() if letter in headers}
            if type_column is not None and row.number in type_overrides:
                cells[type_column.header] = type_overrides[row.number]
            out.append(cells)
        return out


def pyxform_error(exc: PyXFormError, sheets: dict[str, _Sheet] | None = None) -> DefinitionError:
    """Translate a pyxform error ('[row : 12] ...') into a DefinitionError with sheet and row."""
    message = str(exc)
    context = getattr(exc, "context", {}) or {}
    row: int | None = None
    match = RE_PYXFORM_ROW.search(message)
    if match:
        row = int(match.group(1))
        message = RE_PYXFORM_ROW.sub("", message, count=1)
    elif isinstance(context.get("row"), int):
        row = context["row"]
    sheet_match = RE_PYXFORM_SHEET.search(message)
    sheet = context.get("sheet") or (sheet_match.group(1) if sheet_match else (SURVEY if row else None))
    column: str | None = None
    header = context.get("column")
    if sheets and sheet in sheets and isinstance(header, str):
        for candidate in sheets[sheet].columns:
            if candidate.header == header or candidate.field == header:
                column = candidate.letter
                break
    return DefinitionError(f"pyxform: {message.strip()}", None, None, sheet=sheet, row=row, column=column)


def _sort_key(error: DefinitionError) -> tuple[int, int]:
    rank = {None: 0, SETTINGS: 1, SURVEY: 2, CHOICES: 3}.get(error.sheet, 4)
    return rank, error.row or 0


def xlsform_to_definition(
    fileobj_or_path: str | os.PathLike[str] | bytes | IO[bytes], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> dict[str, Any]:
    """Read an XLSForm workbook into a validated, normalised definition.

    Raises DefinitionInvalid with every problem found, each located by sheet, row and column
    wherever it is in a cell."""
    data = _read_bytes(fileobj_or_path, max_bytes)
    _check_archive(data)
    source_name: str | None
    if isinstance(fileobj_or_path, str | os.PathLike):
        source_name = os.fspath(fileobj_or_path)
    else:
        name = getattr(fileobj_or_path, "name", None)
        source_name = name if isinstance(name, str) else None
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise _refuse(f"The workbook could not be read: {exc}") from None
    try:
        return _import(workbook, source_name)
    finally:
        workbook.close()


def _import(workbook: Any, source_name: str | None) -> dict[str, Any]:
    importer = _Importer(workbook, source_name)
    try:
        complete = importer.read()
    except Exception as exc:  # read-only openpyxl parses each sheet only now, and fails in many ways
        raise _refuse(f"The workbook could not be read: {exc}") from None
    if not complete:
        raise DefinitionInvalid(importer.errors.items)
    importer.resolve_default_language()
    if not importer.check_required_columns():
        raise DefinitionInvalid(sorted(importer.errors.items, key=_sort_key))
    definition = importer.definition()
    result: dict[str, Any] | None = None
    try:
        result = validate_definition(definition)
    except DefinitionInvalid as exc:
        importer.errors.items.extend(importer.locate(error) for error in exc.errors)
    if not importer.errors.items:
        importer.pyxform_check()
    if importer.errors.items or result is None:
        unique = list(dict.fromkeys(importer.errors.items))
        raise DefinitionInvalid(sorted(unique, key=_sort_key))
    return result
