"""Auto-coding runs: zero-shot suggestions, trained codes, reproducibility, idempotence, overrides."""

import json

import pytest
import redis
from django.conf import settings

from coding import selectors, services
from coding.models import AnswerCode, CodeSource, CodingRun, ReviewItem, RunKind, RunStatus
from coding.tasks import coding_run_task
from tests.coding.conftest import code_by_human

ITEM = "workload_reasons"


def start(edition, django_capture_on_commit_callbacks, **kwargs):
    # Capture the enqueue; the test executes the run itself (the worker test below does it for real).
    with django_capture_on_commit_callbacks(execute=False):
        run = services.coding_run_start(edition=edition, item_code=ITEM, **kwargs)
    return run


def auto_codes(edition):
    rows = AnswerCode.objects.filter(source=CodeSource.AUTO, answer__item__edition=edition)
    return sorted((str(r.answer_id), r.category.code, r.probability, r.accepted) for r in rows)


def test_without_human_codes_a_run_only_suggests(coded_item, django_capture_on_commit_callbacks):
    edition, _pairs = coded_item
    run = start(edition, django_capture_on_commit_callbacks)
    assert run.kind == RunKind.ZERO_SHOT and run.classifier == "label-match"
    assert services.coding_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.progress == 100
    assert AnswerCode.objects.filter(source=CodeSource.SUGGESTION).exists()
    assert not AnswerCode.objects.filter(source=CodeSource.AUTO).exists()
    # Suggestions are never codes.
    assert selectors.item_category_counts(edition_id=edition.pk, item_code=ITEM)["method"] == "none"
    assert selectors.final_codes(edition_id=edition.pk, item_code=ITEM) == {}


def test_a_trained_run_gives_the_same_codes_twice(coded_item, django_capture_on_commit_callbacks):
    edition, pairs = coded_item
    code_by_human(pairs, 50)
    first = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    assert first.kind == RunKind.TRAINED
    services.coding_run_execute(run_id=first.pk)
    codes_first = auto_codes(edition)
    second = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    services.coding_run_execute(run_id=second.pk)
    assert codes_first and auto_codes(edition) == codes_first
    second.refresh_from_db()
    assert second.status == RunStatus.SUCCEEDED
    assert second.seed == 20170523 and second.versions["packages"]["scikit-learn"]
    cv = second.metrics["cross_validation"]
    assert set(cv["categories"]) >= {"more_data", "technology"}
    assert {"alpha", "micro_f1"} <= set(cv) and {"precision", "recall", "alpha"} <= set(
        cv["categories"]["more_data"]
    )
    assert ReviewItem.objects.exists()
    # Every accepted code reaches its category's threshold and the run's relative cut of the answer's top
    # probability (probabilities are stored rounded to 4 places).
    assert 0 <= cv["relative_cut"] <= 0.8
    by_answer: dict[str, list[tuple[str, float, bool]]] = {}
    for answer_id, code, probability, accepted in auto_codes(edition):
        by_answer.setdefault(answer_id, []).append((code, probability, accepted))
    for rows in by_answer.values():
        top = max(p for _, p, _ in rows)
        for code, probability, accepted in rows:
            if accepted:
                assert probability >= cv["thresholds"][code] - 1e-4
                assert probability >= cv["relative_cut"] * top - 1e-4


def test_human_codes_survive_a_rerun_and_override(coded_item, django_capture_on_commit_callbacks):
    edition, pairs = coded_item
    code_by_human(pairs, 50)
    run = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    services.coding_run_execute(run_id=run.pk)
    target, _ = pairs[60]
    services.answer_codes_set(answer_id=target.pk, codes=["internet_use"], coder="A")
    rerun = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    services.coding_run_execute(run_id=rerun.pk)
    final = selectors.final_codes(edition_id=edition.pk, item_code=ITEM)
    assert final[target.pk] == {"internet_use"}
    human = AnswerCode.objects.filter(source=CodeSource.HUMAN).count()
    assert human >= 51
    counts = selectors.item_category_counts(edition_id=edition.pk, item_code=ITEM)
    assert counts["method"] == "mixed" and counts["n"] == 80
    assert sum(counts["counts"].values()) >= counts["n"] * 0.8


