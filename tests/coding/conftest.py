import json
from pathlib import Path

import numpy as np
import pytest

from coding import services
from responses.models import Answer, Response
from surveys.models import Item
from tests.responses.conftest import celery_worker, officers, worker_keys  # noqa: F401 - shared fixtures

CORPUS = json.loads(
    (Path(__file__).resolve().parents[2] / "coding" / "reference" / "answers-2017.json").read_text()
)


def reference(item: str, count: int):
    """The first `count` answers of a reference item: texts, 0/1 labels per code, and the codes."""
    rows = CORPUS["items"][item][:count]
    codes = sorted({c for r in rows for c in r["codes"]})
    labels = np.array([[1 if c in r["codes"] else 0 for c in codes] for r in rows], dtype=np.int8)
    return [r["text"] for r in rows], labels, codes


def add_answers(edition, item_code: str, texts: list[str]) -> list[Answer]:
    """Released answers written directly (the release path has its own tests)."""
    item = Item.objects.get(edition=edition, code=item_code)
    answers = []
    for text in texts:
        response = Response.objects.create(edition=edition)
        answers.append(Answer.objects.create(response=response, item=item, text=text))
    return answers


@pytest.fixture
def coded_item(open_2017):
    """The 2017 edition with the reference codebooks and 80 answers to workload_reasons; the corpus codes
    of each answer are returned alongside."""
    services.codebooks_import_reference(edition=open_2017)
    rows = CORPUS["items"]["workload_reasons"][:80]
    answers = add_answers(open_2017, "workload_reasons", [r["text"] for r in rows])
    return open_2017, list(zip(answers, [r["codes"] for r in rows], strict=True))


def code_by_human(pairs, count: int, coder: str = "A"):
    for answer, codes in pairs[:count]:
        services.answer_codes_set(answer_id=answer.pk, codes=codes, coder=coder)


def fill_gaps(edition, item_code: str, category, present: dict) -> None:
    """What a trained run writes for the gaps it decides (coding.services._gap_fill), without training:
    `present` maps each answer to whether the run coded `category` present; then the item's refresh."""
    from coding.finals import final_codes_refresh
    from coding.models import AnswerCode, AutoFill, Category, CodingRun

    run = CodingRun.objects.create(
        edition=edition, item_code=item_code, classifier="tfidf-lr", kind="trained", status="succeeded"
    )
    run.categories.set(Category.objects.filter(codebook=category.codebook, retired=False))
    for answer, given in present.items():
        AutoFill.objects.create(answer=answer, category=category, run=run)
        AnswerCode.objects.create(
            answer=answer,
            category=category,
            source="auto",
            run=run,
            probability=0.3 + 0.4 * given,
            accepted=given,
        )
    final_codes_refresh(item_id=Item.objects.get(edition=edition, code=item_code).pk)


def spy_on_training(monkeypatch) -> dict:
    """What the next trained run is taught: its texts, label matrix (1, 0, -1 unknown) and codes."""
    from coding import training

    taught: dict = {}
    real = training.train_with_cross_validation

    def spy(texts, labels, codes, **kwargs):
        taught.update(texts=list(texts), labels=labels.copy(), codes=list(codes))
        return real(texts, labels, codes, **kwargs)

    monkeypatch.setattr(training, "train_with_cross_validation", spy)
    return taught
