"""kNN label voting (issue #5), averaged with the product's SVM probabilities: for each answer, its k most
similar training answers by cosine (MiniLM vectors, TF-IDF of words and character n-grams, or the mean
of both), each code's probability the similarity-weighted share of neighbours carrying it (similarity
raised to a power: higher trusts the nearest more). k, the power and the SVM's weight are chosen on the
out-of-fold micro-F1 of the training answers (after the product's thresholds and relative cut); the
chosen setting is scored once on the held-out answers.

Usage: python bench/experiments/knn.py [--blocks minilm]  (first-level SVM scores from stacking.py's
cache, made there if absent)"""

from __future__ import annotations

import argparse
import json

import numpy as np
from common import SEED, Clock, cached_vectors, data, decide_and_score
from stacking import first_level

from coding.classifiers.features import tfidf_features
from coding.classifiers.linear import PlattScaling
from coding.training import grouped_folds

KS = (10, 25, 50)
POWERS = (1, 4)
WEIGHTS = np.round(np.arange(0.0, 1.001, 0.1), 2)  # on the SVM


def similarities(texts, vectors, fit_idx, query_idx):
    """Cosine similarities query x fit in the MiniLM space and in a TF-IDF space fitted on fit_idx."""
    tfidf = tfidf_features().fit([texts[i] for i in fit_idx])
    a = tfidf.transform([texts[i] for i in query_idx])
    b = tfidf.transform([texts[i] for i in fit_idx])
    # Each of the union's two blocks is L2-normalised: the dot product is twice the mean cosine.
    return {"minilm": vectors[query_idx] @ vectors[fit_idx].T, "tfidf": (a @ b.T).toarray() / 2}


def vote(sim, y_fit, k, power):
    near = np.argpartition(-sim, k, axis=1)[:, :k]
    weight = np.take_along_axis(sim, near, axis=1).clip(min=1e-6) ** power
    return np.einsum("nk,nkc->nc", weight, y_fit[near].astype(float)) / weight.sum(axis=1, keepdims=True)


def knn_probabilities(texts, vectors, labels, train, test, fold_of):
    """{(space, k, power): (out-of-fold, held-out)} probabilities."""
    y = labels[train]
    oof, held = {}, {}
    for f in range(5):
        rest, here = fold_of != f, fold_of == f
        sims = similarities(texts, vectors, train[rest], train[here])
        sims["both"] = (sims["minilm"] + sims["tfidf"]) / 2
        for space, sim in sims.items():
            for k in KS:
                for power in POWERS:
                    oof.setdefault((space, k, power), np.zeros(y.shape))[here] = vote(sim, y[rest], k, power)
    with Clock() as clock:
        sims = similarities(texts, vectors, train, test)
        sims["both"] = (sims["minilm"] + sims["tfidf"]) / 2
        for space, sim in sims.items():
            for k in KS:
                for power in POWERS:
                    held[(space, k, power)] = vote(sim, y, k, power)
    return {key: (oof[key], held[key]) for key in oof}, clock


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", default="minilm")
    a = ap.parse_args()
    texts, labels, codes, train, test = data()
    names = a.blocks.split(",")
    blocks = [cached_vectors(n, texts, None) for n in names]
    oof1, test1, _, _ = first_level(texts, labels, train, test, blocks, "+".join(names))
    y, y_test = labels[train], labels[test]
    platt = PlattScaling().fit(oof1, y)
    svm_oof, svm_test = platt.transform(oof1), platt.transform(test1)
    fold_of = grouped_folds([texts[i] for i in train], folds=5, seed=SEED)
    knn, clock = knn_probabilities(texts, blocks[0], labels, train, test, fold_of)
    best = {}
    for (space, k, power), (k_oof, k_test) in knn.items():
        for w in WEIGHTS:
            r = decide_and_score(
                w * svm_oof + (1 - w) * k_oof, y, w * svm_test + (1 - w) * k_test, y_test, codes
            )
            family = "svm alone" if w == 1 else ("knn alone" if w == 0 else "svm+knn") + f" {space}"
            if family not in best or r["cv_micro"] > best[family]["cv_micro"]:
                best[family] = {"family": family, "k": k, "power": power, "svm_weight": float(w), **r}
    for row in best.values():
        print(json.dumps(row))
    print(json.dumps({"knn_all_settings_test_cpu_s": round(clock.cpu, 2), "test_answers": len(test)}))


if __name__ == "__main__":
    main()
