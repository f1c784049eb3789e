"""Disclosure control holds on every output: k-anonymity, free text apart, no ids, no times."""

import json
import re
from collections import Counter

import pytest

from exports.anonymise.kanon import OTHER, SUPPRESSED, plan_k_anonymity
from exports.models import ExportJob
from responses.models import Answer, ReceiptDigest, Response
from tests.exports.helpers import (
    QI,
    csv_rows,
    job_path,
    read_csv,
    read_dta,
    read_parquet,
    read_sav,
    read_xlsx,
    run_export,
    unzip,
)


def assert_k_anonymous(rows, k, names=QI):
    combos = Counter(tuple(row[n] for n in names) for row in rows)
    small = {
        combo: n
        for combo, n in combos.items()
        if n < k and any(v not in (SUPPRESSED, "Suppressed (disclosure control)") for v in combo)
    }
    assert not small, small


def test_small_groups_are_generalised_up_the_m49_tree_then_suppressed():
    counts = {
        ("SE", "national"): 10,
        ("NO", "national"): 2,  # → Northern Europe, with DK
        ("DK", "national"): 3,
        ("FJ", "national"): 1,  # alone in Oceania → Other
        ("SE", "international"): 1,  # → suppressed agency type in the end
    }
    plan = plan_k_anonymity(counts, attributes=["country", "agency_type"], k=5)
    assert plan.apply(("SE", "national")) == ("SE", "national")
    assert (
        plan.apply(("NO", "national"))
        == plan.apply(("DK", "national"))
        == ("M49:Northern Europe", "national")
    )
    released = Counter()
    for combo, n in counts.items():
        released[plan.apply(combo)] += n
    for combo, n in released.items():
        assert n >= 5 or all(v == SUPPRESSED for v in combo), (combo, n)
    assert plan.report["smallest_class"] >= 5
    assert plan.report["suppressed_values"]
    assert 0 < plan.report["suppressed_share"] < 1
    assert (
        OTHER in {plan.apply(("FJ", "national"))[0], SUPPRESSED}
        or plan.apply(("FJ", "national"))[0] == SUPPRESSED
    )


def test_k_below_three_is_refused():
    with pytest.raises(ValueError, match="at least 3"):
        plan_k_anonymity({("SE", "x"): 1}, attributes=["country", "agency_type"], k=2)


def test_k_anonymity_holds_on_every_output(open_2017, synthetic, analyst_ann, export_dir):
    synthetic(open_2017, 250)
    job = run_export(analyst_ann, [open_2017], format="bundle", k=5)
    files = unzip(job_path(job))
    directory = job_path(job).parent
    stem = "law-enforcement-survey_2017"
    for name, data in files.items():
        (directory / name).write_bytes(data)
    sav, _ = read_sav(directory / f"{stem}.sav")
    dta, _ = read_dta(directory / f"{stem}.dta")
    outputs = {
        "csv": read_csv(directory / f"{stem}.csv"),
        "xlsx": read_xlsx(directory / f"{stem}.xlsx"),
        "parquet": read_parquet(directory / f"{stem}.parquet"),
        "sav": sav,
        "dta": dta,
    }
    for rows in outputs.values():
        assert len(rows) == 250
        assert_k_anonymous(rows, 5)
    # The data was built with rare countries: generalisation had work to do, and says so.
    report = job.report["k_anonymity"]
    assert report["respondents_changed"] > 0 and report["smallest_class"] >= 5
    assert any(str(row["country"]).startswith("M49:") for row in outputs["csv"])
    book = json.loads(files[f"{stem}_codebook.json"])
    assert book["disclosure_control"]["k_anonymity"] == report
    # The long file repeats the released values.
    long_rows = csv_rows(files[f"{stem}.csv_long.csv"])
    by_row = {}
    for row in long_rows:
        if row["item"] in QI:
            by_row.setdefault(row["row_id"], {})[row["item"]] = row["value"]
    assert_k_anonymous([{n: r.get(n) for n in QI} for r in by_row.values()], 5)


def test_a_higher_k_generalises_more(open_2017, synthetic, analyst_ann, export_dir):
    synthetic(open_2017, 200)
    low = run_export(analyst_ann, [open_2017], format="csv", k=3, free_text="omit")
    high = run_export(analyst_ann, [open_2017], format="csv", k=20, free_text="omit")
    assert_k_anonymous(read_csv(job_path(high)), 20)
    assert (
        high.report["k_anonymity"]["respondents_changed"] > low.report["k_anonymity"]["respondents_changed"]
    )


def test_an_item_marked_as_quasi_identifier_is_protected_too(open_2017, synthetic, analyst_ann, export_dir):
    open_2017.items.filter(code="workload_change").update(quasi_identifier=True)
    synthetic(open_2017, 120)
    job = run_export(analyst_ann, [open_2017], format="csv", k=5, free_text="omit")
    assert "workload_change" in job.report["k_anonymity"]["quasi_identifiers"]
    assert_k_anonymous(read_csv(job_path(job)), 5, names=(*QI, "workload_change"))


