"""A category a coding could not speak for is unknown, not absent (coding/finals.py): one added to the
codebook after an answer was coded, or retired before it was coded, or not covered by the trained run
that coded it. Unknown answers leave the category's base, its training labels and coder agreement."""

import importlib
from types import SimpleNamespace

import numpy as np
from django.db import connection

from coding import selectors, services, training
from coding.finals import ADJUDICATED, final_codes_refresh
from coding.models import Category, CategorySeen, Codebook, CodingRun, FinalCode, HumanCoding
from surveys.models import Item
from tests.coding.conftest import code_by_human, spy_on_training
from tests.coding.test_coding_run import ITEM, start


def add_category(edition, code="remote_work", label="Remote work"):
    codebook = Codebook.objects.get(edition=edition, item_code=ITEM)
    return services.category_create(codebook=codebook, code=code, label=label)


def unknown(edition):
    return selectors.final_unknown(edition_id=edition.pk, item_code=ITEM)


def counts(edition):
    return selectors.item_category_counts(edition_id=edition.pk, item_code=ITEM)


def test_a_category_added_after_an_answer_was_coded_is_unknown_for_it(coded_item):
    edition, pairs = coded_item
    code_by_human(pairs, 10)  # before the category exists
    add_category(edition)
    (late, _), (ticked, _) = pairs[10], pairs[11]
    services.answer_codes_set(answer_id=late.pk, codes=["more_data"], coder="A")  # offered, not ticked
    services.answer_codes_set(answer_id=ticked.pk, codes=["remote_work"], coder="A")
    early = {answer.pk for answer, _ in pairs[:10]}
    assert unknown(edition) == {"remote_work": early}
    result = counts(edition)
    assert result["n"] == 12 and result["counts"]["remote_work"] == 1
    # Its share is 1 of the 2 answers coded since (the earlier 10 were not offered it): not 1 of 12.
    assert result["bases"]["remote_work"] == 2 and result["unknown"] == {"remote_work": 10}
    assert result["bases"]["more_data"] == 12
    # Re-coded with the category on offer, an earlier answer is known again (a 0 here).
    services.answer_codes_set(answer_id=pairs[0][0].pk, codes=pairs[0][1], coder="A")
    assert unknown(edition) == {"remote_work": early - {pairs[0][0].pk}}
    assert counts(edition)["bases"]["remote_work"] == 3


def test_a_category_retired_mid_coding_is_unknown_for_the_answers_coded_after(coded_item):
    edition, pairs = coded_item
    before = [(a, c) for a, c in pairs if "more_data" in c][:3]
    code_by_human(before, 3)
    category = Category.objects.get(codebook__edition=edition, codebook__item_code=ITEM, code="more_data")
    assert services.category_remove(category=category) == "retired"
    after = [(a, c) for a, c in pairs if "more_data" not in c][:4]
    code_by_human(after, 4)
    assert unknown(edition) == {"more_data": {a.pk for a, _ in after}}
    # The answers coded before keep their code; the share is of them alone.
    finals = selectors.final_codes(edition_id=edition.pk, item_code=ITEM)
    assert all("more_data" in finals[a.pk] for a, _ in before)
    result = counts(edition)
    assert result["counts"]["more_data"] == 3 and result["bases"]["more_data"] == 3 and result["n"] == 7
    # A coder re-saving an earlier answer keeps the retired code, so still saw it.
    services.answer_codes_set(answer_id=before[0][0].pk, codes=before[0][1], coder="A")
    assert before[0][0].pk not in unknown(edition)["more_data"]


def test_the_adjudicated_coding_decides_what_is_known(coded_item):
    edition, pairs = coded_item
    (answer, _) = pairs[0]
    services.answer_codes_set(answer_id=answer.pk, codes=["more_data"], coder="A")
    add_category(edition)
    services.answer_codes_set(answer_id=answer.pk, codes=["more_data", "remote_work"], coder="B")
    # Coder A was not offered remote_work: unknown, although B gave it.
    assert unknown(edition) == {"remote_work": {answer.pk}}
    services.answer_codes_adjudicate(answer_id=answer.pk, codes=["more_data"])
    # The adjudicated set was settled with remote_work on offer: a known 0.
    assert unknown(edition) == {}
    assert counts(edition)["bases"]["remote_work"] == 1 and counts(edition)["counts"]["remote_work"] == 0


