"""Filtered results from the kept pair counts (results/tallies.py): the same figures and the same hidden
cells as counting the answers, read without counting them, and never used once a release changed them."""

import json
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from coding.services import answer_codes_set, codebooks_import_reference
from responses.models import Answer
from results import selectors
from results.cache import results_stale
from results.models import CodedTally, FilterTally
from results.selectors import ResultFilter, edition_results
from results.services import results_warm
from results.tallies import filter_tallies_current, filter_tallies_refresh
from tests.results.test_results import people, release


@pytest.fixture
def edition(open_2017):
    codebooks_import_reference(edition=open_2017)
    release(
        open_2017,
        people(
            25,
            country="US",
            agency_type="national",
            workload_change="increased",
            offender_age=["30_40", "40_50"],
            workload_reasons="more cases",
        )
        + people(
            12, country="SE", agency_type="national", workload_change="unchanged", offender_age=["20_30"]
        )
        + people(3, country="SE", agency_type="national", workload_change="decreased")
        + people(15, country="GB", agency_type="local", workload_change="unchanged")
        + people(5, country="NO", agency_type="international", workload_change="decreased")
        + [{"agency_type": "national", "children_rescued": v, "country": "US"} for v in range(1, 31)]
        + [{"agency_type": "local", "children_rescued": v * 7} for v in range(1, 12)],
    )
    return open_2017


FILTERS = [
    [ResultFilter("agency_type", ("national",))],
    [ResultFilter("agency_type", ("national", "local"))],
    [ResultFilter("agency_type", ("international",))],  # under ten: nothing shown
    [ResultFilter("country", ("SE",))],
    [ResultFilter("country", ("FI",))],  # nobody
]


def _from_answers(edition, filters, **kwargs):
    with mock.patch.object(selectors, "_filter_tallies", return_value=None):
        return edition_results(edition=edition, filters=filters, **kwargs)


def _same(a, b):
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: str(f))
def test_tallied_results_are_those_counted_from_the_answers_small_cells_hidden_alike(edition, filters):
    expected = _from_answers(edition, filters)
    assert filter_tallies_refresh(edition_id=edition.pk)
    assert _same(edition_results(edition=edition, filters=filters), expected)
    # Custom bins are counted from the answers, the rest still read from the tallies.
    bins = {"children_rescued": [0, 10, 20, 80]}
    tallied = edition_results(edition=edition, filters=filters, bins=bins)
    assert _same(tallied, _from_answers(edition, filters, bins=bins))


def test_hidden_cells_come_out_as_from_the_answers(edition):
    filter_tallies_refresh(edition_id=edition.pk)
    national = edition_results(edition=edition, filters=[ResultFilter("agency_type", ("national",))])
    assert national["respondents"] == 70
    # 3 decreased is under ten, and one hidden cell takes the next smallest (12 unchanged) with it.
    assert national["items"]["workload_change"]["counts"] == {"increased": 25}
    assert national["items"]["workload_change"]["suppressed"] == ["decreased", "unchanged"]
    assert national["items"]["offender_age"]["n"] == 37  # respondents, not answers


def test_a_view_with_one_offered_filter_reads_no_answers_for_choices(edition):
    filter_tallies_refresh(edition_id=edition.pk)
    choice_items = ["country", "agency_type", "workload_change", "offender_age", "better_equipped"]
    with CaptureQueriesContext(connection) as queries:
        edition_results(
            edition=edition, filters=[ResultFilter("agency_type", ("national",))], item_codes=choice_items
        )
    assert not [q["sql"] for q in queries.captured_queries if "responses_answer" in q["sql"]]


def test_tallies_of_an_earlier_release_are_not_read(edition):
    filter_tallies_refresh(edition_id=edition.pk)
    release(edition, people(10, country="GB", agency_type="national", workload_change="decreased"))
    filters = [ResultFilter("agency_type", ("national",))]
    results = edition_results(edition=edition, filters=filters)
    assert results["respondents"] == 80
    assert results["items"]["workload_change"]["counts"]["decreased"] == 13
    assert _same(results, _from_answers(edition, filters))


def test_the_warm_up_after_a_release_counts_the_tallies_once(edition):
    results_warm(edition_id=edition.pk)
    released = edition.responses.count()
    tallies = FilterTally.objects.filter(edition=edition)
    assert tallies.exists() and set(tallies.values_list("released", flat=True)) == {released}
    assert {t.filter_item.code for t in tallies.select_related("filter_item")} == {"country", "agency_type"}
    assert not filter_tallies_refresh(edition_id=edition.pk)  # current: nothing to count
    assert filter_tallies_current(edition_id=edition.pk)
    release(edition, people(1, country="US", agency_type="local"))
    assert not filter_tallies_current(edition_id=edition.pk)


