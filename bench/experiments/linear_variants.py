"""Per-category linear SVM (Platt-scaled) over TF-IDF plus any cached sentence-vector blocks.

Usage: python bench/experiments/linear_variants.py --blocks minilm,mpnet [--C 0.1] [--no-tfidf]
       [--weights 1,1] [--sample N] [--model svm|svm-balanced|lr]  (blocks are /tmp/q-cache/NAME.npz, made by encoders.py)"""

from __future__ import annotations

import argparse
import json

import numpy as np
from common import CACHE, SEED, cached_vectors, data, evaluate
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from coding.classifiers.features import tfidf_features


class PerCategorySvm:
    def __init__(self, c: float, model: str = "svm"):
        self.c = c
        self.model = model

    def estimator(self):
        if self.model == "lr":  # the product's logistic regression (tfidf-minilm-lr), its C given here
            return LogisticRegression(
                C=self.c, solver="liblinear", dual=True, max_iter=1000, random_state=SEED
            )
        weight = "balanced" if self.model == "svm-balanced" else None
        return LinearSVC(C=self.c, class_weight=weight, random_state=SEED)

    def fit(self, x, y):
        self.models = []
        for column in y.T:
            if column.min() == column.max():
                self.models.append(float(column.mean()))
            else:
                self.models.append(self.estimator().fit(x, column))
        return self

    def decision_function(self, x):
        out = np.zeros((x.shape[0], len(self.models)))
        for k, m in enumerate(self.models):
            out[:, k] = (
                (np.log(max(m, 1e-4) / max(1 - m, 1e-4))) if isinstance(m, float) else m.decision_function(x)
            )
        return out

    def predict_proba(self, x):  # logistic regression only: its own probabilities, as the product uses
        return np.column_stack(
            [
                np.full(x.shape[0], m) if isinstance(m, float) else m.predict_proba(x)[:, 1]
                for m in self.models
            ]
        )


def block_features(texts, blocks, *, tfidf=True):
    """features_of(fit_idx, idx_list) for evaluate/fold_scores: TF-IDF fitted on fit_idx, plus the
    vector blocks (arrays over all texts)."""

    def features_of(fit_idx, idx_list):
        parts = [[] for _ in idx_list]
        if tfidf:
            vec = tfidf_features()
            vec.fit([texts[i] for i in fit_idx])
            for j, idx in enumerate(idx_list):
                parts[j].append(vec.transform([texts[i] for i in idx]))
        for block in blocks:
            for j, idx in enumerate(idx_list):
                parts[j].append(sparse.csr_matrix(block[idx]))
        return [sparse.hstack(p, format="csr") for p in parts]

    return features_of


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--blocks", default="minilm")
    p.add_argument("--weights", default="")
    p.add_argument("--C", type=float, default=0.1)
    p.add_argument("--no-tfidf", action="store_true")
    p.add_argument("--model", default="svm", choices=["svm", "svm-balanced", "lr"])
    p.add_argument("--sample", type=int, default=0, help="seeded subset of the training answers")
    a = p.parse_args()
    texts, labels, codes, train, test = data()
    if a.sample:
        train = np.sort(np.random.default_rng(SEED).permutation(train)[: a.sample])
    names = [b for b in a.blocks.split(",") if b]
    weights = [float(w) for w in a.weights.split(",")] if a.weights else [1.0] * len(names)
    blocks = [cached_vectors(n, texts, None) * w for n, w in zip(names, weights, strict=True)]

    features_of = block_features(texts, blocks, tfidf=not a.no_tfidf)

    r = evaluate(
        lambda: PerCategorySvm(a.C, a.model),
        features_of,
        texts,
        labels,
        codes,
        train,
        test,
        calibrate=a.model != "lr",
    )
    row = {
        "model": a.model,
        "blocks": a.blocks,
        "weights": weights,
        "C": a.C,
        "tfidf": not a.no_tfidf,
        "train": len(train),
    }
    row.update({k: v for k, v in r.items() if k not in ("oof", "probabilities", "thresholds")})
    print(json.dumps(row))
    tag = a.blocks.replace(",", "+") + ("" if not a.no_tfidf else "-notfidf") + f"-C{a.C}"
    tag += ("" if a.model == "svm" else f"-{a.model}") + ("" if not a.weights else f"-w{a.weights}")
    tag += f"-n{a.sample}" if a.sample else ""
    np.savez(
        CACHE / f"svm-{tag}.npz",
        oof=r["oof"],
        probabilities=r["probabilities"],
        thresholds=r["thresholds"],
        train=train,
        test=test,
    )


if __name__ == "__main__":
    main()
