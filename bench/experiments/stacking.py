"""Stacked binary relevance (issue #5, label correlation): a second level per code whose inputs include
the first-level (TF-IDF + vector blocks, per-code SVM) scores of ALL codes, so that overlapping codes can
use each other; then the product's decision rule (common.product_rule: shrunk thresholds and the relative
cut) on the second level's out-of-fold probabilities. Second levels: logistic regression over the standardised
scores (--C2), and the first level's SVM over its own features plus the weighted scores (--with-features).

Two ways to get the second level's out-of-fold probabilities:
- "leaky" (what a product could afford): the second level cross-validated over the first level's
  out-of-fold scores with the same folds (a first-level score of a row in fold g came from a model that
  saw fold f's labels);
- "nested": for outer fold f, the first level is cross-validated again on the other folds (20 more fits),
  the second level fitted on those inner scores and applied to fold f's outer scores: nothing leaks.
The held-out answers are scored once: the first level fitted on all training answers, the second level
on all first-level out-of-fold scores.

Usage: python bench/experiments/stacking.py [--blocks minilm] [--C2 0.03,0.1,0.3,1]
       [--with-features 0.15,0.3] [--sample N]
First-level scores are cached in /tmp/q-cache/l1-BLOCKS[-nN].npz (knn.py reads them too)."""

from __future__ import annotations

import argparse
import json

import numpy as np
from common import CACHE, SEED, Clock, cached_vectors, data, decide_and_score, fold_scores
from linear_variants import PerCategorySvm, block_features
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from coding.classifiers.linear import PlattScaling
from coding.training import grouped_folds


def first_level(texts, labels, train, test, blocks, tag, c=0.1, *, make_model=None, inner=True):
    """Outer out-of-fold scores of the training answers (`make_model`, default the product's SVM), the final
    model's test scores, per outer fold the inner out-of-fold scores of the other folds' answers (unless
    not `inner`: None), and the CPU seconds of each (cached in /tmp/q-cache/l1-TAG.npz)."""
    make_model = make_model or (lambda: PerCategorySvm(c))
    path = CACHE / f"l1-{tag}.npz"
    fold_of = grouped_folds([texts[i] for i in train], folds=5, seed=SEED)
    features_of = block_features(texts, blocks)
    stored = dict(np.load(path)) if path.exists() else {}
    if not stored:
        oof, scores, (cv_clock, fit_clock, _) = fold_scores(
            make_model, features_of, labels, train, fold_of, test
        )
        stored = {"oof": oof, "test": scores, "cv_cpu": cv_clock.cpu, "fit_cpu": fit_clock.cpu}
        np.savez(path, **stored)
    if inner and "inner0" not in stored:
        with Clock() as inner_clock:
            for f in range(5):
                rest = fold_of != f
                stored[f"inner{f}"] = fold_scores(
                    make_model, features_of, labels, train[rest], fold_of[rest], None
                )[0]
        stored["inner_cpu"] = inner_clock.cpu
        np.savez(path, **stored)
    inner_scores = [stored[f"inner{f}"] for f in range(5)] if "inner0" in stored else None
    cpu = {k: round(float(stored[k]), 1) for k in ("cv_cpu", "fit_cpu", "inner_cpu") if k in stored}
    return stored["oof"], stored["test"], inner_scores, cpu


class Meta:
    """Per code, logistic regression over the standardised first-level scores of every code."""

    def __init__(self, c):
        self.c = c

    def fit(self, s, y):
        self.scaler = StandardScaler().fit(s)
        x = self.scaler.transform(s)
        self.models = [
            float(col.mean())
            if col.min() == col.max()
            else LogisticRegression(C=self.c, max_iter=2000).fit(x, col)
            for col in y.T
        ]
        return self

    def predict_proba(self, s):
        x = self.scaler.transform(s)
        return np.column_stack(
            [np.full(len(x), m) if isinstance(m, float) else m.predict_proba(x)[:, 1] for m in self.models]
        )


def svm_on_features_and_scores(features_of, labels, fit_idx, fit_scores, predict_idx, predict_scores, weight):
    """The first level's SVM over its own features plus the standardised first-level scores of every
    code (weighted): the scores of the fitted rows must be out of fold."""
    scaler = StandardScaler().fit(fit_scores)
    x_fit, x_pred = features_of(fit_idx, [fit_idx, predict_idx])
    x_fit = sparse.hstack([x_fit, weight * scaler.transform(fit_scores)], format="csr")
    x_pred = sparse.hstack([x_pred, weight * scaler.transform(predict_scores)], format="csr")
    return PerCategorySvm(0.1).fit(x_fit, labels[fit_idx]).decision_function(x_pred)