def test_a_second_delivery_does_nothing(coded_item, django_capture_on_commit_callbacks):
    edition, _pairs = coded_item
    run = start(edition, django_capture_on_commit_callbacks)
    assert services.coding_run_execute(run_id=run.pk) is True
    rows = sorted(AnswerCode.objects.values_list("id", flat=True))
    assert services.coding_run_execute(run_id=run.pk) is False
    assert sorted(AnswerCode.objects.values_list("id", flat=True)) == rows


def test_a_failure_is_recorded(coded_item, django_capture_on_commit_callbacks, monkeypatch):
    edition, _ = coded_item
    run = start(edition, django_capture_on_commit_callbacks)

    def boom(*args, **kwargs):
        raise RuntimeError("classifier exploded")

    monkeypatch.setattr("coding.classifiers.zeroshot.LabelMatch.predict_proba", boom)
    services.coding_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.error_type, run.error_message) == (
        RunStatus.FAILED,
        "RuntimeError",
        "classifier exploded",
    )


def test_start_enqueues_after_commit_with_the_run_id_only(coded_item, django_capture_on_commit_callbacks):
    edition, _pairs = coded_item
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.coding_run_start(edition=edition, item_code=ITEM)
    assert len(callbacks) == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_codes_and_no_answer_text_travels_through_celery(celery_worker, series):
    from tests.coding.conftest import CORPUS, add_answers
    from tests.conftest import import_reference

    edition = import_reference(series, "2017")
    services.codebooks_import_reference(edition=edition)
    rows = CORPUS["items"][ITEM][:40]
    canary = "CANARY-answer-text-7f3a"
    answers = add_answers(edition, ITEM, [r["text"] for r in rows] + [canary])
    for answer, row in zip(answers[:30], rows[:30], strict=False):
        services.answer_codes_set(answer_id=answer.pk, codes=row["codes"], coder="A")

    sent = []
    original = coding_run_task.apply_async

    def spy(args=None, kwargs=None, **options):
        sent.append(json.dumps([args, kwargs]))
        return original(args=args, kwargs=kwargs, **options)

    coding_run_task.apply_async = spy
    try:
        run = services.coding_run_start(edition=edition, item_code=ITEM, classifier="tfidf-lr")
        import time

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
                break
            time.sleep(0.2)
    finally:
        coding_run_task.apply_async = original
    assert run.status == RunStatus.SUCCEEDED, run.error_message
    assert sent == [json.dumps([[str(run.pk)], {}])]
    assert canary not in "".join(sent)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    assert canary.encode() not in b"".join(broker.lrange("celery", 0, -1))
    assert canary not in json.dumps(run.metrics) + json.dumps(run.versions) + run.error_message
    assert selectors.final_codes(edition_id=edition.pk, item_code=ITEM)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_run_whose_worker_died_is_requeued_by_the_beat_sweep_and_completes(celery_worker, series):
    """A run left 'running' by a dead worker (no heartbeat for CODING_STALE_SECONDS) is sent again by the
    periodic sweep (the beat task coding.runs_requeue_stale, run here by the real worker) and succeeds as
    a new attempt; a run whose attempt still reports is left alone."""
    import time
    from datetime import timedelta

    from django.utils import timezone

    from config.celery import app
    from tests.coding.conftest import CORPUS, add_answers
    from tests.conftest import import_reference

    edition = import_reference(series, "2017")
    services.codebooks_import_reference(edition=edition)
    rows = CORPUS["items"][ITEM][:40]
    answers = add_answers(edition, ITEM, [r["text"] for r in rows])
    for answer, row in zip(answers[:30], rows[:30], strict=True):
        services.answer_codes_set(answer_id=answer.pk, codes=row["codes"], coder="A")
    long_ago = timezone.now() - timedelta(seconds=settings.CODING_STALE_SECONDS + 60)
    # As a worker killed mid-run leaves it: claimed once, running, its last heartbeat long ago.
    dead = CodingRun.objects.create(
        edition=edition,
        item_code=ITEM,
        kind=RunKind.TRAINED,
        classifier="tfidf-lr",
        classifier_version="1",
        status=RunStatus.RUNNING,
        attempts=1,
        started_at=long_ago,
        heartbeat_at=long_ago,
        progress=40,
    )
    alive = CodingRun.objects.create(
        edition=edition,
        item_code=ITEM,
        kind=RunKind.TRAINED,
        classifier="tfidf-lr",
        classifier_version="1",
        status=RunStatus.RUNNING,
        attempts=1,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )

    assert "coding.runs_requeue_stale" in {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    app.send_task("coding.runs_requeue_stale")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        dead.refresh_from_db()
        if dead.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            break
        time.sleep(0.2)
    assert dead.status == RunStatus.SUCCEEDED, dead.error_message
    assert dead.attempts == 2 and dead.progress == 100 and dead.heartbeat_at > long_ago
    assert dead.metrics["coded"] == 10 and dead.metrics["cross_validation"]["micro_f1"] > 0
    assert AnswerCode.objects.filter(run=dead, source=CodeSource.AUTO).exists()
    alive.refresh_from_db()
    assert (alive.status, alive.attempts) == (RunStatus.RUNNING, 1)


def test_the_default_classifier_follows_the_number_of_human_codes(
    coded_item, django_capture_on_commit_callbacks, monkeypatch
):
    """Logistic regression over mapped sentence vectors, each answer also scored clause by clause, below
    MAPPED_BELOW_HUMAN_CODED answers, plain logistic regression from there, the calibrated SVM from
    SVM_FROM_HUMAN_CODED answers on (docs/performance.md); all code through the same job."""
    import coding.classifiers

    edition, pairs = coded_item
    code_by_human(pairs, 30)
    small = start(edition, django_capture_on_commit_callbacks)
    assert small.classifier == "tfidf-minilm-map-clauses-lr"
    assert services.coding_run_execute(run_id=small.pk)
    small.refresh_from_db()
    assert small.status == RunStatus.SUCCEEDED, small.error_message
    # The run records the map its final model learnt: 30 answers and the codebook's texts, and their pairs.
    learnt = small.metrics["cross_validation"]["classifier_fit"]["vector_map"]
    assert learnt["texts"] > 30 and learnt["pairs"] > 0 and learnt["loss_end"] < learnt["loss_start"]
    assert small.metrics["coded"] == 50 and small.metrics["cross_validation"]["micro_f1"] > 0.4
    monkeypatch.setattr(coding.classifiers, "MAPPED_BELOW_HUMAN_CODED", 30)
    middle = start(edition, django_capture_on_commit_callbacks)
    assert middle.classifier == "tfidf-minilm-lr"
    middle.delete()  # only its choice of classifier matters here; a queued run would hold the item
    monkeypatch.setattr(coding.classifiers, "SVM_FROM_HUMAN_CODED", 30)
    large = start(edition, django_capture_on_commit_callbacks)
    assert large.classifier == "tfidf-minilm-svm"
    assert services.coding_run_execute(run_id=large.pk)
    large.refresh_from_db()
    assert large.status == RunStatus.SUCCEEDED, large.error_message
    probabilities = list(
        AnswerCode.objects.filter(run=large, source=CodeSource.AUTO).values_list("probability", flat=True)
    )
    assert len(probabilities) >= 50 and all(0 < p < 1 for p in probabilities)
    assert large.metrics["coded"] == 50 and large.metrics["cross_validation"]["micro_f1"] > 0.4


def test_with_few_human_codes_a_run_learns_from_the_codebook_texts_too(
    coded_item, django_capture_on_commit_callbacks, monkeypatch
):
    """Each category's label + description (and examples) are training texts below
    CODEBOOK_TEXTS_BELOW_HUMAN_CODED human-coded answers; the run records it, and its codes stay
    reproducible."""
    import coding.training
    from coding.models import Category

    edition, pairs = coded_item
    code_by_human(pairs, 30)
    categories = Category.objects.filter(codebook__edition=edition, codebook__item_code=ITEM, retired=False)
    Category.objects.filter(pk=categories.order_by("position").first().pk).update(
        examples=["Terabytes per case"]
    )
    first = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    services.coding_run_execute(run_id=first.pk)
    first.refresh_from_db()
    assert first.status == RunStatus.SUCCEEDED, first.error_message
    # One text per category and one per example.
    assert first.metrics["codebook_texts"] == {
        "texts": categories.count() + 1,
        "weight": 3.0,
        "negatives": True,
    }
    with_codebook = auto_codes(edition)
    again = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    services.coding_run_execute(run_id=again.pk)
    assert with_codebook and auto_codes(edition) == with_codebook

    # With enough human codes they are left out, and the probabilities are the human codes' alone.
    monkeypatch.setattr(coding.training, "CODEBOOK_TEXTS_BELOW_HUMAN_CODED", 30)
    plain = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    services.coding_run_execute(run_id=plain.pk)
    plain.refresh_from_db()
    assert plain.status == RunStatus.SUCCEEDED and plain.metrics["codebook_texts"] is None
    assert auto_codes(edition) != with_codebook


def test_a_zero_shot_run_after_a_trained_one_leaves_no_answer_automatically_coded(
    coded_item, django_capture_on_commit_callbacks
):
    """A zero-shot run (asked for by classifier) replaces a trained run's codes with suggestions; the
    answers that run coded used to stay 'automatically coded' with no category, counted in n."""
    edition, pairs = coded_item
    code_by_human(pairs, 40)
    human_only = selectors.item_category_counts(edition_id=edition.pk, item_code=ITEM)
    trained = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    services.coding_run_execute(run_id=trained.pk)
    assert selectors.item_category_counts(edition_id=edition.pk, item_code=ITEM)["n"] == 80
    suggestions = start(edition, django_capture_on_commit_callbacks, classifier="label-match")
    assert suggestions.kind == RunKind.ZERO_SHOT
    services.coding_run_execute(run_id=suggestions.pk)
    after = selectors.item_category_counts(edition_id=edition.pk, item_code=ITEM)
    assert (after["n"], after["method"], after["counts"]) == (40, "human", human_only["counts"])
    progress = selectors.coding_progress(edition_id=edition.pk, item_code=ITEM)
    assert (progress["automatic"], progress["uncoded"]) == (0, 40)
    assert selectors.item_answers(edition_id=edition.pk, item_code=ITEM, filter="automatic").count() == 0


def test_a_second_run_of_an_item_waits_until_the_first_has_finished(
    coded_item, django_capture_on_commit_callbacks, analyst_ann, client
):
    """A double click on 'Run auto-coding' queued two runs: the worker trained the same model on both its
    cores, and whichever finished last replaced the other's codes."""
    from tests.conftest import api_client_for, login_with_mfa

    edition, pairs = coded_item
    code_by_human(pairs, 20)
    first = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    with pytest.raises(services.CodingRunActive, match="is queued"):
        start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    api = api_client_for(analyst_ann).post(f"/api/v1/editions/{edition.pk}/items/{ITEM}/coding-runs/")
    assert api.status_code == 409 and "start another once it has finished" in api.json()["detail"]
    screen = login_with_mfa(client, analyst_ann).post(
        f"/staff/coding/editions/{edition.pk}/items/{ITEM}/runs/", follow=True
    )
    assert "start another once it has finished" in screen.content.decode()
    assert CodingRun.objects.count() == 1

    services.coding_run_execute(run_id=first.pk)
    again = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    assert again.status == RunStatus.QUEUED and CodingRun.objects.count() == 2

    # A run queued too long (its message lost) or left running by a dead worker does not hold the item.
    from datetime import timedelta

    from django.utils import timezone

    long_ago = timezone.now() - timedelta(seconds=settings.CODING_STALE_SECONDS + 60)
    CodingRun.objects.filter(pk=again.pk).update(queued_at=long_ago)
    dead = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    CodingRun.objects.filter(pk=dead.pk).update(status=RunStatus.RUNNING, heartbeat_at=long_ago)
    assert (
        start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr").status == RunStatus.QUEUED
    )
