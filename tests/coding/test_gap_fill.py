"""A trained run decides the gaps of human-coded answers (categories their coders were not offered) in the
categories it may code: filled, the gap's automatic code is a final code beside the human ones and the
figures are "mixed" (coding/finals.py); a person coding the answer again with the category on offer
decides it instead. A gap is never a human label, and never filled in a "human coding only" category."""

import uuid
from types import SimpleNamespace

import numpy as np

from coding import selectors, services
from coding.finals import final_codes_refresh
from coding.models import AnswerCode, AutoFill, Category, CodeSource, FinalCode, FinalFilled
from surveys.models import Item
from surveys.presentation import build_pages
from surveys.selectors import edition_definition
from tests.coding.conftest import code_by_human, spy_on_training
from tests.coding.test_coding_run import ITEM, start
from tests.conftest import login_with_mfa

GAP = "internet_use"  # cross-validated alpha well above 0.667 on this corpus with 50 known answers


def code_with_a_gap(edition, pairs):
    """Every answer coded by people: 1-20 while GAP is retired (a gap each), the others with it on offer."""
    category = Category.objects.get(codebook__edition=edition, codebook__item_code=ITEM, code=GAP)
    code_by_human(pairs, 1)
    services.answer_codes_set(answer_id=pairs[0][0].pk, codes=[*pairs[0][1], GAP], coder="A")
    assert services.category_remove(category=category) == "retired"
    code_by_human([(a, [c for c in codes if c != GAP]) for a, codes in pairs[1:21]], 20)
    services.category_restore(category=category)
    code_by_human(pairs[21:], len(pairs) - 21)
    return {a.pk for a, _ in pairs[1:21]}


def run_trained(edition, django_capture_on_commit_callbacks):
    run = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    services.coding_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error_message
    return run


def counts(edition):
    return selectors.item_category_counts(edition_id=edition.pk, item_code=ITEM)


def gap_codes(answer_ids):
    """answer id → the source of its final GAP code, for those that have one."""
    rows = FinalCode.objects.filter(answer_id__in=answer_ids, category__code=GAP)
    return dict(rows.values_list("answer_id", "source"))


def test_a_trained_run_fills_the_gaps_of_human_coded_answers(coded_item, django_capture_on_commit_callbacks):
    edition, pairs = coded_item
    gapped = code_with_a_gap(edition, pairs)
    before = counts(edition)
    assert before["unknown"] == {GAP: 20} and before["bases"][GAP] == 60 and before["method"] == "human"
    human_before = selectors.human_final_codes(edition_id=edition.pk, item_code=ITEM)

    run = run_trained(edition, django_capture_on_commit_callbacks)
    assert GAP not in run.metrics["human_only"]
    assert run.metrics["gaps_filled"] == 20
    filled = set(FinalFilled.objects.filter(category__code=GAP).values_list("answer_id", flat=True))
    assert filled == gapped
    # The gap's final code is the run's accepted automatic code, with source "auto"; the human codes stand.
    accepted = set(
        AnswerCode.objects.filter(
            answer_id__in=gapped, category__code=GAP, source=CodeSource.AUTO, accepted=True
        ).values_list("answer_id", flat=True)
    )
    assert run.metrics["gap_codes"] == len(accepted) > 0
    assert gap_codes(gapped) == dict.fromkeys(accepted, "auto")
    assert selectors.human_final_codes(edition_id=edition.pk, item_code=ITEM) == human_before
    # The figures: no answer unknown for the category any more, so its base is every coded respondent.
    after = counts(edition)
    assert after["unknown"] == {} and after["bases"][GAP] == after["n"] == after["n_human"] == 80
    # Every answer is human-coded, yet the figures are mixed: 20 answers' GAP is the model's.
    assert after["method"] == "mixed" and after["filled"] == 20
    assert after["counts"][GAP] == before["counts"][GAP] + len(accepted)
    # Only the gaps were decided: no automatic code on the categories people decided for those answers.
    assert not AnswerCode.objects.filter(answer_id__in=gapped, source=CodeSource.AUTO).exclude(
        category__code=GAP
    )
    # The API lists the filled code as automatic, with its probability.
    listed = selectors.answers_final_codes(sorted(accepted))
    assert all(
        any(c["code"] == GAP and c["source"] == "auto" and c["probability"] for c in codes)
        for codes in listed.values()
    )


def test_a_filled_gap_stays_out_of_training(coded_item, django_capture_on_commit_callbacks, monkeypatch):
    edition, pairs = coded_item
    gapped = code_with_a_gap(edition, pairs)
    run_trained(edition, django_capture_on_commit_callbacks)
    taught = spy_on_training(monkeypatch)
    second = run_trained(edition, django_capture_on_commit_callbacks)
    column = dict(zip(taught["texts"], taught["labels"][:, taught["codes"].index(GAP)], strict=True))
    assert {int(column[a.text]) for a, _ in pairs[1:21]} == {-1}  # the run's own output is never a label
    # The second run decides the same gaps again.
    assert second.metrics["gaps_filled"] == 20
    assert set(FinalFilled.objects.values_list("answer_id", flat=True)) == gapped