def second_level_oof(features_of, labels, train, fold_of, fit_scores, oof1, weight):
    """Out-of-fold scores of svm_on_features_and_scores: for fold f, fitted on the other folds with
    fit_scores(f) as their first-level scores (nested: the inner out-of-fold ones; leaky: the outer ones),
    applied to fold f with its outer out-of-fold first-level scores."""
    oof2 = np.zeros((len(train), labels.shape[1]))
    with Clock() as clock:
        for f in range(5):
            rest, here = fold_of != f, fold_of == f
            oof2[here] = svm_on_features_and_scores(
                features_of, labels, train[rest], fit_scores(f), train[here], oof1[here], weight
            )
    return oof2, clock


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", default="minilm")
    ap.add_argument("--C2", default="0.03,0.1,0.3,1")
    ap.add_argument(
        "--with-features",
        default="",
        help="score-block weights, e.g. 0.05,0.15: second level "
        "an SVM over the first level's features plus the weighted standardised scores",
    )
    ap.add_argument("--sample", type=int, default=0, help="seeded subset of the training answers")
    a = ap.parse_args()
    texts, labels, codes, train, test = data()
    if a.sample:
        train = np.sort(np.random.default_rng(SEED).permutation(train)[: a.sample])
    names = a.blocks.split(",")
    blocks = [cached_vectors(n, texts, None) for n in names]
    tag = "+".join(names) + (f"-n{a.sample}" if a.sample else "")
    oof1, test1, inner1, l1_cpu = first_level(texts, labels, train, test, blocks, tag)
    fold_of = grouped_folds([texts[i] for i in train], folds=5, seed=SEED)
    y, y_test = labels[train], labels[test]

    platt = PlattScaling().fit(oof1, y)
    first = {
        "oof": platt.transform(oof1),
        "probabilities": platt.transform(test1),
        "train": train,
        "test": test,
    }
    np.savez(CACHE / f"first-{tag}.npz", **first)  # the product's probabilities, for thresholds.py
    rows = [
        {
            "variant": "first level (product)",
            **decide_and_score(platt.transform(oof1), y, platt.transform(test1), y_test, codes),
        }
    ]
    for c in [float(v) for v in a.C2.split(",")]:
        leaky, nested = np.zeros(y.shape), np.zeros(y.shape)
        with Clock() as clock:
            for f in range(5):
                rest, here = fold_of != f, fold_of == f
                leaky[here] = Meta(c).fit(oof1[rest], y[rest]).predict_proba(oof1[here])
                nested[here] = Meta(c).fit(inner1[f], y[rest]).predict_proba(oof1[here])
        final = Meta(c).fit(oof1, y).predict_proba(test1)
        for name, oof2 in (("leaky", leaky), ("nested", nested)):
            rows.append(
                {
                    "variant": f"stacked LR C={c}, {name} out-of-fold",
                    "meta_cpu_s_10_fits": round(clock.cpu, 1),
                    **decide_and_score(oof2, y, final, y_test, codes),
                }
            )
        np.savez(CACHE / f"stack-{tag}-C{c}.npz", oof=nested, probabilities=final, train=train, test=test)
    features_of = block_features(texts, blocks)
    for weight in [float(v) for v in a.with_features.split(",") if v]:
        with Clock() as final_clock:
            final = svm_on_features_and_scores(features_of, labels, train, oof1, test, test1, weight)
        for name, fit_scores in (("leaky", lambda f: oof1[fold_of != f]), ("nested", lambda f: inner1[f])):
            oof2, clock = second_level_oof(features_of, labels, train, fold_of, fit_scores, oof1, weight)
            platt = PlattScaling().fit(oof2, y)
            np.savez(
                CACHE / f"stack-svm-{tag}-w{weight}-{name}.npz",
                oof=platt.transform(oof2),
                probabilities=platt.transform(final),
                train=train,
                test=test,
            )
            rows.append(
                {
                    "variant": f"stacked SVM, features + scores x {weight}, {name} out-of-fold",
                    "l2_cv_cpu_s": round(clock.cpu, 1),
                    "l2_final_fit_cpu_s": round(final_clock.cpu, 1),
                    **decide_and_score(platt.transform(oof2), y, platt.transform(final), y_test, codes),
                }
            )
    for row in rows:
        print(json.dumps({"train": len(train), "l1_cpu_s": l1_cpu, **row}))


if __name__ == "__main__":
    main()
