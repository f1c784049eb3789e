"""Every format, read back with its own reader, holds exactly the released answers, with labels."""

import random

import pytest

from exports.synthetic import synthetic_answers
from tests.exports.helpers import (
    job_path,
    read_csv,
    read_dta,
    read_parquet,
    read_sav,
    read_xlsx,
    run_export,
    unzip,
)

MULTI = (
    "better_equipped_reasons",
    ["tools", "project_vic", "education", "resources", "collaboration", "other"],
)
AGES = ("offender_age", ["below_20", "20_30", "30_40", "40_50", "50_60", "above_60"])
NUMBERS = ("avg_case_images_total", "avg_case_images_csam", "avg_case_video_hours", "children_rescued")
CHOICES = ("country", "agency_type", "workload_change", "better_equipped", "access_family")
TEXTS = ("workload_reasons", "trends")


@pytest.fixture
def known(open_2017, release):
    """40 answer sets in two quasi-identifier groups of 20: disclosure control changes nothing here."""
    rng = random.Random(7)
    answer_sets = []
    for n in range(40):
        answers = synthetic_answers(rng, n)
        answers["country"], answers["agency_type"] = ("SE", "national") if n % 2 else ("DE", "regional")
        answer_sets.append(answers)
    release(open_2017, answer_sets)
    return answer_sets


def expected_rows(answer_sets, *, labels=None):
    """The wide rows the data should give, as a sorted list of tuples (codes, or labels when given)."""
    rows = []
    for a in answer_sets:
        row = []
        for code in CHOICES:
            value = a.get(code)
            row.append(labels[code][value] if labels and value is not None else value)
        for code, choices in (MULTI, AGES):
            chosen = a.get(code)
            for choice in choices:
                flag = None if chosen is None else float(choice in chosen)
                row.append(labels["flag"][flag] if labels and flag is not None else flag)
        row.extend(None if a.get(code) is None else float(a[code]) for code in NUMBERS)
        row.extend(a.get(code) for code in TEXTS)
        rows.append(tuple(row))
    return sorted(rows, key=repr)


def actual_rows(rows):
    out = []
    for r in rows:
        row = [r[c] for c in CHOICES]
        for code, choices in (MULTI, AGES):
            row.extend(r[f"{code}__{choice}"] for choice in choices)
        row.extend(r[c] for c in NUMBERS)
        row.extend(r[c] for c in TEXTS)
        out.append(tuple(row))
    return sorted(out, key=repr)


def test_csv_holds_every_answer(known, open_2017, analyst_ann, export_dir):
    job = run_export(analyst_ann, [open_2017], format="csv", free_text="redacted")
    rows = read_csv(job_path(job))
    assert actual_rows(rows) == expected_rows(known)
    assert sorted(r["row_id"] for r in rows) == [float(i) for i in range(1, 41)]


def test_parquet_holds_every_answer_with_a_schema(known, open_2017, analyst_ann, export_dir):
    import pyarrow.parquet as pq

    job = run_export(analyst_ann, [open_2017], format="parquet", free_text="redacted")
    assert actual_rows(read_parquet(job_path(job))) == expected_rows(known)
    schema = pq.read_schema(job_path(job))
    assert str(schema.field("avg_case_images_total").type) == "int64"
    assert str(schema.field("avg_case_video_hours").type) == "double"
    assert str(schema.field("offender_age__30_40").type) == "int8"
    assert schema.field("agency_type").metadata[b"label"].decode().startswith("What kind of agency")
    assert b"National / federal agency" in schema.field("agency_type").metadata[b"value_labels"]


def test_xlsx_holds_every_answer_and_a_variables_sheet(known, open_2017, analyst_ann, export_dir):
    import openpyxl

    job = run_export(analyst_ann, [open_2017], format="xlsx", free_text="redacted")
    assert actual_rows(read_xlsx(job_path(job))) == expected_rows(known)
    variables = list(openpyxl.load_workbook(job_path(job))["variables"].iter_rows(values_only=True))
    assert any(
        row[0] == "agency_type" and "national = National / federal agency" in row[4] for row in variables
    )


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_spss_and_stata_hold_every_answer_with_variable_and_value_labels(
    fmt, known, open_2017, analyst_ann, export_dir
):
    job = run_export(analyst_ann, [open_2017], format=fmt, free_text="redacted")
    rows, meta = (read_sav if fmt == "sav" else read_dta)(job_path(job))
    labels = {
        "country": {"SE": "Sweden", "DE": "Germany"},
        "agency_type": {"national": "National / federal agency", "regional": "State / regional agency"},
        "workload_change": {"increased": "Increased", "unchanged": "Unchanged", "decreased": "Decreased"},
        "better_equipped": {"yes": "Yes", "no": "No"},
        "access_family": {"very_common": "Very common", "common": "Common", "uncommon": "Uncommon"},
        "flag": {0.0: "Not chosen", 1.0: "Chosen"},
    }
    # Stata names are at most 28 characters here (see exports/exporters/statistical.py).
    rows = [{_long_name(k): v for k, v in row.items()} for row in rows]
    assert actual_rows(rows) == expected_rows(known, labels=labels)
    column_labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert column_labels["agency_type"].startswith("What kind of agency")
    assert meta.variable_value_labels["agency_type"][1] == "National / federal agency"