def test_free_text_goes_to_its_own_file_without_quasi_identifiers(
    open_2017, release, analyst_ann, export_dir
):
    answers = [
        {
            "country": "SE",
            "agency_type": "national",
            "workload_change": "increased",
            "better_equipped": "no",
            "viewing_handson_correlation": "rare",
            "workload_reasons": f"Reason {n} from DS John Smith",
        }
        for n in range(6)
    ]
    release(open_2017, answers)
    job = run_export(analyst_ann, [open_2017], format="csv", free_text="separate")
    files = unzip(job_path(job))
    main = csv_rows(files["law-enforcement-survey_2017.csv"])
    text = csv_rows(files["law-enforcement-survey_2017_free_text.csv"])
    assert "workload_reasons" not in main[0]
    assert set(text[0]) == {"text_id", "item", "text"}
    assert sorted(r["text"] for r in text) == sorted(f"Reason {n} from DS [PERSON]" for n in range(6))
    assert "manifest.json" in files

    omitted = run_export(analyst_ann, [open_2017], format="csv", free_text="omit")
    assert job_path(omitted).suffix == ".csv"
    assert "Reason" not in job_path(omitted).read_text()


def test_an_export_never_contains_database_ids_receipts_identities_or_times(
    open_2017, release, synthetic, analyst_ann, officer_alice, export_dir
):
    from django.db import transaction

    from responses.services import responses_write_released

    synthetic(open_2017, 30)
    with transaction.atomic():
        responses_write_released(
            edition_id=open_2017.pk,
            payloads=[
                {
                    "answers": {
                        "country": "SE",
                        "agency_type": "national",
                        "workload_change": "increased",
                        "better_equipped": "no",
                        "viewing_handson_correlation": "rare",
                    },
                    "receipt": "ab" * 32,
                }
            ],
        )
    job = run_export(analyst_ann, [open_2017], format="bundle", free_text="redacted")
    blob = b"".join(unzip(job_path(job)).values())
    forbidden = []
    for response_id in Response.objects.values_list("id", flat=True):
        forbidden += [str(response_id), response_id.hex]
    for answer_id in Answer.objects.values_list("id", flat=True)[:500]:
        forbidden += [str(answer_id), answer_id.hex]
    forbidden += list(ReceiptDigest.objects.values_list("digest", flat=True))
    forbidden += [officer_alice.email, analyst_ann.email]
    for value in forbidden:
        assert value.encode() not in blob, value
    # No dates or times, in any file (export files, manifest, codebook).
    for name, data in unzip(job_path(job)).items():
        if name.endswith((".csv", ".json", ".html")):
            text = data.decode()
            assert not re.search(r"20\d\d-\d\d-\d\d|\d\d:\d\d:\d\d", text), name


def test_two_exports_have_different_orders_and_ids_unless_stable_ids_are_asked_for(
    open_2017, synthetic, analyst_ann, export_dir
):
    synthetic(open_2017, 60)
    numbers = ("avg_case_images_total", "avg_case_images_csam", "children_rescued")

    def order(job):
        return [
            tuple(r[c] for c in numbers) for r in sorted(read_csv(job_path(job)), key=lambda r: r["row_id"])
        ]

    first = order(run_export(analyst_ann, [open_2017], format="csv", free_text="omit"))
    second = order(run_export(analyst_ann, [open_2017], format="csv", free_text="omit"))
    assert sorted(first) == sorted(second) and first != second

    def bundle_orders(stable):
        job = run_export(analyst_ann, [open_2017], format="bundle", stable_ids=stable, free_text="omit")
        files = unzip(job_path(job))
        csv_order = [
            tuple(float(r[c]) for c in numbers) for r in csv_rows(files["law-enforcement-survey_2017.csv"])
        ]
        directory = job_path(job).parent
        (directory / "p.parquet").write_bytes(files["law-enforcement-survey_2017.parquet"])
        parquet_order = [tuple(r[c] for c in numbers) for r in read_parquet(directory / "p.parquet")]
        return csv_order, parquet_order

    csv_order, parquet_order = bundle_orders(stable=True)
    assert csv_order == parquet_order
    csv_order, parquet_order = bundle_orders(stable=False)
    assert csv_order != parquet_order


def test_formula_payloads_come_out_inert_and_numbers_stay_numbers(
    open_2017, release, analyst_ann, export_dir
):
    import openpyxl

    payloads = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tx=1", "\rx"]
    answers = [
        {
            "country": "SE",
            "agency_type": "national",
            "workload_change": "increased",
            "better_equipped": "no",
            "viewing_handson_correlation": "rare",
            "workload_reasons": payloads[n % len(payloads)],
            "children_rescued": n,
        }
        for n in range(12)
    ]
    release(open_2017, answers)
    csv_job = run_export(analyst_ann, [open_2017], format="csv", free_text="redacted")
    rows = csv_rows(job_path(csv_job).read_bytes())
    for row in rows:
        assert row["workload_reasons"].startswith("'")
        assert row["children_rescued"].isdigit()  # not quoted, not escaped
    xlsx_job = run_export(analyst_ann, [open_2017], format="xlsx", free_text="redacted")
    sheet = openpyxl.load_workbook(job_path(xlsx_job))["data"]
    header = [c.value for c in sheet[1]]
    text_col = header.index("workload_reasons")
    number_col = header.index("children_rescued")
    for row in sheet.iter_rows(min_row=2):
        assert all(cell.data_type != "f" for cell in row)
        assert row[text_col].data_type == "s" and row[text_col].value.startswith("'")
        assert isinstance(row[number_col].value, int | float)


