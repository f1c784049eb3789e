"""Each answer's sentence vector, computed once per embedding model and stored (AnswerEmbedding).

Embedding is the costly step of auto-coding (tens to a few hundred answers per second on 2 cores, against
thousands for everything else), so a coding run embeds only the answers that have no stored vector under
the current model, in batches, and every later run, retraining and prediction reads the stored ones.

Anonymous side: the vectors are derived from answer text, so they live next to it, keyed by answer id and
model, with no time and no user (tests/coding/test_anonymity.py); deleting an answer deletes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

import numpy as np

from coding.classifiers.features import Embedder, StoredEmbeddings, minilm
from coding.models import AnswerEmbedding

# Answers embedded and written per step: progress (the run's heartbeat) is reported after each, and a
# worker that dies keeps what it wrote.
CHUNK = 512


def _to_bytes(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def _from_bytes(raw: bytes | memoryview) -> np.ndarray:
    return np.frombuffer(bytes(raw), dtype="<f4")


def answer_embeddings(
    answers: Sequence[tuple[uuid.UUID, str]],
    *,
    embedder: Embedder | None = None,
    progress: Callable[[float], None] | None = None,
) -> StoredEmbeddings:
    """Vectors of (answer id, text) pairs by text, embedding and storing those not yet stored.

    An answer whose text equals a stored one's takes that vector without running the model (the model is
    deterministic per text); `progress` gets fractions in [0, 1] as chunks are written."""
    model = embedder or minilm()
    report = progress or (lambda fraction: None)
    ids = [answer_id for answer_id, _ in answers]
    stored: dict[uuid.UUID, bytes] = {}
    for start in range(0, len(ids), 5000):
        stored.update(
            AnswerEmbedding.objects.filter(
                answer_id__in=ids[start : start + 5000], model=model.key
            ).values_list("answer_id", "vector")
        )
    by_text = {text: _from_bytes(stored[answer_id]) for answer_id, text in answers if answer_id in stored}
    missing = [(answer_id, text) for answer_id, text in answers if answer_id not in stored]
    done = 0
    for start in range(0, len(missing), CHUNK):
        chunk = missing[start : start + CHUNK]
        new_texts = sorted({text for _, text in chunk if text not in by_text})
        if new_texts:
            by_text.update(zip(new_texts, model.encode(new_texts), strict=True))
        AnswerEmbedding.objects.bulk_create(
            [
                AnswerEmbedding(answer_id=answer_id, model=model.key, vector=_to_bytes(by_text[text]))
                for answer_id, text in chunk
            ],
            ignore_conflicts=True,  # a concurrent run stored the same vector first
        )
        done += len(chunk)
        report(done / len(missing))
    report(1.0)
    return StoredEmbeddings(by_text, model)