def _long_name(name):
    for full in (f"{code}__{c}" for code, choices in (MULTI, AGES) for c in choices):
        if full[:28] == name:
            return full
    return name


def test_long_csv_has_one_row_per_answer(known, open_2017, analyst_ann, export_dir):
    job = run_export(analyst_ann, [open_2017], format="csv_long", free_text="redacted")
    rows = read_csv(job_path(job))
    expected = sum(
        len(v) if isinstance(v, list) else 1 for answers in known for v in answers.values() if v is not None
    )
    assert len(rows) == expected
    assert set(rows[0]) == {"row_id", "item", "value"}
    by_item = {}
    for row in rows:
        by_item.setdefault(row["item"], []).append(row["value"])
    assert sorted(by_item["children_rescued"]) == sorted(float(a["children_rescued"]) for a in known)
    assert sorted(by_item["offender_age"]) == sorted(c for a in known for c in a["offender_age"])


def test_codebook_and_bundle(known, open_2017, analyst_ann, export_dir):
    import hashlib
    import json

    job = run_export(analyst_ann, [open_2017], format="bundle")
    files = unzip(job_path(job))
    names = set(files)
    stem = "law-enforcement-survey_2017"
    for suffix in (
        ".csv",
        ".csv_long.csv",
        ".xlsx",
        ".sav",
        ".dta",
        ".parquet",
        "_free_text.csv",
        "_codebook.json",
        "_codebook.html",
    ):
        assert stem + suffix in names, suffix
    manifest = json.loads(files["manifest.json"])
    for entry in manifest["files"]:
        assert hashlib.sha256(files[entry["name"]]).hexdigest() == entry["sha256"]
    book = json.loads(files[f"{stem}_codebook.json"])
    agency = next(v for v in book["variables"] if v["name"] == "agency_type")
    assert (
        agency["quasi_identifier"]
        and {"code": "national", "label": "National / federal agency", "sav_dta_code": 1} in agency["values"]
    )
    assert book["disclosure_control"]["k_anonymity"]["k"] == 5
    html = files[f"{stem}_codebook.html"].decode()
    assert "Disclosure control applied" in html and "National / federal agency" in html


def test_coded_free_text_becomes_one_0_1_column_per_category(open_2017, release, analyst_ann, export_dir):
    from coding import services as coding
    from responses.models import Answer

    base = {
        "country": "SE",
        "agency_type": "national",
        "workload_change": "increased",
        "better_equipped": "no",
        "viewing_handson_correlation": "rare",
    }
    release(open_2017, [{**base, "workload_reasons": f"text {n}"} for n in range(6)] + [base] * 2)
    coding.codebook_import(
        edition=open_2017,
        item_code="workload_reasons",
        categories=[
            {"code": "more_data", "label": "More data", "examples": ["John Smith's case"]},
            {"code": "staff", "label": "Too few staff"},
        ],
    )
    answers = {a.text: a.pk for a in Answer.objects.filter(item__code="workload_reasons")}
    coding.answer_codes_set(answer_id=answers["text 0"], codes=["more_data"], coder="ann")
    coding.answer_codes_set(answer_id=answers["text 1"], codes=["more_data", "staff"], coder="ann")
    coding.answer_codes_set(answer_id=answers["text 2"], codes=[], coder="ann")
    job = run_export(analyst_ann, [open_2017], format="bundle", free_text="omit")
    files = unzip(job_path(job))
    from tests.exports.helpers import csv_rows

    rows = csv_rows(files["law-enforcement-survey_2017.csv"])
    pairs = sorted((r["workload_reasons__more_data"], r["workload_reasons__staff"]) for r in rows)
    # 3 coded (1,0), (1,1), (0,0); 3 answered but not coded; 2 without an answer: empty.
    assert pairs == sorted([("1", "0"), ("1", "1"), ("0", "0")] + [("", "")] * 5)
    book = files["law-enforcement-survey_2017_codebook.json"].decode()
    assert "Too few staff" in book and "John Smith" not in book


