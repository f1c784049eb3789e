"""bench/coding.py::reference_items with a per-draw embedder (bench/experiments/setfit.py tunes one per
draw): it is built from that draw's training answers only, and it is the one the classifier reads."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import numpy as np

from coding.classifiers.features import normalise_text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("bench_coding", ROOT / "bench" / "coding.py")
coding_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(coding_bench)


class HashEmbedder:
    """Deterministic unit vectors from each text's digest (no model); counts the texts it embeds."""

    dimensions = 384

    def __init__(self, seed: int) -> None:
        self.key = f"hash-{seed}"
        self.embedded: set[str] = set()

    def encode(self, texts):
        self.embedded.update(texts)
        rows = []
        for text in texts:
            digest = hashlib.sha256(f"{self.key}{text}".encode()).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
            vector = rng.standard_normal(self.dimensions)
            rows.append(vector / np.linalg.norm(vector))
        return np.array(rows, dtype=np.float32).reshape(len(texts), self.dimensions)


def test_each_draw_gets_an_embedder_built_from_its_training_answers_only() -> None:
    held_out = {
        item: {normalise_text(texts[i]) for i in test}
        for item, texts, _labels, _codes, _specs, _train, test in coding_bench.reference_corpus()
    }
    calls: list[tuple[int, list[str], np.ndarray, HashEmbedder]] = []

    def embedder_for_draw(texts, labels, codebook, seed):
        calls.append((seed, list(texts), np.asarray(labels), embedder := HashEmbedder(seed)))
        return embedder

    result = coding_bench.reference_items(["tfidf-minilm-lr"], samples=2, embedder_for_draw=embedder_for_draw)

    # One embedder per item and draw, the draws' own seeds.
    assert [seed for seed, *_ in calls] == [coding_bench.SEED, coding_bench.SEED + 1] * len(held_out)
    items = list(result)
    for position, (_seed, texts, labels, embedder) in enumerate(calls):
        test_texts = held_out[items[position // 2]]
        # Built from training answers with 10 codes per category: no held-out answer among them ...
        assert not {normalise_text(t) for t in texts} & test_texts
        assert labels.sum(axis=0).min() >= 10
        # ... and the classifier embedded the held-out answers with it (it was used, not the product's).
        assert test_texts <= {normalise_text(t) for t in embedder.embedded}
    assert all(len(r["tfidf-minilm-lr"]["alpha_samples"]) == 2 for r in result.values())