def test_agreement_and_disagreements_leave_out_a_category_a_coder_was_not_offered(coded_item):
    edition, pairs = coded_item
    code_by_human(pairs, 12, coder="A")
    add_category(edition)
    for answer, codes in pairs[:12]:
        services.answer_codes_set(answer_id=answer.pk, codes=[*codes, "remote_work"], coder="B")
    agreement = selectors.coder_agreement(edition_id=edition.pk, item_code=ITEM)
    assert agreement["units"] == 12
    # A's "not offered" is no value, not a "no": no unit has two values for remote_work.
    assert agreement["categories"]["remote_work"] is None
    assert agreement["categories"]["more_data"] == 1.0
    # B agrees with A on every category A was offered: no disagreement to settle.
    assert selectors.disagreement_answer_ids(edition_id=edition.pk, item_code=ITEM) == []
    services.answer_codes_set(answer_id=pairs[0][0].pk, codes=[], coder="A")  # now offered, says no
    assert selectors.disagreement_answer_ids(edition_id=edition.pk, item_code=ITEM) == [pairs[0][0].pk]


def test_a_human_coded_answer_not_offered_a_category_is_no_training_negative_for_it(
    coded_item, django_capture_on_commit_callbacks, monkeypatch
):
    edition, pairs = coded_item
    code_by_human(pairs, 30)
    add_category(edition)
    code_by_human(pairs[30:40], 10)  # offered remote_work, none ticks it: known negatives
    taught = spy_on_training(monkeypatch)
    run = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    services.coding_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error_message
    column = taught["labels"][:, taught["codes"].index("remote_work")]
    by_text = dict(zip(taught["texts"], column, strict=True))
    assert {int(by_text[a.text]) for a, _ in pairs[:30]} == {-1}
    assert {int(by_text[a.text]) for a, _ in pairs[30:40]} == {0}
    more_data = taught["labels"][:, taught["codes"].index("more_data")]
    assert set(more_data.tolist()) == {0, 1}
    # The cross-validated figures count the 10 known answers only; the estimated share too.
    assert run.metrics["cross_validation"]["categories"]["remote_work"]["support"] == 0
    assert run.metrics["estimated_shares"]["remote_work"] is not None
    # The run covered remote_work: its automatic codes are known for it.
    assert set(run.categories.values_list("code", flat=True)) >= {"remote_work", "more_data"}
    assert unknown(edition) == {"remote_work": {a.pk for a, _ in pairs[:30]}}


def test_the_training_figures_leave_out_unknown_labels():
    labels = np.array([[1, 0], [0, -1], [1, -1], [0, 1]], dtype=np.int8)
    predicted = np.array([[1, 0], [0, 1], [1, 1], [0, 1]], dtype=bool)
    metrics = training.agreement(labels, predicted, None, ["a", "b"])
    # Category b: two known answers (one positive, predicted right); the -1 rows are not positives.
    assert metrics["categories"]["b"]["support"] == 1 and metrics["categories"]["b"]["precision"] == 1.0
    assert metrics["categories"]["b"]["share_human"] == 50.0
    assert metrics["micro_f1"] == 1.0
    assert training.max_codes_coded(labels) == 1  # [1, -1] carries one code, not two
    probabilities = np.array([[0.9, 0.6], [0.1, 0.05], [0.8, 0.05], [0.2, 0.9]])
    # b's threshold is tuned on its known answers (0.6 no, 0.9 yes), not pulled down to the -1 rows' 0.05.
    assert training.tune_thresholds(probabilities, labels)[1] > 0.6