def test_a_human_coding_only_category_is_empty_for_automatically_coded_answers(
    open_2017, release, analyst_ann, export_dir
):
    """Results count a category flagged 'human coding only' among human-coded answers (the model's codes
    for it are not used); the export wrote 0 for every automatically coded answer, so the column's mean
    was not the published share. It is empty there now; the codebook says why."""
    from coding import services as coding
    from coding.finals import final_codes_refresh
    from coding.models import AnswerCode, AutoCoding, Category, CodeSource, CodingRun, RunKind
    from responses.models import Answer
    from surveys.models import Item
    from tests.exports.helpers import csv_rows

    base = {
        "country": "SE",
        "agency_type": "national",
        "workload_change": "increased",
        "better_equipped": "no",
        "viewing_handson_correlation": "rare",
    }
    release(open_2017, [{**base, "workload_reasons": f"text {n}"} for n in range(4)] + [base])
    coding.codebook_import(
        edition=open_2017,
        item_code="workload_reasons",
        categories=[{"code": "more_data", "label": "More data"}, {"code": "staff", "label": "Too few staff"}],
    )
    answers = {a.text: a.pk for a in Answer.objects.filter(item__code="workload_reasons")}
    coding.answer_codes_set(answer_id=answers["text 0"], codes=["staff"], coder="ann")
    coding.answer_codes_set(answer_id=answers["text 1"], codes=["more_data"], coder="ann")
    # What a trained run writes: 'text 2' and 'text 3' coded automatically, 'staff' flagged human only.
    run = CodingRun.objects.create(
        edition=open_2017, item_code="workload_reasons", kind=RunKind.TRAINED, classifier="tfidf-lr"
    )
    categories = {c.code: c for c in Category.objects.filter(codebook__edition=open_2017)}
    run.categories.set(categories.values())
    for text, codes in (("text 2", ["more_data", "staff"]), ("text 3", ["staff"])):
        AutoCoding.objects.create(answer_id=answers[text], run=run)
        for code in codes:
            AnswerCode.objects.create(
                answer_id=answers[text],
                category=categories[code],
                source=CodeSource.AUTO,
                run=run,
                probability=0.9,
            )
    Category.objects.filter(pk=categories["staff"].pk).update(human_only=True)
    final_codes_refresh(item_id=Item.objects.get(edition=open_2017, code="workload_reasons").pk)

    job = run_export(analyst_ann, [open_2017], format="bundle", free_text="omit")
    files = unzip(job_path(job))
    rows = csv_rows(files["law-enforcement-survey_2017.csv"])
    pairs = sorted((r["workload_reasons__more_data"], r["workload_reasons__staff"]) for r in rows)
    # human: (0,1), (1,0); automatic: (1, empty), (0, empty); no answer: (empty, empty).
    assert pairs == sorted([("0", "1"), ("1", "0"), ("1", ""), ("0", ""), ("", "")])
    book = files["law-enforcement-survey_2017_codebook.json"].decode()
    assert '"human_only": true' in book


def test_a_category_an_editions_codebook_lacks_is_empty_for_that_editions_answers(
    series, open_2017, release, analyst_ann, export_dir
):
    """Two editions exported together: 'staff' is in 2017's codebook only, so 2016's coded answers never
    had it to give; they were written 0 ('not coded with this category'), a 0 % for 2016."""
    from django.utils import timezone

    from coding import services as coding
    from responses.models import Answer
    from surveys import services as survey_services
    from tests.conftest import import_reference
    from tests.exports.helpers import csv_rows

    edition_2016 = survey_services.edition_open(
        edition=import_reference(series, "2016"), closes_at=timezone.now() + timezone.timedelta(days=3)
    )
    base = {"country": "SE", "workload_change": "increased"}
    for edition in (edition_2016, open_2017):
        release(edition, [{**base, "workload_reasons": f"{edition.label} text {n}"} for n in range(2)])
    frames = {
        edition_2016: [{"code": "more_data", "label": "More data"}],
        open_2017: [{"code": "more_data", "label": "More data"}, {"code": "staff", "label": "Too few staff"}],
    }
    for edition, categories in frames.items():
        coding.codebook_import(edition=edition, item_code="workload_reasons", categories=categories)
    answers = {a.text: a.pk for a in Answer.objects.filter(item__code="workload_reasons")}
    for text, codes in {
        "2016 text 0": ["more_data"],
        "2016 text 1": [],
        "2017 text 0": ["staff"],
        "2017 text 1": ["more_data"],
    }.items():
        coding.answer_codes_set(answer_id=answers[text], codes=codes, coder="ann")

    job = run_export(analyst_ann, [edition_2016, open_2017], format="bundle", free_text="omit")
    rows = csv_rows(unzip(job_path(job))["law-enforcement-survey_2016-2017.csv"])
    by_edition = sorted(
        (r["edition"], r["workload_reasons__more_data"], r["workload_reasons__staff"]) for r in rows
    )
    assert by_edition == [("2016", "0", ""), ("2016", "1", ""), ("2017", "0", "1"), ("2017", "1", "0")]