def _code(edition, count, codes, coder="A"):
    answers = Answer.objects.filter(item__edition=edition, item__code="workload_reasons")
    for answer in answers.order_by("pk")[:count]:
        answer_codes_set(answer_id=answer.pk, codes=codes, coder=coder)
    results_stale(edition_id=edition.pk)  # what the coding write's commit does (results_invalidate)


def test_coded_counts_come_from_the_tallies_until_a_coding_write(edition):
    _code(edition, 14, ["more_cases"])
    filters = [ResultFilter("agency_type", ("national",))]
    filter_tallies_refresh(edition_id=edition.pk)
    assert CodedTally.objects.filter(edition=edition).exists()
    with CaptureQueriesContext(connection) as queries:
        tallied = edition_results(edition=edition, filters=filters, item_codes=["workload_reasons"])
    assert not [q["sql"] for q in queries.captured_queries if "coding_final" in q["sql"]]
    assert tallied["items"]["workload_reasons"]["counts"]["more_cases"] == 14
    assert _same(tallied, _from_answers(edition, filters, item_codes=["workload_reasons"]))
    # A coding write after the count: the final codes are read again, not the tallies.
    _code(edition, 25, ["more_cases"], coder="B")
    later = edition_results(edition=edition, filters=filters, item_codes=["workload_reasons"])
    assert later["items"]["workload_reasons"]["counts"]["more_cases"] == 25 - 14 + 14  # B coded all 25
    assert _same(later, _from_answers(edition, filters, item_codes=["workload_reasons"]))
    # The warm-up after the writes counts them again.
    assert filter_tallies_refresh(edition_id=edition.pk)
    assert _same(edition_results(edition=edition, filters=filters, item_codes=["workload_reasons"]), later)


def test_a_category_added_after_some_answers_were_coded_has_its_own_base_in_the_tallies_too(edition):
    from coding.models import Codebook
    from coding.services import category_create

    _code(edition, 12, ["more_cases"])  # before the category exists: unknown for it
    codebook = Codebook.objects.get(edition=edition, item_code="workload_reasons")
    category_create(codebook=codebook, code="remote_work", label="Remote work")
    answers = Answer.objects.filter(item__edition=edition, item__code="workload_reasons").order_by("pk")
    for n, answer in enumerate(answers[12:25]):
        answer_codes_set(answer_id=answer.pk, codes=["remote_work"] if n < 10 else [], coder="A")
    results_stale(edition_id=edition.pk)
    filters = [ResultFilter("agency_type", ("national",))]
    expected = _from_answers(edition, filters, item_codes=["workload_reasons"])
    coded = expected["items"]["workload_reasons"]
    assert coded["n"] == 25 and coded["counts"]["remote_work"] == 10
    assert coded["summary"]["bases"] == {"remote_work": 13}  # 10 of the 13 offered it, not of 25
    assert filter_tallies_refresh(edition_id=edition.pk)
    assert CodedTally.objects.filter(edition=edition, source="unknown", category="remote_work").exists()
    tallied = edition_results(edition=edition, filters=filters, item_codes=["workload_reasons"])
    assert _same(tallied, expected)


def test_gaps_a_trained_run_decided_count_in_the_tallies_as_from_the_answers(edition):
    from coding.models import Codebook
    from coding.services import category_create
    from tests.coding.conftest import fill_gaps

    _code(edition, 12, ["more_cases"])  # before the category exists: a gap each
    codebook = Codebook.objects.get(edition=edition, item_code="workload_reasons")
    category = category_create(codebook=codebook, code="remote_work", label="Remote work")
    answers = list(Answer.objects.filter(item__edition=edition, item__code="workload_reasons").order_by("pk"))
    for n, answer in enumerate(answers[12:25]):
        answer_codes_set(answer_id=answer.pk, codes=["remote_work"] if n < 10 else [], coder="A")
    fill_gaps(edition, "workload_reasons", category, {a: n < 6 for n, a in enumerate(answers[:12])})
    results_stale(edition_id=edition.pk)
    filters = [ResultFilter("agency_type", ("national",))]
    expected = _from_answers(edition, filters, item_codes=["workload_reasons"])
    coded = expected["items"]["workload_reasons"]
    # 10 people gave it and the run 6 of the 12 gaps; the base is every coded respondent again.
    assert coded["n"] == 25 and coded["counts"]["remote_work"] == 16
    assert "remote_work" not in coded["summary"]["bases"]
    assert coded["summary"]["method"] == "mixed" and coded["summary"]["filled"] is True
    assert filter_tallies_refresh(edition_id=edition.pk)
    assert CodedTally.objects.filter(edition=edition, source="filled", respondents=12).exists()
    tallied = edition_results(edition=edition, filters=filters, item_codes=["workload_reasons"])
    assert _same(tallied, expected)
