"""XLSForm import: the reference questionnaires, the supported subset, and every refusal with its cell."""

from __future__ import annotations

import io
import json
import pickle
import time
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from pyxform.errors import PyXFormError

from surveys.definition import (
    DefinitionError,
    DefinitionInvalid,
    iter_groups,
    iter_items,
    validate_definition,
)
from surveys.xlsform import pyxform_error, xlsform_to_definition
from tests.surveys.xlsform_helpers import YES_NO_CHOICES, build_xlsform, row

REFERENCE = Path(__file__).resolve().parents[2] / "surveys" / "reference"
FORM_2017 = REFERENCE / "netclean-2017.xlsx"
FORM_2016 = REFERENCE / "netclean-2016.xlsx"

# The 33 countries the 2017 report names.
REPORT_COUNTRIES = {
    *("AF", "AR", "AU", "BE", "BR", "CA", "CL", "HR", "CY", "DK", "EE", "FI", "FR", "DE", "GR", "IE", "IL"),
    *("IT", "LV", "LI", "NZ", "NO", "PH", "CH", "SG", "SI", "ES", "ZA", "SE", "TH", "AE", "GB", "US"),
}


def items_by_code(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["code"]: item for item, _ in iter_items(definition)}


def groups_by_code(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {group["code"]: group for group, _ in iter_groups(definition)}


def import_errors(data: bytes, **kwargs: Any) -> list[DefinitionError]:
    with pytest.raises(DefinitionInvalid) as caught:
        xlsform_to_definition(io.BytesIO(data), **kwargs)
    assert caught.value.errors, "DefinitionInvalid must carry its errors"
    return caught.value.errors


def located(
    errors: list[DefinitionError], sheet: str | None, row: int | None, column: str | None
) -> DefinitionError:
    """The error at exactly this cell (fails listing all errors otherwise)."""
    for error in errors:
        if (error.sheet, error.row, error.column) == (sheet, row, column):
            return error
    raise AssertionError(f"no error at {sheet}/{row}/{column}; got: {[str(e) for e in errors]}")


def sheet_rows(path: Path, sheet: str) -> list[tuple[Any, ...]]:
    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        return [r for r in workbook[sheet].iter_rows(min_row=2, values_only=True) if any(r)]
    finally:
        workbook.close()


def minimal(extra_survey: list[tuple[Any, ...]] | None = None, **kwargs: Any) -> bytes:
    survey = [
        row("begin_group", "page", "Page"),
        row("integer", "age", "Age"),
        *(extra_survey or []),
        row("end_group"),
    ]
    return build_xlsform(survey, **kwargs)


# ---- the reference questionnaires ---------------------------------------------------------------


@pytest.fixture(scope="module")
def form_2017() -> dict[str, Any]:
    return xlsform_to_definition(FORM_2017)


@pytest.fixture(scope="module")
def form_2016() -> dict[str, Any]:
    return xlsform_to_definition(FORM_2016)


def test_2017_has_every_item_group_and_choice_of_the_workbook(form_2017: dict[str, Any]) -> None:
    survey = sheet_rows(FORM_2017, "survey")
    item_rows = [r for r in survey if r[0] not in ("begin_group", "end_group")]
    group_rows = [r for r in survey if r[0] == "begin_group"]
    items = items_by_code(form_2017)
    assert len(items) == len(item_rows) == 39
    assert list(items) == [r[1] for r in item_rows]  # document order kept
    assert len(groups_by_code(form_2017)) == len(group_rows) == 10
    assert [page["code"] for page in form_2017["groups"]] == [
        "about",
        "workload",
        "cases",
        "offenders",
        "abuse",
        "workplace",
        "trends_group",
        "outcomes",
    ]
    choices = sheet_rows(FORM_2017, "choices")
    assert sum(len(c) for c in form_2017["choice_lists"].values()) == len(choices) == 291
    assert set(form_2017["choice_lists"]) == {r[0] for r in choices}
    for list_name, code, label in choices:
        assert {"code": code, "label": {"en": label}} in form_2017["choice_lists"][list_name]
    for item_row in item_rows:
        item = items[item_row[1]]
        assert item["label"] == {"en": item_row[2]}
        assert item["relevant"] == (item_row[5] or "")
        assert item["constraint"] == (item_row[6] or "")
        assert item["required"] is (item_row[4] == "yes")
    assert all(item["type"] != "note" for item in items.values())


def test_2017_header(form_2017: dict[str, Any]) -> None:
    assert form_2017["format"] == "vetted-survey/1"
    assert form_2017["title"] == {"en": "Law-enforcement survey 2017"}
    assert form_2017["form_id"] == "le_survey"
    assert form_2017["version"] == "2017"
    assert form_2017["default_language"] == "en"
    assert form_2017["languages"] == [{"code": "en", "name": "English"}]


def test_2017_grids(form_2017: dict[str, Any]) -> None:
    groups = groups_by_code(form_2017)
    access, contact = groups["access"], groups["contact"]
    assert access["kind"] == "group" and access["appearance"] == "table-list"
    assert [child["code"] for child in access["children"]] == [
        "access_family",
        "access_extended_family",
        "access_friends",
        "access_recreation",
        "access_professional",
    ]
    assert {(c["type"], c["choice_list"]) for c in access["children"]} == {("select_one", "common3")}
    assert access in groups["offenders"]["children"]
    assert len(contact["children"]) == 7
    assert {(c["type"], c["choice_list"]) for c in contact["children"]} == {("select_one", "common3")}
    assert contact in groups["abuse"]["children"]
    chains = {item["code"]: [g["code"] for g in chain] for item, chain in iter_items(form_2017)}
    assert chains["access_family"] == ["offenders", "access"]
    assert chains["offender_employment"] == ["offenders"]


def test_2017_items(form_2017: dict[str, Any]) -> None:
    items = items_by_code(form_2017)
    country = items["country"]
    assert country["type"] == "country" and country["choice_list"] == "country"
    assert country["required"] is True and country["appearance"] == "autocomplete"
    assert country["quasi_identifier"] is True
    codes = [c["code"] for c in form_2017["choice_lists"]["country"]]
    assert len(REPORT_COUNTRIES) == 33
    assert len(codes) == 249 and set(codes) >= REPORT_COUNTRIES
    assert items["agency_type"]["quasi_identifier"] is True
    assert items["agency_type"]["type"] == "select_one"
    assert items["workload_change"]["quasi_identifier"] is False

    other = items["better_equipped_other"]
    assert other["type"] == "text"
    assert other["relevant"] == "selected(${better_equipped_reasons}, 'other')"
    assert items["better_equipped"]["type"] == "yes_no"
    assert items["better_equipped_reasons"]["type"] == "select_multiple"
    assert items["better_equipped_reasons"]["relevant"] == "${better_equipped} = 'yes'"
    assert "other" in [c["code"] for c in form_2017["choice_lists"]["equipped_reasons"]]

    total = items["avg_case_images_total"]
    assert total["type"] == "integer"
    assert (total["min"], total["max"]) == ("0", "1000000000")
    assert total["hint"] == {"en": "An estimate is fine."}
    assert (items["largest_case_images_total"]["min"], items["largest_case_images_total"]["max"]) == (
        "0",
        "10000000000",
    )
    # The upper bound names another item, so only the lower one is a number.
    assert (items["avg_case_images_csam"]["min"], items["avg_case_images_csam"]["max"]) == ("0", None)
    assert items["avg_case_video_hours"]["type"] == "decimal"
    assert items["avg_case_video_hours"]["max"] == "100000"
    assert items["children_rescued"]["max"] == "100000"

    # text with appearance multiline is long_text; the appearance is then implied.
    for code in (
        "workload_reasons",
        "offender_professions",
        "offender_change_how",
        "trends",
        "correlation_comment",
    ):
        assert items[code]["type"] == "long_text"
        assert items[code]["appearance"] == ""
    assert items["workload_reasons"]["relevant"] == "${workload_change} = 'increased'"
    assert items["viewing_handson_correlation"]["required"] is True
    assert [items[c]["type"] for c in ("offender_changed", "workplace_private", "workplace_public")] == [
        "yes_no"
    ] * 3


def test_2016(form_2016: dict[str, Any]) -> None:
    items = items_by_code(form_2016)
    assert list(items) == [r[1] for r in sheet_rows(FORM_2016, "survey")]
    assert len(items) == 6
    # Items outside any group are gathered into one page.
    assert [page["code"] for page in form_2016["groups"]] == ["page_1"]
    assert form_2016["groups"][0]["label"] == {}
    assert items["country"]["type"] == "country"
    assert items["better_equipped"]["type"] == "yes_no"
    assert (items["children_rescued"]["min"], items["children_rescued"]["max"]) == ("0", "100000")
    assert form_2016["title"] == {"en": "Law-enforcement survey 2016"}
    assert form_2016["version"] == "2016"


@pytest.mark.parametrize("path", [FORM_2017, FORM_2016], ids=["2017", "2016"])
def test_reference_json_round_trip_is_exact(path: Path) -> None:
    definition = xlsform_to_definition(path)
    assert validate_definition(definition) == definition
    assert validate_definition(json.loads(json.dumps(definition))) == definition


def test_reference_files_are_self_contained() -> None:
    for name in ("netclean-2017.xlsx", "netclean-2016.xlsx", "codebooks.json"):
        assert (REFERENCE / name).is_file()
    json.loads((REFERENCE / "codebooks.json").read_text(encoding="utf-8"))


def test_accepts_path_str_bytes_and_file_objects() -> None:
    from_path = xlsform_to_definition(FORM_2016)
    assert xlsform_to_definition(str(FORM_2016)) == from_path
    assert xlsform_to_definition(FORM_2016.read_bytes()) == from_path
    with FORM_2016.open("rb") as handle:
        assert xlsform_to_definition(handle) == from_path


# ---- the supported subset ----------------------------------------------------------------------


def test_multi_language_labels_hints_messages_and_choices() -> None:
    header = (
        "type",
        "name",
        "label::English (en)",
        "label::Français (fr)",
        "hint::English (en)",
        "hint::Français (fr)",
        "constraint",
        "constraint_message::English (en)",
        "constraint_message::Français (fr)",
    )
    survey = [
        ("begin_group", "page", "Page", "Page FR"),
        ("select_one colour", "colour", "Colour?", "Couleur ?", "Pick one", "Choisissez"),
        ("integer", "n", "How many?", "Combien ?", None, None, ". >= 1", "At least 1", "Au moins 1"),
        ("end_group",),
    ]
    choices = [("colour", "red", "Red", "Rouge"), ("colour", "blue", "Blue", None)]
    data = build_xlsform(
        survey,
        choices,
        [("Colours", "colours", "1", "English (en)")],
        survey_header=header,
        choices_header=("list name", "name", "label::English (en)", "label::Français (fr)"),
    )
    definition = xlsform_to_definition(io.BytesIO(data))
    assert definition["default_language"] == "en"
    assert definition["languages"] == [{"code": "en", "name": "English"}, {"code": "fr", "name": "Français"}]
    items = items_by_code(definition)
    assert items["colour"]["label"] == {"en": "Colour?", "fr": "Couleur ?"}
    assert items["colour"]["hint"] == {"en": "Pick one", "fr": "Choisissez"}
    assert items["n"]["constraint_message"] == {"en": "At least 1", "fr": "Au moins 1"}
    assert definition["groups"][0]["label"] == {"en": "Page", "fr": "Page FR"}
    assert definition["choice_lists"]["colour"] == [
        {"code": "red", "label": {"en": "Red", "fr": "Rouge"}},
        {"code": "blue", "label": {"en": "Blue"}},  # the portal falls back to English
    ]
    assert definition["version"] == "1"


def test_plain_label_is_the_settings_default_language() -> None:
    header = ("type", "name", "label", "label::English (en)")
    survey = [("integer", "n", "Combien ?", "How many?")]
    data = build_xlsform(survey, settings=[("T", "t", None, "French (fr)")], survey_header=header)
    definition = xlsform_to_definition(io.BytesIO(data))
    assert definition["default_language"] == "fr"
    assert definition["languages"] == [{"code": "fr", "name": "French"}, {"code": "en", "name": "English"}]
    assert items_by_code(definition)["n"]["label"] == {"fr": "Combien ?", "en": "How many?"}
    assert definition["title"] == {"fr": "T"}


def test_without_settings_plain_label_is_english_and_title_falls_back() -> None:
    definition = xlsform_to_definition(io.BytesIO(build_xlsform([row("integer", "n", "N")])))
    assert definition["default_language"] == "en"
    assert definition["title"] == {"en": "Questionnaire"}
    assert definition["form_id"] == "" and definition["version"] == ""


def test_title_falls_back_to_form_id_then_file_name(tmp_path: Path) -> None:
    data = build_xlsform([row("integer", "n", "N")], settings=[(None, "my_form", None, None)])
    assert xlsform_to_definition(io.BytesIO(data))["title"] == {"en": "my_form"}
    path = tmp_path / "staff survey.xlsx"
    path.write_bytes(build_xlsform([row("integer", "n", "N")]))
    assert xlsform_to_definition(path)["title"] == {"en": "staff survey"}


def test_only_language_columns_without_default_takes_the_first_language() -> None:
    header = ("type", "name", "label::Deutsch (de)", "label::English (en)")
    definition = xlsform_to_definition(
        io.BytesIO(build_xlsform([("integer", "n", "Wie viele?", "How many?")], survey_header=header))
    )
    assert definition["default_language"] == "de"
    assert [lang["code"] for lang in definition["languages"]] == ["de", "en"]


def test_language_written_as_a_name_or_a_bare_code() -> None:
    header = ("type", "name", "label::English", "label::fr")
    data = build_xlsform(
        [("integer", "n", "How many?", "Combien ?")],
        settings=[("T", None, None, "English")],
        survey_header=header,
    )
    definition = xlsform_to_definition(io.BytesIO(data))
    assert definition["languages"] == [{"code": "en", "name": "English"}, {"code": "fr", "name": "French"}]


def test_or_other_adds_the_choice_and_the_specify_item() -> None:
    survey = [
        row("begin_group", "page", "Page"),
        row("select_multiple reasons or_other", "why", "Why?"),
        row("select_one kind or_other", "kind", "Kind?"),
        row("end_group"),
    ]
    choices = [
        ("reasons", "a", "A"),
        ("reasons", "b", "B"),
        ("kind", "x", "X"),
        ("kind", "other", "Something else"),
    ]
    definition = xlsform_to_definition(io.BytesIO(build_xlsform(survey, choices)))
    items = items_by_code(definition)
    assert list(items) == ["why", "why_other", "kind", "kind_other"]
    assert items["why_other"]["type"] == "text"
    assert items["why_other"]["relevant"] == "selected(${why}, 'other')"
    assert items["why_other"]["label"] == {"en": "Specify other."}
    assert definition["choice_lists"]["reasons"][-1] == {"code": "other", "label": {"en": "Other"}}
    # An existing `other` choice is kept as it is, not added twice.
    assert definition["choice_lists"]["kind"] == [
        {"code": "x", "label": {"en": "X"}},
        {"code": "other", "label": {"en": "Something else"}},
    ]


def test_items_outside_groups_become_pages() -> None:
    survey = [
        row("integer", "a", "A"),
        row("integer", "b", "B"),
        row("begin group", "middle", "Middle"),
        row("integer", "c", "C"),
        row("end group"),
        row("integer", "page_1", "An item whose code looks like a page"),
    ]
    definition = xlsform_to_definition(io.BytesIO(build_xlsform(survey)))
    pages = definition["groups"]
    assert [page["code"] for page in pages] == ["page_2", "middle", "page_3"]
    assert [child["code"] for child in pages[0]["children"]] == ["a", "b"]
    assert [child["code"] for child in pages[2]["children"]] == ["page_1"]
    assert "kind" not in pages[1]  # pages carry no kind, as in the documented format


def test_type_spellings_and_conversions() -> None:
    survey = [
        row("begin group", "page", "Page"),
        row("select one colour", "colour", "Colour"),
        row("select_one yes_no", "agree", "Agree?"),
        row("select_multiple yes_no", "both", "Both?"),
        row("yes_no", "plain_yes_no", "Yes or no?"),
        row("select_one country", "where", "Where?"),
        row("country", "born", "Born in?"),
        row("country eu", "eu_country", "EU country?"),
        row("int", "count", "Count"),
        row("decimal", "share", "Share", constraint=". >= 0.5 and . <= 99.50"),
        row("text", "words", "Words", appearance="multiline minimal"),
        row("note", None, "Thanks"),
        row("end group"),
    ]
    choices = [
        ("colour", "red", "Red"),
        *YES_NO_CHOICES,
        ("country", "SE", "Sweden"),
        ("country", "NO", "Norway"),
        ("eu", "SE", "Sweden"),
        ("eu", "FI", "Finland"),
    ]
    definition = xlsform_to_definition(io.BytesIO(build_xlsform(survey, choices)))
    items = items_by_code(definition)
    types = {code: (item["type"], item["choice_list"]) for code, item in items.items()}
    assert types == {
        "colour": ("select_one", "colour"),
        "agree": ("yes_no", "yes_no"),
        "both": ("select_multiple", "yes_no"),
        "plain_yes_no": ("yes_no", "yes_no"),
        "where": ("country", "country"),
        "born": ("country", None),
        "eu_country": ("country", "eu"),
        "count": ("integer", None),
        "share": ("decimal", None),
        "words": ("long_text", None),
        "note_13": ("note", None),
    }
    assert items["words"]["appearance"] == "minimal"
    assert (items["share"]["min"], items["share"]["max"]) == ("0.5", "99.5")
    assert all(items[c]["quasi_identifier"] for c in ("where", "born", "eu_country"))


def test_select_one_on_a_country_list_that_is_not_iso_stays_select_one() -> None:
    survey = [row("select_one country", "where", "Where?")]
    choices = [("country", "SE", "Sweden"), ("country", "elsewhere", "Elsewhere")]
    definition = xlsform_to_definition(io.BytesIO(build_xlsform(survey, choices)))
    assert items_by_code(definition)["where"]["type"] == "select_one"


@pytest.mark.parametrize("value", ["yes", "Yes", "TRUE", "true()", "1", True, 1])
def test_required_true_spellings(value: Any) -> None:
    definition = xlsform_to_definition(io.BytesIO(build_xlsform([row("integer", "n", "N", required=value)])))
    assert items_by_code(definition)["n"]["required"] is True


@pytest.mark.parametrize("value", ["no", "NO", "false", "false()", "0", False, None])
def test_required_false_spellings(value: Any) -> None:
    definition = xlsform_to_definition(io.BytesIO(build_xlsform([row("integer", "n", "N", required=value)])))
    assert items_by_code(definition)["n"]["required"] is False


def test_blank_rows_and_empty_unsupported_columns_are_harmless() -> None:
    header = (*("type", "name", "label"), "calculation", "media::image")
    survey = [("integer", "a", "A"), (), (), ("integer", "b", "B")]
    definition = xlsform_to_definition(io.BytesIO(build_xlsform(survey, survey_header=header)))
    assert list(items_by_code(definition)) == ["a", "b"]


# ---- refusals of the file itself ---------------------------------------------------------------


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "not an Excel workbook"),
        (b"type,name,label\ninteger,n,N\n", "CSV"),
        (bytes(range(256)) * 4, "not an Excel workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, ".xls"),
        (b"PK\x03\x04 this is not really a zip", "damaged"),
    ],
    ids=["empty", "csv", "random", "xls", "broken-zip"],
)
def test_refuses_what_is_not_an_xlsx(data: bytes, fragment: str) -> None:
    errors = import_errors(data)
    assert len(errors) == 1 and fragment in errors[0].message
    assert errors[0].sheet is None


