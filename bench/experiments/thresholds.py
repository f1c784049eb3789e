"""How well do threshold rules generalise? (issue #5) Per-code thresholds tuned on out-of-fold
probabilities are scored on those same answers (in-sample); here each rule is chosen on four folds'
out-of-fold probabilities and scored on the fifth ("threshold-CV"), then chosen on all of them and
scored once on the held-out answers. Rules: per-code F1 thresholds, then the relative cut (the product
before 2026-12-06), one threshold for every code tuned jointly with the cut for micro-F1, and per-code
thresholds shrunk towards that one by support (n t_k + lam t) / (n + lam) (the product since, lam 20:
coding.training.shrink_thresholds).

Usage: python bench/experiments/thresholds.py NAME [NAME ...]  (/tmp/q-cache/NAME.npz with oof,
probabilities, train, test: svm-*.npz from linear_variants.py, first-*/stack-*.npz from stacking.py)"""

from __future__ import annotations

import argparse
import json

import numpy as np
from common import CACHE, SEED, data

from coding.training import (
    agreement,
    decide,
    grouped_folds,
    micro_f1,
    shrink_thresholds,
    tune_relative_cut,
    tune_shared_threshold,
    tune_thresholds,
)


def one_threshold(p, y):
    """The single threshold and relative cut that maximise micro-F1 together."""
    th = np.full(y.shape[1], tune_shared_threshold(p, y))
    return th, tune_relative_cut(p, y, th)


def per_code(p, y):
    th = tune_thresholds(p, y)
    return th, tune_relative_cut(p, y, th)


def shrunk(lam):
    def rule(p, y):
        th = shrink_thresholds(p, y, lam)
        return th, tune_relative_cut(p, y, th)

    return rule


RULES = {"per-code + cut (product before 2026-12-06)": per_code, "one threshold + cut": one_threshold}
RULES.update({f"shrunk, lam={lam}": shrunk(lam) for lam in (100, 300, 1000)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="+")
    a = ap.parse_args()
    texts, labels, codes, *_ = data()
    for name in a.names:
        d = np.load(CACHE / f"{name}.npz")
        oof, probabilities, train, test = d["oof"], d["probabilities"], d["train"], d["test"]
        y, y_test = labels[train].astype(bool), labels[test].astype(bool)
        fold_of = grouped_folds([texts[i] for i in train], folds=5, seed=SEED)
        for rule_name, rule in RULES.items():
            per_fold = []
            for f in range(5):
                th, r = rule(oof[fold_of != f], y[fold_of != f])
                per_fold.append(micro_f1(y[fold_of == f], decide(oof[fold_of == f], th, r)))
            th, r = rule(oof, y)
            held = agreement(y_test, decide(probabilities, th, r), probabilities, codes)
            row = {
                "name": name,
                "train": len(train),
                "rule": rule_name,
                "threshold_cv": round(np.mean(per_fold), 4),
            }
            row.update({"per_fold": np.round(per_fold, 3).tolist(), "cut": r, "test_micro": held["micro_f1"]})
            row.update({"test_macro": held["macro_f1"], "share_err_hard": held["share_error_hard_pp"]})
            print(json.dumps(row))


if __name__ == "__main__":
    main()
