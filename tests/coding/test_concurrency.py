"""Coding writes that meet: the same answer saved twice at once, a run finishing while people code."""

import threading
import time

import pytest
from django.db import connection, transaction

from coding import services
from coding.models import AnswerCode
from tests.coding.conftest import add_answers
from tests.conftest import import_reference

ITEM = "workload_reasons"


def wait_until_a_query_waits_for_a_lock(timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("no query waited for a lock")


def run_second_while_first_holds_its_locks(first, second) -> dict[str, str]:
    """Run `first()` in a transaction held open until `second()` (in another thread) waits for a lock,
    then commit it; each outcome is what the call returned, or the error it raised (as text)."""
    first_done, commit_first = threading.Event(), threading.Event()
    outcomes: dict[str, str] = {}

    def run(name, call, hold) -> None:
        try:
            if hold:
                with transaction.atomic():
                    result = call()
                    first_done.set()
                    commit_first.wait(10)
            else:
                first_done.wait(10)
                result = call()
            outcomes[name] = result
        except Exception as exc:
            outcomes[name] = str(exc) if isinstance(exc, services.CodebookInvalid) else repr(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=("first", first, True)),
        threading.Thread(target=run, args=("second", second, False)),
    ]
    for thread in threads:
        thread.start()
    first_done.wait(10)
    try:
        wait_until_a_query_waits_for_a_lock()
    finally:
        commit_first.set()
        for thread in threads:
            thread.join(30)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_the_same_coder_saving_an_answer_twice_at_once_keeps_one_set(series):
    """A double click on Save (or two tabs, or a retried PUT): the second save waits for the first and
    replaces its codes; interleaved, it used to delete nothing and hit the unique constraint (a 500)."""
    edition = import_reference(series, "2017")
    services.codebooks_import_reference(edition=edition)
    (answer,) = add_answers(edition, ITEM, ["More data every year"])
    services.answer_codes_set(answer_id=answer.pk, codes=["technology"], coder="A")

    def save(codes: list[str]):
        def call() -> str:
            services.answer_codes_set(answer_id=answer.pk, codes=codes, coder="A")
            return "saved"

        return call

    outcomes = run_second_while_first_holds_its_locks(save(["more_data"]), save(["more_data", "more_cases"]))
    assert outcomes == {"first": "saved", "second": "saved"}
    assert sorted(
        AnswerCode.objects.filter(answer=answer, coder="A").values_list("category__code", flat=True)
    ) == ["more_cases", "more_data"]


def test_an_answer_coded_while_a_run_works_stays_out_of_the_review_queue(
    coded_item, django_capture_on_commit_callbacks, monkeypatch
):
    """Saving codes takes an answer out of the review queue; a run that read the answers before that
    (training takes a while) put it back when it finished, and the queue counted it."""
    import coding.training
    from coding import selectors
    from tests.coding.conftest import code_by_human

    edition, pairs = coded_item
    code_by_human(pairs, 40)
    target = pairs[70][0]
    train = coding.training.train_with_cross_validation

    def train_while_someone_codes(*args, **kwargs):
        result = train(*args, **kwargs)
        services.answer_codes_set(answer_id=target.pk, codes=["technology"], coder="B")
        return result

    monkeypatch.setattr(coding.training, "train_with_cross_validation", train_while_someone_codes)
    with django_capture_on_commit_callbacks(execute=False):
        run = services.coding_run_start(edition=edition, item_code=ITEM, classifier="tfidf-lr")
    services.coding_run_execute(run_id=run.pk)

    assert selectors.final_codes(edition_id=edition.pk, item_code=ITEM)[target.pk] == {"technology"}
    queue = selectors.item_answers(edition_id=edition.pk, item_code=ITEM, filter="low_confidence")
    assert queue.exists() and not queue.filter(pk=target.pk).exists()
    progress = selectors.coding_progress(edition_id=edition.pk, item_code=ITEM)
    assert progress["review"] == queue.count() and progress["human"] == 41


@pytest.mark.django_db(transaction=True)
def test_adding_the_same_category_twice_at_once_refuses_the_second_with_a_message(series):
    """A double click on the codebook editor's Add: both requests passed the 'already in this codebook'
    check and the second hit the unique constraint (IntegrityError, a 500)."""
    from coding.models import Category, Codebook

    edition = import_reference(series, "2017")
    services.codebooks_import_reference(edition=edition)
    book = Codebook.objects.get(edition=edition, item_code=ITEM)

    def add_other() -> str:
        services.category_create(codebook=book, code="other", label="Other reasons")
        return "added"

    outcomes = run_second_while_first_holds_its_locks(add_other, add_other)
    assert outcomes == {"first": "added", "second": "other: already in this codebook"}
    assert Category.objects.filter(codebook=book, code="other").count() == 1


def unused_category(series):
    edition = import_reference(series, "2017")
    services.codebooks_import_reference(edition=edition)
    codebook = edition.codebooks.get(item_code=ITEM)
    extra = services.category_create(codebook=codebook, code="new_reason", label="A new reason")
    (answer,) = add_answers(edition, ITEM, ["A reason nobody had listed"])
    return extra, answer


def removal(category):
    return lambda: services.category_remove(category=category, delete_confirmed=True)


def save_code(answer, code):
    def call() -> str:
        services.answer_codes_set(answer_id=answer.pk, codes=[code], coder="A")
        return "saved"

    return call


@pytest.mark.django_db(transaction=True)
def test_a_category_deleted_while_a_coder_saves_a_code_of_it_is_retired_with_the_code_kept(series):
    """The confirmed delete of an unused category meets a coder's first code of it: the delete waits for
    the save, counts the code and retires the category. Counted without a lock, the code was unseen (not
    yet committed) and the delete failed at commit on the foreign key (a 500), or took the category the
    coder's commit then failed on."""
    extra, answer = unused_category(series)
    outcomes = run_second_while_first_holds_its_locks(save_code(answer, extra.code), removal(extra))
    assert outcomes == {"first": "saved", "second": "retired"}
    extra.refresh_from_db()
    assert extra.retired
    assert AnswerCode.objects.filter(answer=answer, category=extra, coder="A").exists()


@pytest.mark.django_db(transaction=True)
def test_a_code_saved_while_its_category_is_deleted_is_refused_not_a_server_error(series):
    extra, answer = unused_category(series)
    outcomes = run_second_while_first_holds_its_locks(removal(extra), save_code(answer, extra.code))
    assert outcomes["first"] == "deleted"
    assert outcomes["second"] == "CodesInvalid('not in the codebook: new_reason')"
    assert not AnswerCode.objects.filter(answer=answer).exists()


@pytest.mark.django_db(transaction=True)
def test_a_save_that_offered_a_category_deleted_meanwhile_is_saved_without_it(series):
    """The coder gave another code; the deleted category was on their form, so the save recorded it as
    seen, and its commit failed on the foreign key (a 500)."""
    from coding.models import HumanCoding

    extra, answer = unused_category(series)
    outcomes = run_second_while_first_holds_its_locks(removal(extra), save_code(answer, "technology"))
    assert outcomes == {"first": "deleted", "second": "saved"}
    seen = HumanCoding.objects.get(answer=answer, coder="A").categories_seen.values_list("code", flat=True)
    assert "technology" in seen and extra.code not in seen
