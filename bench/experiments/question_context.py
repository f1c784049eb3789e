"""Diagnostic (issue #5): how much of the gap comes from the benchmark pooling answers to five different
questions? The product codes one item (one question) at a time, but the NHS benchmark mixes "What was
good?", "What could we do better?", "How could we improve?", "FFT Why?" and an NHS 111 question, so the
same text means different codes ("Nothing" is "Positive experience & gratitude" under "What could we
do better?" and not under "What was good?"). The question is given to the product's SVM as
- "bias": a one-hot block of the question's kind (a per-kind shift of every code's score);
- "easyadapt": that, plus the TF-IDF + MiniLM features copied once per kind, zero outside it (Daume
  III, 2007), so a word can weigh differently per question.
Kinds: asks for the bad ("improve", "better"), asks for the good ("What was good?"), neutral ("Why?",
NHS 111). Not a product change: the product has no pooled questions to disambiguate.

Usage: python bench/experiments/question_context.py"""

from __future__ import annotations

import csv
import json

import numpy as np
from common import DEFAULT_DATA, cached_vectors, data, decide_and_score, evaluate
from linear_variants import PerCategorySvm, block_features
from scipy import sparse

from bench.coding import NON_ANSWER


def question_kinds(texts):
    """Per answer of bench.coding.load (same rows, same order): 0 bad, 1 good, 2 neutral."""
    with DEFAULT_DATA.open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["FFT answer"].strip()]
    rows = [r for r in rows if r[NON_ANSWER].strip() not in {"1", "1.0"}]
    assert [r["FFT answer"].strip() for r in rows] == texts
    question = [r["FFT question"].lower() for r in rows]
    return np.array([0 if ("improve" in q or "better" in q) else 1 if "good" in q else 2 for q in question])


def main():
    texts, labels, codes, train, test = data()
    kinds = question_kinds(texts)
    onehot = np.eye(3)[kinds]
    base = block_features(texts, [cached_vectors("minilm", texts, None)])
    for variant in ("bias", "easyadapt"):

        def features_of(fit_idx, idx_list, variant=variant):
            out = []
            for idx, x in zip(idx_list, base(fit_idx, idx_list), strict=True):
                parts = [x, sparse.csr_matrix(onehot[idx])]
                if variant == "easyadapt":
                    parts += [sparse.diags(onehot[idx, j]) @ x for j in range(3)]
                out.append(sparse.hstack(parts, format="csr"))
            return out

        r = evaluate(lambda: PerCategorySvm(0.1), features_of, texts, labels, codes, train, test)
        row = {
            "variant": variant,
            "fit_cpu_s_5_folds": r["cv_cpu_s"],
            "final_fit_cpu_s": r["final_fit_cpu_s"],
        }
        row.update(decide_and_score(r["oof"], labels[train], r["probabilities"], labels[test], codes))
        print(json.dumps(row))


if __name__ == "__main__":
    main()