def test_a_category_added_after_a_run_is_unknown_for_the_answers_it_coded(
    coded_item, django_capture_on_commit_callbacks
):
    edition, pairs = coded_item
    code_by_human(pairs, 40)
    run = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    services.coding_run_execute(run_id=run.pk)
    assert unknown(edition) == {}
    add_category(edition)  # refreshes the final codes of the item's answers
    automatic = {a.pk for a, _ in pairs[40:]}
    human = {a.pk for a, _ in pairs[:40]}
    assert unknown(edition) == {"remote_work": automatic | human}
    progress = selectors.coding_progress(edition_id=edition.pk, item_code=ITEM)
    assert (progress["incomplete"], progress["incomplete_automatic"]) == (40, 40)
    # A "human coding only" category is counted among the human-coded answers, as before: it is not
    # listed unknown for the automatic ones, and its base is the human-coded respondents.
    technology = Category.objects.get(codebook__edition=edition, codebook__item_code=ITEM, code="technology")
    technology.human_only = True
    technology.save(update_fields=["human_only"])
    final_codes_refresh(item_id=Item.objects.get(edition=edition, code=ITEM).pk)
    result = counts(edition)
    assert "technology" not in unknown(edition)
    assert result["bases"]["technology"] == result["n_human"] == 40 and result["n"] == 80
    assert result["bases"]["remote_work"] == 0
    assert not FinalCode.objects.filter(category=technology, source="auto").exists()


def test_codings_are_offered_the_active_categories_and_the_retired_ones_they_keep(coded_item):
    edition, pairs = coded_item
    answer = pairs[0][0]
    services.answer_codes_set(answer_id=answer.pk, codes=["more_data"], coder="A")
    more_data = Category.objects.get(codebook__edition=edition, codebook__item_code=ITEM, code="more_data")
    services.category_remove(category=more_data)
    services.answer_codes_set(answer_id=answer.pk, codes=["more_data", "technology"], coder="A")
    coding = HumanCoding.objects.get(answer=answer, coder="A")
    active = set(
        Category.objects.filter(codebook=more_data.codebook, retired=False).values_list("code", flat=True)
    )
    assert set(coding.categories_seen.values_list("code", flat=True)) == active | {"more_data"}
    # The screen shows a retired code the coder gave ticked: unticking it is a "no", not "not offered".
    services.answer_codes_set(answer_id=answer.pk, codes=["technology"], coder="A")
    assert set(coding.categories_seen.values_list("code", flat=True)) == active | {"more_data"}
    services.answer_codes_set(answer_id=answer.pk, codes=["technology"], coder="A")
    assert set(coding.categories_seen.values_list("code", flat=True)) == active


def test_unticking_a_retired_code_is_a_no_not_unknown(coded_item):
    """A coder re-saving an answer is shown the retired codes they gave, ticked (coding/views.py), and the
    adjudicated set is offered the retired codes any coder gave: leaving one out says the category does
    not apply. Were it unknown, only the answers that kept the code would stay in its base, and its share
    would rise with every removal."""
    edition, pairs = coded_item
    given = [a for a, _ in pairs[:12]]
    for answer in given:
        services.answer_codes_set(answer_id=answer.pk, codes=["more_data"], coder="A")
    services.answer_codes_set(answer_id=given[5].pk, codes=["more_data"], coder="B")
    more_data = Category.objects.get(codebook__edition=edition, codebook__item_code=ITEM, code="more_data")
    assert services.category_remove(category=more_data) == "retired"
    for answer in given[:4]:  # the coder changes their mind: it does not apply
        services.answer_codes_set(answer_id=answer.pk, codes=[], coder="A")
    assert "more_data" not in unknown(edition)
    result = counts(edition)
    assert result["counts"]["more_data"] == 8 and result["bases"]["more_data"] == 12
    # Two coders gave it; the adjudicated set, offered it, leaves it out: a known "no" too.
    services.answer_codes_adjudicate(answer_id=given[5].pk, codes=[])
    assert "more_data" not in unknown(edition)
    assert counts(edition)["counts"]["more_data"] == 7 and counts(edition)["bases"]["more_data"] == 12


def test_the_migration_gives_earlier_codings_and_runs_every_category_of_their_codebook(
    coded_item, django_capture_on_commit_callbacks
):
    edition, pairs = coded_item
    code_by_human(pairs, 12)
    services.answer_codes_set(answer_id=pairs[0][0].pk, codes=[], coder=ADJUDICATED)
    run = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    services.coding_run_execute(run_id=run.pk)
    add_category(edition)
    # As before the migration: nothing recorded.
    CategorySeen.objects.all().delete()
    CodingRun.categories.through.objects.all().delete()
    migration = importlib.import_module("coding.migrations.0005_categories_seen")
    migration.backfill_every_category(None, SimpleNamespace(connection=connection))
    every = set(Category.objects.filter(codebook__edition=edition, codebook__item_code=ITEM))
    for coding in HumanCoding.objects.all():
        assert set(coding.categories_seen.all()) == every
    assert set(CodingRun.objects.get(pk=run.pk).categories.all()) == every
    final_codes_refresh(item_id=Item.objects.get(edition=edition, code=ITEM).pk)
    assert unknown(edition) == {}  # everything reads as it did before the change


