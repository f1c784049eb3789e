"""The map over the sentence vectors learnt from the human codes (coding/classifiers/vector_map.py) and the
classifier that uses it: the pairs, the gradient, the pull towards the codes, determinism, and that each
cross-validation fold learns its map from its own training answers only."""

import numpy as np
import pytest
from scipy.optimize import check_grad

from coding.classifiers import CLASSIFIERS
from coding.classifiers.vector_map import MappedEmbedder, learn_vector_map, training_pairs
from coding.training import train_with_cross_validation

LABELS = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 0, 0]], dtype=np.int8)


class TableEmbedder:
    """Fixed vectors per text; records which texts it was asked for."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors, self.key, self.dimensions = vectors, "table", 8
        self.asked: list[list[str]] = []

    def encode(self, texts):
        self.asked.append(list(texts))
        return np.stack([self.vectors[t] for t in texts]) if texts else np.zeros((0, 8), np.float32)


def unit_vectors(count: int, dimensions: int = 8, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dimensions))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_pairs_target_the_overlap_of_code_sets_and_a_negative_shares_no_code():
    left, right, target = training_pairs(LABELS, seed=3, draws=4)
    codes = LABELS.astype(bool)
    for i, j, t in zip(left, right, target, strict=True):
        overlap, union = (codes[i] & codes[j]).sum(), (codes[i] | codes[j]).sum()
        assert t == pytest.approx(overlap / union if union else 0.0)
        assert i != j  # a partner is always another text
    # Text 1 (codes a and b) is drawn against texts sharing a (0) or b (2) with targets 1/2, and against
    # texts sharing neither; the text with no code has no positive partner, only negatives.
    assert set(right[(left == 1) & (target > 0)]) <= {0, 2}
    assert np.all(target[left == 5] == 0) and len(target[left == 5]) == 4
    # 6 texts, 4 draws of a negative each, 4 of a positive for the 5 texts that have a code-sharing partner.
    assert len(target) == 6 * 4 + 5 * 4


def test_a_text_with_no_code_is_never_paired_with_itself():
    """Its cosine with itself is 1 whatever the map, so a pair (i, i) with target 0 has no gradient: it only
    adds a constant to the loss and dilutes the weight of every real pair in the mean."""
    rng = np.random.default_rng(0)
    labels = (rng.random((20, 3)) < 0.3).astype(np.int8)
    labels[::2] = 0  # half the answers coded "no category applies"
    left, right, _ = training_pairs(labels, seed=1)
    assert len(left) and not np.any(left == right)
    # A lone answer with no code has no partner at all: no pairs, the identity.
    alone = learn_vector_map(unit_vectors(1), np.zeros((1, 3), np.int8), seed=1)
    assert alone.report["pairs"] == 0 and alone.report["iterations"] == 0


def test_two_texts_with_no_code_are_never_a_pair():
    """Both coded "no category applies": nothing says how alike they are, so no target to pull them to."""
    labels = np.array([[0, 0], [0, 0], [0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.int8)
    left, right, target = training_pairs(labels, seed=2, draws=6)
    empty = ~labels.astype(bool).any(axis=1)
    assert not np.any(empty[left] & empty[right])
    # Each text with no code is still pulled away from the coded texts (it shares none of their codes).
    for i in np.flatnonzero(empty):
        assert len(right[left == i]) == 6 and not np.any(empty[right[left == i]])
        assert np.all(target[left == i] == 0)


def test_the_overlap_leaves_out_a_category_a_coding_says_nothing_about():
    """-1: the coder was not offered the category (added after the answer was coded). Two answers coded
    a, one of them also b, the other not offered b: the same codes, as far as both codings speak."""
    labels = np.array([[1, 1], [1, -1], [0, 1]], dtype=np.int8)
    left, right, target = training_pairs(labels, seed=0, draws=20)
    pair = (left == 0) & (right == 1)
    assert pair.any() and np.all(target[pair] == 1.0)
    other = (left == 0) & (right == 2)
    assert other.any() and np.all(target[other] == 0.5)  # both speak for a and b: {a, b} against {b}


def test_no_pair_of_texts_whose_codings_speak_for_no_category_either_carries():
    """Over the categories both codings speak for, neither text has a code: as for two texts with no code,
    nothing says how alike they are. Text 0 was coded "no category applies" before b was added (-1); text
    1 is coded b alone. Pulled apart (target 0), the map would learn that the answers coded before a new
    category differ from those coded with it: often the very answers it was added for."""
    labels = np.array([[0, -1], [0, 1], [1, 0]], dtype=np.int8)
    left, right, target = training_pairs(labels, seed=0, draws=20)
    assert not np.any((left == 0) & (right == 1)) and not np.any((left == 1) & (right == 0))
    # Text 0 still meets text 2, which has a code both codings speak for (a): a known difference.
    assert np.all(target[(left == 0) & (right == 2)] == 0) and np.any((left == 0) & (right == 2))
    # Any mix of known and unknown categories: each pair has a code between them where both speak.
    rng = np.random.default_rng(4)
    labels = np.where(rng.random((60, 4)) < 0.2, -1, rng.random((60, 4)) < 0.25).astype(np.int8)
    left, right, _ = training_pairs(labels, seed=5, draws=3)
    both = (labels[left] >= 0) & (labels[right] >= 0)
    assert len(left) and np.all((((labels[left] > 0) | (labels[right] > 0)) & both).any(axis=1))


def test_the_pairs_need_no_table_of_every_pair_of_texts():
    """A run may name this classifier at any number of human-coded answers: the pairs' targets are computed
    for the drawn pairs only, not from an n x n overlap table (here 2,000 texts: 16 MB for one int32 table,
    several times that for the union and Jaccard tables beside it)."""
    import tracemalloc

    labels = (np.random.default_rng(2).random((2000, 5)) < 0.3).astype(np.int8)
    tracemalloc.start()
    try:
        left, _, target = training_pairs(labels, seed=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(target) == len(left) > 2000
    assert peak < 10 * 2**20, peak


def test_the_gradient_is_the_losss_derivative():
    from coding.classifiers import vector_map

    vectors = unit_vectors(len(LABELS))
    captured = {}
    original = vector_map.minimize

    def capture(fun, x0, **kwargs):
        captured["fun"] = fun
        return original(fun, x0, **kwargs)

    vector_map.minimize = capture
    try:
        learn_vector_map(vectors, LABELS, seed=1, max_iterations=1)
    finally:
        vector_map.minimize = original
    fun = captured["fun"]
    point = np.eye(8).ravel() + np.random.default_rng(5).normal(scale=0.1, size=64)
    error = check_grad(lambda w: fun(w)[0], lambda w: fun(w)[1], point)
    assert error < 1e-5 * max(1.0, np.linalg.norm(fun(point)[1]))


def test_the_map_pulls_same_code_texts_together_and_is_reproducible():
    vectors = unit_vectors(len(LABELS), seed=2)
    learnt = learn_vector_map(vectors, LABELS, seed=4, ridge=0.01)
    assert learnt.report["loss_end"] < learnt.report["loss_start"]
    mapped = learnt.apply(vectors)
    np.testing.assert_allclose(np.linalg.norm(mapped, axis=1), 1.0, rtol=1e-5)
    # Texts 3 and 4 carry the same code and end closer; 0 and 3 share none and end further apart.
    assert mapped[3] @ mapped[4] > vectors[3] @ vectors[4] + 0.1
    # Texts 0 and 3 share no code: their cosine moves towards 0.
    assert abs(mapped[0] @ mapped[3]) < abs(vectors[0] @ vectors[3])
    again = learn_vector_map(vectors, LABELS, seed=4, ridge=0.01)
    np.testing.assert_array_equal(learnt.weights, again.weights)


def test_a_large_ridge_keeps_the_identity_and_no_pairs_means_no_change():
    vectors = unit_vectors(len(LABELS), seed=6)
    stiff = learn_vector_map(vectors, LABELS, seed=1, ridge=1e6)
    np.testing.assert_allclose(stiff.weights, np.eye(8), atol=1e-4)
    alone = learn_vector_map(vectors[:1], LABELS[:1], seed=1)
    assert alone.report["pairs"] == 0 and alone.report["iterations"] == 0
    np.testing.assert_allclose(alone.apply(vectors), vectors, rtol=1e-6)


def test_each_fold_learns_its_map_from_its_own_training_answers_only(monkeypatch):
    from coding.classifiers import linear

    texts = [f"answer {i} about {'phones' if i % 2 else 'chat apps'}" for i in range(30)]
    labels = np.array([[i % 2, 1 - i % 2] for i in range(30)], dtype=np.int8)
    embedder = TableEmbedder(dict(zip(texts, unit_vectors(30, seed=8), strict=True)))
    seen: list[set[str]] = []
    original = linear.learn_vector_map

    def recording(vectors, rows, **kwargs):
        lookup = {tuple(v): t for t, v in embedder.vectors.items()}
        seen.append({lookup[tuple(v)] for v in np.asarray(vectors)})
        return original(vectors, rows, **kwargs)

    monkeypatch.setattr(linear, "learn_vector_map", recording)
    result = train_with_cross_validation(
        texts,
        labels,
        ["odd", "even"],
        classifier_id="tfidf-minilm-map-lr",
        seed=2,
        folds=3,
        embedder=embedder,
    )
    from coding.training import grouped_folds

    fold_of = grouped_folds(texts, folds=3, seed=2)
    assert len(seen) == 4  # one map per fold, then the final model's
    for fold in range(3):
        assert seen[fold] == {t for t, f in zip(texts, fold_of, strict=True) if f != fold}
    assert seen[3] == set(texts)
    assert result.metrics["classifier_fit"]["vector_map"]["texts"] == 30
    # The final classifier reads mapped vectors of the answers it codes.
    assert isinstance(result.classifier.vector_map_.weights, np.ndarray)
    assert CLASSIFIERS["tfidf-minilm-map-lr"].uses_embeddings


def test_a_fit_embeds_its_training_texts_once_as_the_unmapped_classifier_does():
    """Without stored vectors (the bench's reference items embed with MiniLM directly) a second encode of
    the training texts would double the embedding cost of every fold."""
    texts = [f"answer {i} about {'phones' if i % 2 else 'chat apps'}" for i in range(30)]
    labels = np.array([[i % 2, 1 - i % 2] for i in range(30)], dtype=np.int8)
    asked = {}
    for identifier in ("tfidf-minilm-lr", "tfidf-minilm-map-lr"):
        embedder = TableEmbedder(dict(zip(texts, unit_vectors(30, seed=8), strict=True)))
        CLASSIFIERS[identifier](embedder=embedder).fit(texts, labels, seed=1)
        asked[identifier] = sum(len(call) for call in embedder.asked)
    assert asked["tfidf-minilm-map-lr"] == asked["tfidf-minilm-lr"] == 30


def test_the_mapped_embedder_applies_the_map_to_its_base_vectors():
    base = TableEmbedder({"a": unit_vectors(1, seed=9)[0], "b": unit_vectors(1, seed=10)[0]})
    learnt = learn_vector_map(unit_vectors(len(LABELS), seed=11), LABELS, seed=1)
    mapped = MappedEmbedder(base, learnt)
    np.testing.assert_allclose(mapped.encode(["a", "b"]), learnt.apply(base.encode(["a", "b"])))
    assert mapped.key == "table mapped" and mapped.dimensions == 8
