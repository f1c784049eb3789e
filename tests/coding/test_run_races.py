"""A coding run's write step meets an analyst removing a category it coded, or a person saving an answer it
writes codes for. Each test fixes the interleaving with events (the hooks only pause; what runs is the
product's code) on real PostgreSQL connections: the run never fails and leaves no wrong row."""

import threading

import pytest
from django.db import connection, transaction

from coding import services, training
from coding.models import (
    AnswerCode,
    AutoFill,
    Category,
    CodeSource,
    CodingRun,
    FinalCode,
    FinalFilled,
    FinalUnknown,
    RunStatus,
)
from tests.coding.conftest import code_by_human
from tests.coding.test_coding_run import ITEM
from tests.coding.test_concurrency import wait_until_a_query_waits_for_a_lock
from tests.coding.test_gap_fill import GAP, code_with_a_gap
from tests.conftest import login_with_mfa

pytestmark = pytest.mark.django_db(transaction=True)


def queue_run(edition, monkeypatch) -> CodingRun:
    # The test executes the run itself; nothing is sent to a broker.
    monkeypatch.setattr(services, "enqueue_on_commit", lambda *args: None)
    return services.coding_run_start(edition=edition, item_code=ITEM, classifier="tfidf-lr")


def in_thread(name: str, call, outcomes: dict) -> threading.Thread:
    """Start `call` on its own connection; its result (or the error's repr) lands in outcomes[name]."""

    def run() -> None:
        try:
            outcomes[name] = call()
        except Exception as exc:
            outcomes[name] = repr(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


def after_training(monkeypatch, action) -> None:
    """Call `action` once the run has trained (its compute phase: no transaction open), before it writes."""
    real = training.train_with_cross_validation

    def train_then_act(*args, **kwargs):
        result = real(*args, **kwargs)
        action()
        return result

    monkeypatch.setattr(training, "train_with_cross_validation", train_then_act)


def analyst_removes(category, outcomes: dict):
    """The analyst's confirmed remove, on its own connection; it must not wait for the run."""

    def act() -> None:
        analyst = in_thread(
            "removed", lambda: services.category_remove(category=category, delete_confirmed=True), outcomes
        )
        analyst.join(30)
        assert not analyst.is_alive(), "the analyst's remove waited for the run"

    return act


def run_paused_in_its_write(run, monkeypatch, outcomes: dict) -> tuple[threading.Thread, threading.Event]:
    """Execute `run` on its own connection and return once it pauses at the end of its write, its
    transaction open; setting the returned event lets it commit."""
    writing, go_on = threading.Event(), threading.Event()

    def pause_at_the_end_of_the_write(point: str) -> None:
        if point == "coding.writing":
            writing.set()
            go_on.wait(30)

    monkeypatch.setattr(services, "fault_pause", pause_at_the_end_of_the_write)
    runner = in_thread("run", lambda: services.coding_run_execute(run_id=run.pk), outcomes)
    assert writing.wait(120)
    return runner, go_on


def finished(run) -> CodingRun:
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, f"{run.status}: {run.error_type} {run.error_message}"
    return run


def test_a_category_deleted_while_a_run_trains_is_left_out_of_what_it_writes(
    coded_item, monkeypatch, client, analyst_ann
):
    """The analyst deletes an unused category while the run trains: the run used to fail at commit on the
    foreign key (its codes and its covered categories named the category) and had to be started again."""
    edition, pairs = coded_item
    code_by_human(pairs, 40)
    codebook = edition.codebooks.get(item_code=ITEM)
    extra = services.category_create(codebook=codebook, code="new_reason", label="A new reason")
    run = queue_run(edition, monkeypatch)
    outcomes: dict = {}
    after_training(monkeypatch, analyst_removes(extra, outcomes))

    services.coding_run_execute(run_id=run.pk)

    run = finished(run)
    assert outcomes == {"removed": "deleted"} and not Category.objects.filter(pk=extra.pk).exists()
    assert run.metrics["categories_dropped"] == {"new_reason": "deleted"}
    active = set(codebook.categories.filter(retired=False).values_list("code", flat=True))
    assert set(run.categories.values_list("code", flat=True)) == active
    written = AnswerCode.objects.filter(run=run, source=CodeSource.AUTO)
    assert written.filter(accepted=True).count() == run.metrics["codes_written"] > 0
    assert FinalCode.objects.filter(source="auto").count() > 0
    # The coding screen says so, beside the run and in its per-category report.
    page = login_with_mfa(client, analyst_ann).get(f"/staff/coding/editions/{edition.pk}/items/{ITEM}/")
    assert "no codes written for <code>new_reason</code> (deleted while it ran)" in page.content.decode()
    report = {row["code"]: row for row in page.context["model_report"]["categories"]}
    assert report["new_reason"]["dropped"] == "deleted" and report["technology"]["dropped"] is None


def test_a_category_retired_while_a_run_trains_gets_no_automatic_codes(coded_item, monkeypatch):
    """Retired means no new codes (a person cannot give it anew, and a run started now would not code it):
    a run that read the codebook before the retirement writes none either; people's codes of it stay, and
    the answers the run coded are unknown for it, as after any run that did not cover a category."""
    edition, pairs = coded_item
    code_by_human(pairs, 40)
    used = Category.objects.get(codebook__edition=edition, codebook__item_code=ITEM, code="technology")
    human = AnswerCode.objects.filter(category=used, source=CodeSource.HUMAN).count()
    run = queue_run(edition, monkeypatch)
    outcomes: dict = {}
    after_training(monkeypatch, analyst_removes(used, outcomes))

    services.coding_run_execute(run_id=run.pk)

    run = finished(run)
    assert outcomes == {"removed": "retired"}
    assert run.metrics["categories_dropped"] == {"technology": "retired"}
    assert "technology" not in set(run.categories.values_list("code", flat=True))
    assert not AnswerCode.objects.filter(category=used).exclude(source=CodeSource.HUMAN).exists()
    assert AnswerCode.objects.filter(category=used, source=CodeSource.HUMAN).count() == human > 0
    assert FinalUnknown.objects.filter(category=used, source="auto").count() == run.metrics["coded"] == 40


@pytest.mark.parametrize("kind", ["zero_shot", "trained"])
def test_a_delete_that_meets_the_run_s_write_waits_for_it_then_counts_what_it_wrote(
    coded_item, monkeypatch, kind
):
    """The delete comes while the run writes: it waits for the write (not for the run), then counts the
    run's codes of the category (suggestions go with it). Before, a zero-shot run's write held nothing:
    the category was deleted under it and its commit failed on the foreign key."""
    edition, pairs = coded_item
    if kind == "trained":
        code_by_human(pairs, 40)
    codebook = edition.codebooks.get(item_code=ITEM)
    extra = services.category_create(codebook=codebook, code="new_reason", label="A new reason")
    monkeypatch.setattr(services, "enqueue_on_commit", lambda *args: None)
    run = services.coding_run_start(
        edition=edition, item_code=ITEM, classifier="tfidf-lr" if kind == "trained" else None
    )
    assert run.kind == kind
    outcomes: dict = {}
    runner, go_on = run_paused_in_its_write(run, monkeypatch, outcomes)
    analyst = in_thread(
        "removed", lambda: services.category_remove(category=extra, delete_confirmed=True), outcomes
    )
    try:
        wait_until_a_query_waits_for_a_lock()
    finally:
        go_on.set()
        runner.join(60)
        analyst.join(60)

    run = finished(run)
    coded = AnswerCode.objects.filter(category_id=extra.pk, source=CodeSource.AUTO).exists()
    assert outcomes == {"run": True, "removed": "retired" if coded else "deleted"}
    assert "categories_dropped" not in run.metrics
    if kind == "zero_shot":  # suggestions never make a category used
        assert not Category.objects.filter(pk=extra.pk).exists()
        assert AnswerCode.objects.filter(run=run, source=CodeSource.SUGGESTION).exists()


def test_a_person_deciding_a_gap_while_the_run_writes_leaves_no_model_decision_of_it(coded_item, monkeypatch):
    """The run has decided a gap (a category the answer's coder was not offered) and is writing; the coder
    saves the answer again with the category on offer. The run's decision of that gap (AutoFill) must not
    outlive the save, and the final codes are the coder's. Interleaved, the save deleted before the run
    committed and refreshed after: the two deadlocked (one side aborted) or a stale decision stayed."""
    edition, pairs = coded_item
    code_with_a_gap(edition, pairs)
    answer, corpus = pairs[1]
    run = queue_run(edition, monkeypatch)
    outcomes: dict = {}
    runner, go_on = run_paused_in_its_write(run, monkeypatch, outcomes)
    assert AutoFill.objects.filter(answer=answer, category__code=GAP).count() == 0  # not committed yet

    def save() -> str:
        services.answer_codes_set(answer_id=answer.pk, codes=corpus, coder="A")
        return "saved"

    person = in_thread("person", save, outcomes)
    try:
        wait_until_a_query_waits_for_a_lock()
    finally:
        go_on.set()
        runner.join(60)
        person.join(60)

    assert outcomes == {"run": True, "person": "saved"}
    finished(run)
    assert_the_person_decided_the_gap(answer, corpus)


def test_a_save_that_started_before_the_run_s_write_is_seen_by_it(coded_item, monkeypatch):
    """The other order: the save has deleted the answer's model decisions and not yet refreshed when the
    run writes. The run waits for the save, then finds the gap decided and keeps no decision of it."""
    edition, pairs = coded_item
    code_with_a_gap(edition, pairs)
    answer, corpus = pairs[1]
    run = queue_run(edition, monkeypatch)
    saving, go_on = threading.Event(), threading.Event()
    refresh = services.final_codes_refresh

    def pause_the_person_before_the_refresh(**kwargs) -> None:
        if threading.current_thread().name == "person":
            saving.set()
            go_on.wait(30)
        refresh(**kwargs)

    monkeypatch.setattr(services, "final_codes_refresh", pause_the_person_before_the_refresh)

    def save() -> str:
        services.answer_codes_set(answer_id=answer.pk, codes=corpus, coder="A")
        return "saved"

    outcomes: dict = {}
    person = in_thread("person", save, outcomes)
    assert saving.wait(30)
    runner = in_thread("run", lambda: services.coding_run_execute(run_id=run.pk), outcomes)
    try:
        wait_until_a_query_waits_for_a_lock(timeout=120)  # the run, once trained, waits for the save
    finally:
        go_on.set()
        person.join(60)
        runner.join(120)

    assert outcomes == {"run": True, "person": "saved"}
    finished(run)
    assert_the_person_decided_the_gap(answer, corpus)


def assert_the_person_decided_the_gap(answer, corpus) -> None:
    assert not AutoFill.objects.filter(answer=answer).exists()
    assert not FinalFilled.objects.filter(answer=answer).exists()
    assert set(FinalCode.objects.filter(answer=answer).values_list("category__code", flat=True)) == set(
        corpus
    )
    # The other gaps the run decided are kept.
    assert AutoFill.objects.filter(category__code=GAP).count() == FinalFilled.objects.count() == 19


def test_an_import_that_reorders_the_categories_does_not_deadlock_with_a_save_or_a_run(open_2017):
    """A save (and a run's write) takes key-share locks on the categories in id order. An import that
    lists them in another order used to lock them one by one in its list's order: holding the second
    while waiting for the first, it deadlocked with a save holding the first and asking for the second,
    and PostgreSQL aborted one of them. Now the import locks every category in id order first."""
    services.codebooks_import_reference(edition=open_2017)
    first, second = Category.objects.filter(codebook__item_code=ITEM).order_by("pk")[:2]
    listed = [{"code": c.code, "label": c.label, "description": c.description} for c in (second, first)]
    holder_has_first, holder_asks_second = threading.Event(), threading.Event()
    outcomes: dict = {}

    def hold_first_then_ask_for_second() -> str:
        with transaction.atomic():
            assert services._lock_categories([first]) == {first.code}
            holder_has_first.set()
            holder_asks_second.wait(10)
            services._lock_categories([second])
        return "locked both"

    holder = in_thread("holder", hold_first_then_ask_for_second, outcomes)
    assert holder_has_first.wait(10)
    importer = in_thread(
        "import",
        lambda: services.codebook_import(edition=open_2017, item_code=ITEM, categories=listed),
        outcomes,
    )
    wait_until_a_query_waits_for_a_lock()  # the import waits for the first category
    holder_asks_second.set()
    holder.join(30)
    importer.join(30)
    assert outcomes["holder"] == "locked both"
    assert not isinstance(outcomes["import"], str), outcomes["import"]  # no "deadlock detected"
    assert list(
        Category.objects.filter(codebook__item_code=ITEM).order_by("position").values_list("code", flat=True)
    ) == [second.code, first.code]