def test_a_category_the_coder_was_not_offered_is_empty_for_that_answer(
    open_2017, release, analyst_ann, export_dir
):
    """'staff' was added to the codebook after 'text 0' was coded: its coder never saw it, so the
    answer was written 0 ('not coded with this category') and the column's mean was too low. It is
    empty now; an answer coded after the addition that did not tick it is a 0."""
    from coding import services as coding
    from coding.models import Codebook
    from responses.models import Answer
    from tests.exports.helpers import csv_rows

    base = {"country": "SE", "workload_change": "increased"}
    release(open_2017, [{**base, "workload_reasons": f"text {n}"} for n in range(3)])
    coding.codebook_import(
        edition=open_2017,
        item_code="workload_reasons",
        categories=[{"code": "more_data", "label": "More data"}],
    )
    answers = {a.text: a.pk for a in Answer.objects.filter(item__code="workload_reasons")}
    coding.answer_codes_set(answer_id=answers["text 0"], codes=["more_data"], coder="ann")
    codebook = Codebook.objects.get(edition=open_2017, item_code="workload_reasons")
    coding.category_create(codebook=codebook, code="staff", label="Too few staff")
    coding.answer_codes_set(answer_id=answers["text 1"], codes=["more_data"], coder="ann")
    coding.answer_codes_set(answer_id=answers["text 2"], codes=["staff"], coder="ann")

    job = run_export(analyst_ann, [open_2017], format="bundle", free_text="omit")
    files = unzip(job_path(job))
    rows = csv_rows(files["law-enforcement-survey_2017.csv"])
    pairs = sorted((r["workload_reasons__more_data"], r["workload_reasons__staff"]) for r in rows)
    assert pairs == sorted([("1", ""), ("1", "0"), ("0", "1")])
    assert "the coder was not offered it" in files["law-enforcement-survey_2017_codebook.html"].decode()
    assert "the coder was not offered it" in files["law-enforcement-survey_2017_codebook.json"].decode()


def test_a_gap_a_trained_run_decided_has_the_run_s_value(open_2017, release, analyst_ann, export_dir):
    """'staff' was added after 'text 0' and 'text 1' were coded; a trained run decided it for them (present
    for one, absent for the other): their values are the run's, not empty."""
    from coding import services as coding
    from coding.models import Codebook
    from responses.models import Answer
    from tests.coding.conftest import fill_gaps
    from tests.exports.helpers import csv_rows

    base = {"country": "SE", "workload_change": "increased"}
    release(open_2017, [{**base, "workload_reasons": f"text {n}"} for n in range(3)])
    coding.codebook_import(
        edition=open_2017,
        item_code="workload_reasons",
        categories=[{"code": "more_data", "label": "More data"}],
    )
    answers = {a.text: a for a in Answer.objects.filter(item__code="workload_reasons")}
    coding.answer_codes_set(answer_id=answers["text 0"].pk, codes=["more_data"], coder="ann")
    coding.answer_codes_set(answer_id=answers["text 1"].pk, codes=[], coder="ann")
    codebook = Codebook.objects.get(edition=open_2017, item_code="workload_reasons")
    staff = coding.category_create(codebook=codebook, code="staff", label="Too few staff")
    coding.answer_codes_set(answer_id=answers["text 2"].pk, codes=["staff"], coder="ann")
    fill_gaps(open_2017, "workload_reasons", staff, {answers["text 0"]: False, answers["text 1"]: True})

    job = run_export(analyst_ann, [open_2017], format="bundle", free_text="omit")
    files = unzip(job_path(job))
    rows = csv_rows(files["law-enforcement-survey_2017.csv"])
    pairs = sorted((r["workload_reasons__more_data"], r["workload_reasons__staff"]) for r in rows)
    assert pairs == sorted([("1", "0"), ("0", "1"), ("0", "1")])
    # The codebook says such a value is the model's, not a person's (an empty cell is no longer the rule).
    for name in ("law-enforcement-survey_2017_codebook.html", "law-enforcement-survey_2017_codebook.json"):
        assert "unless a trained model decided it" in files[name].decode()