def test_the_screen_lists_and_counts_the_answers_coded_before_a_category_was_added(coded_item):
    """The "incomplete" filter: this coder's answers coded without a category now active; saving one
    again (the category on offer) completes it. The progress counts every such human-coded answer."""
    edition, pairs = coded_item
    code_by_human(pairs, 3)  # coder "A"
    services.answer_codes_set(answer_id=pairs[0][0].pk, codes=[], coder="B")

    def listed(coder):
        answers = selectors.item_answers(
            edition_id=edition.pk, item_code=ITEM, coder=coder, filter="incomplete"
        )
        return {a.pk for a in answers}

    def incomplete():
        return selectors.coding_progress(edition_id=edition.pk, item_code=ITEM)["incomplete"]

    assert listed("A") == set() and incomplete() == 0
    category = add_category(edition)
    assert listed("A") == {a.pk for a, _ in pairs[:3]} and listed("B") == {pairs[0][0].pk}
    assert incomplete() == 3
    services.answer_codes_set(answer_id=pairs[1][0].pk, codes=[*pairs[1][1], category.code], coder="A")
    assert listed("A") == {pairs[0][0].pk, pairs[2][0].pk} and incomplete() == 2
    # Retired (it has a code), the category is no longer one to complete, though still unknown for them.
    assert services.category_remove(category=category) == "retired"
    assert listed("A") == set() and incomplete() == 0
    assert unknown(edition)[category.code] == {pairs[0][0].pk, pairs[2][0].pk}


def test_adding_a_category_writes_what_a_whole_refresh_would(coded_item, django_capture_on_commit_callbacks):
    """category_create writes the new category's unknown rows in one insert (a whole refresh held the
    item's lock for seconds on a large item): the same rows as the rule gives, for human, adjudicated and
    automatic final codes."""
    from coding.models import FinalUnknown

    edition, pairs = coded_item
    code_by_human(pairs, 30)
    services.answer_codes_set(answer_id=pairs[0][0].pk, codes=[], coder="B")
    services.answer_codes_adjudicate(answer_id=pairs[0][0].pk, codes=pairs[0][1])
    run = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    services.coding_run_execute(run_id=run.pk)

    def rows():
        return set(
            FinalUnknown.objects.values_list("answer_id", "category_id", "response_id", "source", "item_id")
        )

    category = add_category(edition)
    added = rows()
    assert len(added) == 80 and {r[1] for r in added} == {category.pk}
    assert {r[3] for r in added} == {"human", "auto"}
    final_codes_refresh(item_id=Item.objects.get(edition=edition, code=ITEM).pk)
    assert rows() == added


def test_one_coder_s_no_settles_a_category_another_coder_was_not_offered(coded_item):
    """Final codes are the categories every coder gave: a coder offered a category who did not give it
    settles it as absent, whatever a coder who was not offered it would have said."""
    edition, pairs = coded_item
    (said_no, _), (said_yes, _) = pairs[0], pairs[1]
    for answer, _ in (pairs[0], pairs[1]):
        services.answer_codes_set(answer_id=answer.pk, codes=["more_data"], coder="A")
    add_category(edition)
    services.answer_codes_set(answer_id=said_no.pk, codes=["more_data"], coder="B")
    services.answer_codes_set(answer_id=said_yes.pk, codes=["more_data", "remote_work"], coder="B")
    # B's "no" is known; B's "yes" is not enough (A, not offered it, might have said no).
    assert unknown(edition) == {"remote_work": {said_yes.pk}}
    finals = selectors.final_codes(edition_id=edition.pk, item_code=ITEM)
    assert finals[said_no.pk] == finals[said_yes.pk] == {"more_data"}