def test_several_editions_of_a_series_are_aligned_by_item_code(
    series, open_2017, synthetic, analyst_ann, export_dir
):
    from django.utils import timezone

    from surveys import services as survey_services
    from tests.conftest import import_reference

    edition_2016 = survey_services.edition_open(
        edition=import_reference(series, "2016"), closes_at=timezone.now() + timezone.timedelta(days=3)
    )
    synthetic(open_2017, 30)
    from django.db import transaction

    from responses.services import responses_write_released

    with transaction.atomic():
        responses_write_released(
            edition_id=edition_2016.pk,
            payloads=[{"answers": {"country": "SE", "workload_change": "increased"}} for _ in range(8)],
        )
    codes_2016 = set(edition_2016.items.values_list("code", flat=True))
    job = run_export(analyst_ann, [edition_2016, open_2017], format="csv", free_text="omit")
    rows = read_csv(job_path(job))
    assert len(rows) == 38
    assert Counter(r["edition"] for r in rows) == {2017.0: 30, 2016.0: 8}
    assert "edition" in job.report["k_anonymity"]["quasi_identifiers"]
    only_2017 = [c for c in open_2017.items.values_list("code", flat=True) if c not in codes_2016]
    if only_2017:
        column = next(name for name in rows[0] if name.split("__")[0] == only_2017[0])
        assert all(r[column] is None for r in rows if r["edition"] == 2016.0)
    assert ExportJob.objects.get(pk=job.pk).editions.count() == 2


@pytest.mark.parametrize("lone", [0, 1])  # no lone respondent: nothing to change (the fast path)
def test_transform_many_applies_the_plan_and_keeps_the_row_ids(lone):
    from exports import dataset as ds
    from exports.anonymise import DisclosureControl

    variables = [
        ds.Variable("country", "Country", ds.CHOICE, item_type="country", quasi_identifier=True),
        ds.Variable("agency_type", "Agency", ds.CHOICE, quasi_identifier=True),
        ds.Variable("seized", "Seized", ds.INTEGER),
    ]
    rows = [("SE", "national", n) for n in range(5)] + [("NO", "national", 7)] * 3
    rows += [("FJ", "national", None)] * lone
    counts = Counter((country, agency) for country, agency, _ in rows)
    control = DisclosureControl(variables, qi_counts=counts, qi_indexes=[0, 1], k=3, redact=False)
    assert bool(control.plan.mapping) == bool(lone)
    released = control.transform_many([(n, *row) for n, row in enumerate(rows, start=11)])
    assert [row[0] for row in released] == list(range(11, 11 + len(rows)))
    for raw, row in zip(rows, released, strict=True):
        assert tuple(row[1:3]) == control.plan.apply(raw[:2]) and row[3] == raw[2]
    if lone:
        assert tuple(released[-1][1:3]) != ("FJ", "national")
    assert_k_anonymous([dict(zip(["country", "agency_type"], row[1:3], strict=True)) for row in released], 3)


def test_csv_neutralises_formulas_in_a_batch_only_where_a_value_starts_one():
    from exports.exporters.tabular import _cell, _neutralise_formulas

    batch = [(1, "=1+1", "yes", None, -3), (2, "no", "@SUM(A1)", "x", 4), (3, "=1+1", None, "-", 5)]
    expected = [[row[0], *(_cell(v) for v in row[1:4]), row[4]] for row in batch]
    _neutralise_formulas(batch, [1, 2, 3])
    assert [list(row) for row in batch] == expected
    assert batch[0][1] == "'=1+1" and batch[2][3] == "'-" and batch[0][4] == -3


def test_a_response_released_while_an_export_runs_is_not_written_uncounted(
    open_2017, synthetic, release, analyst_ann, export_dir, monkeypatch
):
    from exports import selectors

    synthetic(open_2017, 40)
    counts = selectors.quasi_identifier_counts

    def count_then_release(table, indexes):
        counted = counts(table, indexes)
        # A pool release lands between the counts and the rows: a combination the plan never saw.
        release(open_2017, [{"country": "FJ", "agency_type": "international"}])
        return counted

    monkeypatch.setattr(selectors, "quasi_identifier_counts", count_then_release)
    rows = read_csv(job_path(run_export(analyst_ann, [open_2017], format="csv", free_text="omit")))
    assert len(rows) == 40
    assert_k_anonymous(rows, 5)
    assert not any(row["country"] == "FJ" and row["agency_type"] == "international" for row in rows)