def test_a_person_coding_the_answer_again_decides_the_gap(coded_item, django_capture_on_commit_callbacks):
    edition, pairs = coded_item
    code_with_a_gap(edition, pairs)
    run_trained(edition, django_capture_on_commit_callbacks)
    answer, corpus = next((a, c) for a, c in pairs[1:21] if gap_codes([a.pk]))  # coded present by the run
    services.answer_codes_set(answer_id=answer.pk, codes=[c for c in corpus if c != GAP], coder="A")
    assert gap_codes([answer.pk]) == {}  # offered now, and not ticked: a human "no"
    assert not FinalFilled.objects.filter(answer=answer).exists()
    services.answer_codes_set(answer_id=answer.pk, codes=[*corpus, GAP], coder="A")
    assert gap_codes([answer.pk]) == {answer.pk: "human"}
    assert counts(edition)["filled"] == 19


def test_a_human_coding_only_category_is_not_filled(coded_item, django_capture_on_commit_callbacks):
    edition, pairs = coded_item
    gapped = code_with_a_gap(edition, pairs)
    run_trained(edition, django_capture_on_commit_callbacks)
    Category.objects.filter(codebook__edition=edition, codebook__item_code=ITEM, code=GAP).update(
        human_only=True
    )
    final_codes_refresh(item_id=Item.objects.get(edition=edition, code=ITEM).pk)
    assert not FinalFilled.objects.exists()
    assert selectors.final_unknown(edition_id=edition.pk, item_code=ITEM) == {GAP: gapped}
    assert not FinalCode.objects.filter(source="auto", category__code=GAP).exists()
    assert counts(edition)["method"] == "human"


def test_a_zero_shot_run_fills_nothing(coded_item, django_capture_on_commit_callbacks):
    edition, pairs = coded_item
    gapped = code_with_a_gap(edition, pairs)
    run_trained(edition, django_capture_on_commit_callbacks)
    # A zero-shot run replaces the trained run's output, its fills included.
    zero_shot = start(edition, django_capture_on_commit_callbacks, classifier="label-match")
    services.coding_run_execute(run_id=zero_shot.pk)
    zero_shot.refresh_from_db()
    assert zero_shot.status == "succeeded", zero_shot.error_message
    assert zero_shot.metrics["gaps_filled"] == 0
    assert not FinalFilled.objects.exists()
    assert selectors.final_unknown(edition_id=edition.pk, item_code=ITEM) == {GAP: gapped}


def test_the_screens_say_which_figures_a_model_completed(
    client, analyst_ann, coded_item, django_capture_on_commit_callbacks
):
    edition, pairs = coded_item
    code_with_a_gap(edition, pairs)
    client = login_with_mfa(client, analyst_ann)
    screen = client.get(f"/staff/coding/editions/{edition.pk}/items/{ITEM}/").content.decode()
    assert "20 human-coded answers coded before a category was added" in screen
    run_trained(edition, django_capture_on_commit_callbacks)
    screen = client.get(f"/staff/coding/editions/{edition.pk}/items/{ITEM}/").content.decode()
    assert "coded before a category was added" not in screen
    assert "For 20 human-coded answers, the trained model decided a category the coders were not" in screen
    number = next(
        n for n, page in enumerate(build_pages(edition_definition(edition)), 1) if ITEM in page.item_codes
    )
    page = client.get(f"/staff/results/{edition.pk}/?page={number}").content.decode()
    assert "Coded free text (mixed codes: for some human-coded respondents, a trained model decided" in page


def test_a_person_s_decision_retires_the_model_s_for_good(coded_item, django_capture_on_commit_callbacks):
    """Coded "no" by a person, then the category retired and the answer adjudicated without it on offer:
    a gap again, and the run's old decision must not stand in for the person's."""
    edition, pairs = coded_item
    gapped = code_with_a_gap(edition, pairs)
    run_trained(edition, django_capture_on_commit_callbacks)
    answer, corpus = next((a, c) for a, c in pairs[1:21] if gap_codes([a.pk]))
    assert AutoFill.objects.filter(answer=answer, category__code=GAP).exists()
    services.answer_codes_set(answer_id=answer.pk, codes=[c for c in corpus if c != GAP], coder="A")
    assert not AutoFill.objects.filter(answer=answer).exists()
    assert AutoFill.objects.filter(answer_id__in=gapped - {answer.pk}).count() == 19
    services.answer_codes_set(answer_id=answer.pk, codes=[c for c in corpus if c != GAP], coder="B")
    category = Category.objects.get(codebook__edition=edition, codebook__item_code=ITEM, code=GAP)
    services.category_remove(category=category)
    services.answer_codes_adjudicate(answer_id=answer.pk, codes=[c for c in corpus if c != GAP])
    assert gap_codes([answer.pk]) == {}
    assert answer.pk in selectors.final_unknown(edition_id=edition.pk, item_code=ITEM)[GAP]