def test_refuses_a_zip_that_is_not_a_workbook() -> None:
    errors = import_errors(zip_bytes({"word/document.xml": b"<doc/>", "[Content_Types].xml": b"<Types/>"}))
    assert "not an Excel workbook" in errors[0].message


def test_refuses_a_workbook_that_does_not_parse() -> None:
    data = zip_bytes({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<<<not xml"})
    assert "could not be read" in import_errors(data)[0].message


def test_refuses_oversized_files(tmp_path: Path) -> None:
    data = FORM_2016.read_bytes()
    assert "larger than" in import_errors(data, max_bytes=len(data) - 1)[0].message
    path = tmp_path / "big.xlsx"
    path.write_bytes(data)
    with pytest.raises(DefinitionInvalid, match="larger than"):
        xlsform_to_definition(path, max_bytes=1000)
    assert xlsform_to_definition(io.BytesIO(data), max_bytes=len(data))["version"] == "2016"


def test_refuses_zip_bombs() -> None:
    workbook_parts = {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}
    # Expands far beyond the limit on total size.
    huge = zip_bytes({**workbook_parts, "xl/worksheets/sheet1.xml": b"\0" * 60_000_000})
    assert len(huge) < 5_000_000
    assert "expand" in import_errors(huge)[0].message
    # Small in total, but compressed a thousand to one.
    dense = zip_bytes({**workbook_parts, "xl/worksheets/sheet1.xml": b"\0" * 5_000_000})
    assert "zip bomb" in import_errors(dense)[0].message


@pytest.mark.parametrize("sheet_name", ["survey", "entities"])
def test_refuses_sheets_that_span_too_many_cells_without_reading_them_all(sheet_name: str) -> None:
    # One cell in the last column (XFD) of each row: a 50 kB workbook whose rows are 16,384 cells wide.
    # Read cell by cell it took 1.7 s of CPU per 1,000 rows (a 5 MB upload: minutes of a web worker).
    workbook = openpyxl.load_workbook(io.BytesIO(minimal([row("integer", "n", "N")])))
    sheet = workbook[sheet_name] if sheet_name in workbook.sheetnames else workbook.create_sheet(sheet_name)
    for number in range(sheet.max_row + 1, sheet.max_row + 5_001):
        sheet.cell(row=number, column=16_384).style = "Good"  # styled, no value: nothing short-circuits
    buffer = io.BytesIO()
    workbook.save(buffer)
    started = time.process_time()
    errors = import_errors(buffer.getvalue())
    assert time.process_time() - started < 3  # ~13 s per sheet before (wall, pytest)
    assert any(e.sheet == sheet_name and "cells" in e.message for e in errors), errors


def test_refuses_a_workbook_without_survey_sheet() -> None:
    data = build_xlsform(None, choices=[("l", "a", "A")])
    errors = import_errors(data)
    assert len(errors) == 1 and "no sheet named 'survey'" in errors[0].message
    # A near miss is pointed out.
    workbook = openpyxl.load_workbook(io.BytesIO(build_xlsform([row("integer", "n", "N")])))
    workbook["survey"].title = "surveys"
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert "surveys" in import_errors(buffer.getvalue())[0].message


@pytest.mark.parametrize("missing", ["type", "name", "label"])
def test_refuses_missing_required_columns(missing: str) -> None:
    header = tuple(column for column in ("type", "name", "label", "hint") if column != missing)
    data = build_xlsform([("integer", "n", "N")], survey_header=header)
    error = located(import_errors(data), "survey", 1, None)
    assert f"'{missing}'" in error.message


def test_refuses_selects_without_choices_sheet() -> None:
    errors = import_errors(minimal([row("select_one colour", "colour", "Colour")]))
    assert any(e.sheet == "choices" and "no 'choices' sheet" in e.message for e in errors)
    error = located(errors, "survey", 4, "A")
    assert "Unknown choice list 'colour'" in error.message


# ---- refusals inside the sheets, each with its cell --------------------------------------------


def test_unknown_and_unsupported_types() -> None:
    data = minimal(
        [
            row("foo", "f", "F"),
            row("calculate", "calc", None),
            row("date", "when", "When?"),
            row("geopoint", "where", "Where?"),
            row("image", "photo", "Photo"),
            row("select_one_from_file towns.csv", "town", "Town"),
            row("rank colour", "ranked", "Rank"),
            row("select_one ${age}", "dyn", "Dynamic"),
            row("start", "started", None),
        ]
    )
    errors = import_errors(data)
    assert "Unknown type 'foo'" in located(errors, "survey", 4, "A").message
    for row_number in range(5, 13):
        assert "not supported" in located(errors, "survey", row_number, "A").message


def test_unsupported_columns_are_refused_at_their_first_cell() -> None:
    header = ("type", "name", "label", "calculation", "choice_filter", "media::image", "default", "notes")
    survey = [
        ("begin_group", "page", "Page"),
        ("integer", "a", "A", None, None, None, "3"),
        ("integer", "b", "B", "1 + 1"),
        ("integer", "c", "C", "2 + 2", "x = 1", "c.png", None, "a designer's note"),
        ("end_group",),
    ]
    errors = import_errors(build_xlsform(survey, survey_header=header))
    assert "'calculation'" in located(errors, "survey", 4, "D").message
    assert "1 more row" in located(errors, "survey", 4, "D").message
    assert "'choice_filter'" in located(errors, "survey", 5, "E").message
    assert "'media::image'" in located(errors, "survey", 5, "F").message
    assert "'default'" in located(errors, "survey", 3, "G").message
    assert "'notes'" in located(errors, "survey", 5, "H").message


def test_repeats_are_refused_and_still_balance() -> None:
    data = minimal([row("begin_repeat", "people", "People"), row("text", "who", "Who?"), row("end_repeat")])
    errors = import_errors(data)
    assert "Repeats are not supported" in located(errors, "survey", 4, "A").message
    assert not any("without a matching" in e.message for e in errors)


def test_unsupported_sheets_are_refused() -> None:
    data = minimal(extra_sheets={"external_choices": [("list_name", "name"), ("towns", "x")]})
    errors = import_errors(data)
    assert any(e.sheet == "external_choices" and "not supported" in e.message for e in errors)


def test_unbalanced_groups() -> None:
    stray_end = build_xlsform([row("integer", "a", "A"), row("end_group")])
    assert "without a matching" in located(import_errors(stray_end), "survey", 3, "A").message
    unclosed = build_xlsform([row("begin_group", "page", "Page"), row("integer", "a", "A")])
    assert "never closed" in located(import_errors(unclosed), "survey", 2, "A").message


def test_duplicate_names_across_items_and_groups() -> None:
    data = minimal(
        [
            row("text", "age", "Age again"),
            row("begin_group", "page", "Nested"),
            row("text", "x", "X"),
            row("end_group"),
        ]
    )
    errors = import_errors(data)
    assert "used twice" in located(errors, "survey", 4, "B").message
    assert "used twice" in located(errors, "survey", 5, "B").message


def test_bad_names() -> None:
    errors = import_errors(
        minimal([row("text", "2nd", "Second"), row("text", None, "No name"), row("text", "a b", "Space")])
    )
    assert "Invalid code '2nd'" in located(errors, "survey", 4, "B").message
    assert "no name" in located(errors, "survey", 5, "B").message
    assert "Invalid code 'a b'" in located(errors, "survey", 6, "B").message


def test_unknown_choice_list() -> None:
    errors = import_errors(minimal([row("select_one colours", "c", "C")], choices=[("colour", "red", "Red")]))
    assert "Unknown choice list 'colours'" in located(errors, "survey", 4, "A").message


def test_broken_expressions_and_references() -> None:
    data = minimal(
        [
            row("integer", "b", "B", relevant="${age} >"),
            row("integer", "c", "C", relevant="${nobody} = 1"),
            row("integer", "d", "D", constraint=". >= 0 and . <= ${page}"),
            row("integer", "e", "E", relevant=". > 1"),
            row("integer", "f", "F", relevant="${f} > 1"),
        ]
    )
    errors = import_errors(data)
    assert "Invalid expression" in located(errors, "survey", 4, "F").message
    assert "${nobody}" in located(errors, "survey", 5, "F").message
    assert "names a group" in located(errors, "survey", 6, "G").message
    assert "'.'" in located(errors, "survey", 7, "F").message
    assert "itself" in located(errors, "survey", 8, "F").message


def test_min_greater_than_max_points_at_the_constraint() -> None:
    errors = import_errors(minimal([row("integer", "n", "N", constraint=". >= 10 and . <= 5")]))
    assert "greater than max" in located(errors, "survey", 4, "G").message


def test_required_must_be_yes_or_no() -> None:
    errors = import_errors(minimal([row("integer", "n", "N", required="${age} > 3")]))
    assert "yes or no" in located(errors, "survey", 4, "E").message


def test_label_missing_in_the_default_language() -> None:
    header = ("type", "name", "label::English (en)", "label::Français (fr)")
    survey = [("integer", "a", "A", "A fr"), ("integer", "b", None, "B fr")]
    errors = import_errors(build_xlsform(survey, survey_header=header))
    assert "'en'" in located(errors, "survey", 3, "C").message


def test_group_rows_take_no_item_columns() -> None:
    survey = [
        row("begin_group", "page", "Page", hint="A hint", required="yes"),
        row("integer", "a", "A"),
        row("end_group"),
    ]
    errors = import_errors(build_xlsform(survey))
    assert "not supported on a group row" in located(errors, "survey", 2, "D").message
    assert "not supported on a group row" in located(errors, "survey", 2, "E").message


def test_grid_rows_must_share_one_select_list() -> None:
    survey = [
        row("begin_group", "page", "Page"),
        row("begin_group", "grid", "Grid", appearance="table-list"),
        row("select_one scale", "r1", "Row 1"),
        row("text", "r2", "Row 2"),
        row("select_one other_scale", "r3", "Row 3"),
        row("end_group"),
        row("end_group"),
    ]
    choices = [("scale", "a", "A"), ("other_scale", "b", "B")]
    errors = import_errors(build_xlsform(survey, choices))
    assert "must be select_one" in located(errors, "survey", 5, "A").message
    assert "one choice list" in located(errors, "survey", 6, "A").message


def test_choice_problems_point_at_the_choices_sheet() -> None:
    survey = [
        row("begin_group", "page", "Page"),
        row("select_one l", "q", "Q"),
        row("country c", "where", "Where?"),
        row("end_group"),
    ]
    choices = [
        ("l", "a", "A"),
        ("l", "a", "A again"),
        ("l", "b c", "Space"),
        ("l", "d", None),
        ("c", "SE", "Sweden"),
        ("c", "XX", "Nowhere"),
        ("l", None, "No name"),
        (None, "e", "No list"),
    ]
    errors = import_errors(build_xlsform(survey, choices))
    assert "appears twice" in located(errors, "choices", 3, "B").message
    assert "Invalid choice code" in located(errors, "choices", 4, "B").message
    assert "label" in located(errors, "choices", 5, "C").message
    assert "ISO 3166-1" in located(errors, "choices", 7, "B").message
    assert "no name" in located(errors, "choices", 8, "B").message
    assert "no list_name" in located(errors, "choices", 9, "A").message


def test_yes_no_list_must_be_yes_and_no() -> None:
    survey = [row("yes_no", "ok", "OK?")]
    errors = import_errors(build_xlsform(survey, [("yes_no", "yes", "Yes"), ("yes_no", "maybe", "Maybe")]))
    assert "exactly 'yes' and 'no'" in located(errors, "survey", 2, "A").message
    missing = import_errors(build_xlsform(survey, [("other", "a", "A")]))
    assert "Unknown choice list 'yes_no'" in located(missing, "survey", 2, "A").message


def test_settings_problems() -> None:
    data = build_xlsform(
        [row("integer", "n", "N")],
        settings=[("T", "bad id!", "1", "Klingon (x!)", "theme-grid"), ("second row",)],
        settings_header=("form_title", "form_id", "version", "default_language", "style"),
    )
    errors = import_errors(data)
    assert "'style'" in located(errors, "settings", 2, "E").message
    assert "form_id" in located(errors, "settings", 2, "B").message
    assert "language" in located(errors, "settings", 2, "D").message
    assert "row 2 only" in located(errors, "settings", 3, "A").message


def test_header_problems() -> None:
    header = ("type", "name", "label", "label", "label::Gibberish")
    errors = import_errors(build_xlsform([("integer", "n", "N", "N2", "x")], survey_header=header))
    assert "repeats column C" in located(errors, "survey", 1, "D").message
    assert "Cannot tell the language" in located(errors, "survey", 1, "E").message


def test_value_in_a_column_without_header() -> None:
    errors = import_errors(
        build_xlsform([("integer", "n", "N", None, None, None, None, None, None, "stray")])
    )
    assert "no header" in located(errors, "survey", 2, "J").message


def test_row_without_type() -> None:
    errors = import_errors(minimal([(None, "orphan", "An orphan label")]))
    assert "no type" in located(errors, "survey", 4, "A").message


def test_every_error_is_reported_at_once_in_sheet_order() -> None:
    survey = [
        row("begin_group", "page", "Page"),
        row("foo", "a", "A"),
        row("integer", "a2", "A2", relevant="${zz} = 1"),
        row("select_one nope", "b", "B"),
        row("calculate", "c", None),
        row("integer", "a2", "Again"),
    ]
    errors = import_errors(build_xlsform(survey, [("l", "x", "X"), ("l", "x", "X")]))
    assert len(errors) >= 7
    assert all(e.sheet for e in errors)
    survey_rows = [e.row for e in errors if e.sheet == "survey" and e.row]
    assert survey_rows == sorted(survey_rows)
    assert {e.row for e in errors if e.sheet == "survey"} >= {2, 3, 4, 5, 6, 7}
    assert any(e.sheet == "choices" and e.row == 3 for e in errors)
    text = str(next(e for e in errors if e.row == 4))
    assert text.startswith("survey sheet, row 4, column F (relevant): ")


def test_pyxform_catches_what_the_subset_checks_do_not() -> None:
    # Piping an unknown answer into a label is no expression of ours, but pyxform refuses it.
    errors = import_errors(minimal([row("note", "hello", "Hello ${nobody}")]))
    assert len(errors) == 1
    assert errors[0].message.startswith("pyxform: ")
    assert errors[0].sheet == "survey"


def test_pyxform_messages_are_translated_with_their_row() -> None:
    error = pyxform_error(PyXFormError("[row : 12] Question with no type."))
    assert (error.sheet, error.row, error.message) == ("survey", 12, "pyxform: Question with no type.")
    error = pyxform_error(PyXFormError("[row : 3] On the 'choices' sheet, something."))
    assert (error.sheet, error.row) == ("choices", 3)
    assert pyxform_error(PyXFormError("Something global.")).sheet is None


def test_errors_survive_pickling() -> None:
    errors = import_errors(minimal([row("foo", "f", "F")]))
    restored = pickle.loads(pickle.dumps(DefinitionInvalid(errors)))  # noqa: S301 - our own data
    assert restored.errors == errors


def test_plain_and_default_language_columns_conflict() -> None:
    header = ("type", "name", "label", "label::English (en)")
    data = build_xlsform(
        [("integer", "n", "N", "N again")], settings=[("T", None, None, "English (en)")], survey_header=header
    )
    assert "repeats the plain 'label' column" in located(import_errors(data), "survey", 1, "D").message


def test_typographic_quotes_in_expressions_are_straightened() -> None:
    survey = [
        row("select_one yes_no", "ok", "OK?"),
        row("text", "why", "Why?", relevant="${ok} = \u2018yes\u2019"),
    ]
    definition = xlsform_to_definition(io.BytesIO(build_xlsform(survey, YES_NO_CHOICES)))
    assert items_by_code(definition)["why"]["relevant"] == "${ok} = 'yes'"


def test_sheet_errors_name_the_element_and_field() -> None:
    error = located(import_errors(minimal([row("integer", "n", "N", required="maybe")])), "survey", 4, "E")
    assert (error.element, error.field) == ("n", "required")


def test_refuses_a_workbook_whose_sheet_does_not_parse() -> None:
    source = zipfile.ZipFile(io.BytesIO(build_xlsform([row("integer", "n", "N")])))
    parts = {name: source.read(name) for name in source.namelist()}
    sheet = next(name for name in parts if name.startswith("xl/worksheets/sheet"))
    parts[sheet] = b"<worksheet><sheetData><row><c>broken"
    assert "could not be read" in import_errors(zip_bytes(parts))[0].message


def test_refuses_xml_entity_expansion() -> None:
    source = zipfile.ZipFile(io.BytesIO(build_xlsform([row("integer", "n", "N")])))
    parts = {name: source.read(name) for name in source.namelist()}
    sheet = next(name for name in parts if name.startswith("xl/worksheets/sheet"))
    parts[sheet] = (
        b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>&b;</t></is></c></row></sheetData></worksheet>'
    )
    assert "could not be read" in import_errors(zip_bytes(parts))[0].message