def test_the_cap_on_codes_per_answer_counts_the_model_s_codes_only():
    """An answer people gave the most codes any answer carries (the cap) can still get a gap code; two
    gap codes over a cap of one keep the more probable."""
    first, second = uuid.uuid4(), uuid.uuid4()
    codes = ["a", "b", "c", "d"]
    probabilities = np.array([[0.9, 0.9, 0.8, 0.1], [0.9, 0.1, 0.7, 0.9]])
    result = SimpleNamespace(
        probabilities=lambda texts: probabilities[: len(texts)],
        thresholds=np.full(4, 0.5),
        relative_cut=0.5,
        max_codes=1,
    )
    human = {first: {"a", "b"}, second: {"a"}}
    gaps = {"c": {first, second}, "d": {second}}
    fill = services._gap_fill(result, [(first, "x"), (second, "y")], human, gaps, codes, flagged=set())
    decided = {(aid, codes[k]): given for (aid, k), _, given in fill}
    # first: people gave two codes (over the cap of one), and its gap c (0.8) passes the threshold and
    # the relative cut (0.8 >= 0.5 x 1.0): given. second: gaps c (0.7) and d (0.9), the cap keeps d.
    assert decided == {(first, "c"): True, (second, "c"): False, (second, "d"): True}
    flagged = services._gap_fill(result, [(first, "x"), (second, "y")], human, gaps, codes, flagged={"d"})
    assert {(aid, codes[k]) for (aid, k), _, _ in flagged} == {(first, "c"), (second, "c")}
    # A "human coding only" gap takes no place under the cap: with d flagged, second's c (0.7) is given.
    assert {(aid, codes[k]): given for (aid, k), _, given in flagged} == {
        (first, "c"): True,
        (second, "c"): True,
    }


def test_a_gap_a_person_decides_while_the_run_works_keeps_no_model_decision(
    coded_item, django_capture_on_commit_callbacks, monkeypatch
):
    edition, pairs = coded_item
    gapped = code_with_a_gap(edition, pairs)
    answer, corpus = pairs[1]
    real = services._gap_fill

    def person_saves_meanwhile(*args, **kwargs):
        fill = real(*args, **kwargs)  # the run has read the gaps and decided them
        services.answer_codes_set(answer_id=answer.pk, codes=corpus, coder="A")  # GAP on offer now
        return fill

    monkeypatch.setattr(services, "_gap_fill", person_saves_meanwhile)
    run_trained(edition, django_capture_on_commit_callbacks)
    assert set(AutoFill.objects.values_list("answer_id", flat=True)) == gapped - {answer.pk}
    assert set(FinalFilled.objects.values_list("answer_id", flat=True)) == gapped - {answer.pk}


def test_the_screen_counts_the_filled_answers_the_figures_call_mixed_after_a_retirement(
    client, analyst_ann, coded_item
):
    """Gaps a run decided, then the category retired: the figures (results, and the screen's own shares)
    still hold those decisions and say "mixed", but the screen's count left retired categories out and
    said nothing of why. Both now count the same respondents (selectors.filled_count)."""
    from tests.coding.conftest import fill_gaps

    edition, pairs = coded_item
    code_with_a_gap(edition, pairs)  # 20 gaps
    category = Category.objects.get(codebook__edition=edition, codebook__item_code=ITEM, code=GAP)
    fill_gaps(edition, ITEM, category, {a: n < 6 for n, (a, _) in enumerate(pairs[1:21])})
    assert services.category_remove(category=category) == "retired"

    figures = counts(edition)
    assert figures["method"] == "mixed" and figures["filled"] == 20
    assert figures["counts"][GAP] > 0  # the retired category's figure is shown, with the run's codes in it
    assert selectors.coding_progress(edition_id=edition.pk, item_code=ITEM)["filled"] == 20
    body = login_with_mfa(client, analyst_ann).get(f"/staff/coding/editions/{edition.pk}/items/{ITEM}/")
    text = body.content.decode()
    assert "For 20 human-coded answers, the trained model decided" in text
    assert "Method: <strong>mixed</strong>" in text


def test_a_gap_code_needs_the_relative_cut_itself_where_people_gave_a_code():
    """People's codes count as probability 1 in the relative cut, not the model's probability of them (kept
    by measurement: docs/performance.md, "Gap fills: which relative cut"). An answer people gave no code
    weighs its gap against its gaps alone."""
    coded, uncoded = uuid.uuid4(), uuid.uuid4()
    codes = ["a", "b"]
    probabilities = np.array([[0.6, 0.4], [0.1, 0.4]])
    result = SimpleNamespace(
        probabilities=lambda texts: probabilities[: len(texts)],
        thresholds=np.full(2, 0.3),
        relative_cut=0.5,
        max_codes=2,
    )
    human = {coded: {"a"}, uncoded: set()}
    fill = services._gap_fill(
        result, [(coded, "x"), (uncoded, "y")], human, {"b": {coded, uncoded}}, codes, flagged=set()
    )
    # coded: 0.4 < 0.5 x 1 (against the model's 0.6 for a it would pass: 0.4 >= 0.3).
    # uncoded: 0.4 >= 0.5 x 0.4.
    assert {(aid, codes[k]): given for (aid, k), _, given in fill} == {
        (coded, "b"): False,
        (uncoded, "b"): True,
    }
