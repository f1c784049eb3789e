"""Combine saved probabilities (svm-*.npz from linear_variants.py, ft*.npz from the fine-tuning scripts)
and try answer-level decision rules, each chosen on the out-of-fold probabilities of the training answers
(or on the validation fold where a fine-tuned model is involved) and then scored once on the test answers.

Usage: python bench/experiments/combine.py svm-minilm-C0.1 [svm-mpnet-C0.1 ...] [--val-only]"""

from __future__ import annotations

import argparse
import json

import numpy as np
from common import CACHE, SEED, data

from coding.training import agreement, grouped_folds, tune_thresholds


def rule_relative(p, th, r):
    """Codes over their threshold, and within a factor r of the answer's most likely code."""
    keep = p >= th
    return keep & (p >= r * p.max(axis=1, keepdims=True))


def micro_f1(y, pred):
    tp = int((y.astype(bool) & pred).sum())
    return 0.0 if tp == 0 else 2 * tp / (pred.sum() + y.sum())


def tune_jointly(p, y, th, r, passes=2):
    """Coordinate ascent on micro-F1 over all codes (per-code thresholds), with the relative cut applied:
    per code, the grid value that maximises the overall micro-F1 given the others."""
    th = th.copy()
    grid = np.round(np.arange(0.05, 0.951, 0.025), 3)
    for _ in range(passes):
        for k in range(len(th)):
            scores = []
            for t in grid:
                th[k] = t
                scores.append(micro_f1(y, rule_relative(p, th, r)))
            th[k] = grid[int(np.argmax(scores))]
    return th


def rule_exclusive(pred, p, th, na):
    """'Not assigned' never stands beside another code: keep whichever is further past its threshold."""
    out = pred.copy()
    both = pred[:, na] & (np.delete(pred, na, axis=1).any(axis=1))
    margin = p / np.maximum(th, 1e-6)
    others = np.delete(margin, na, axis=1).max(axis=1)
    na_wins = margin[:, na] > others
    out[both & na_wins] = False
    out[both & na_wins, na] = True
    out[both & ~na_wins, na] = False
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="+")
    ap.add_argument("--val-only", action="store_true", help="tune on the validation fold only")
    a = ap.parse_args()
    texts, labels, codes, train, test = data()
    fold0 = grouped_folds([texts[i] for i in train], folds=5, seed=SEED) == 0
    tune_rows = fold0 if a.val_only or any(n.startswith("ft") for n in a.names) else np.ones(len(train), bool)
    tunes, tests = [], []
    for name in a.names:
        d = np.load(CACHE / f"{name}.npz", allow_pickle=True)
        if "oof" in d:
            tunes.append(d["oof"][tune_rows])
            tests.append(d["probabilities"])
        else:  # fine-tuned: probabilities per row of the data; validation rows are fold 0 of train
            tunes.append(d["probs"][train][tune_rows])
            tests.append(d["probs"][test])
    y_tune, y_test = labels[train][tune_rows], labels[test]
    na = codes.index("Not assigned")
    out = {"names": a.names, "tuned_on": int(tune_rows.sum())}
    weights = [None] if len(a.names) == 1 else [None, *np.round(np.arange(0.2, 0.81, 0.1), 2)]
    best = None
    for w in weights:
        if w is None:
            pt, ps = np.mean(tunes, axis=0), np.mean(tests, axis=0)
        else:  # two inputs: w on the first
            pt = w * tunes[0] + (1 - w) * np.mean(tunes[1:], axis=0)
            ps = w * tests[0] + (1 - w) * np.mean(tests[1:], axis=0)
        th = tune_thresholds(pt, y_tune)
        f_tune = agreement(y_tune, pt >= th, pt, codes)["micro_f1"]
        if best is None or f_tune > best[0]:
            best = (f_tune, w, pt, ps, th)
    f_tune, w, pt, ps, th = best
    base = agreement(y_test, ps >= th, ps, codes)
    out.update(
        {
            "weight_first": w,
            "tune_micro": f_tune,
            "test_micro": base["micro_f1"],
            "test_macro": base["macro_f1"],
            "share_err_est": base["share_error_estimated_pp"],
        }
    )
    # Answer-level rules, each chosen on the tuning rows.
    excl_tune = agreement(y_tune, rule_exclusive(pt >= th, pt, th, na), pt, codes)["micro_f1"]
    excl_test = agreement(y_test, rule_exclusive(ps >= th, ps, th, na), ps, codes)["micro_f1"]
    out["not_assigned_exclusive"] = {"tune": excl_tune, "test": excl_test}
    rel = []
    for r in np.round(np.arange(0.0, 0.81, 0.05), 2):
        rel.append((agreement(y_tune, rule_relative(pt, th, r), pt, codes)["micro_f1"], float(r)))
    f_r, r = max(rel)
    out["relative_cut"] = {
        "r": r,
        "tune": f_r,
        "test": agreement(y_test, rule_relative(ps, th, r), ps, codes)["micro_f1"],
    }
    for cut in sorted({0.0, r}):
        th2 = tune_jointly(pt, y_tune, th, cut)
        out[f"joint_thresholds_r{cut}"] = {
            "tune": round(micro_f1(y_tune, rule_relative(pt, th2, cut)), 4),
            "test": round(micro_f1(y_test, rule_relative(ps, th2, cut)), 4),
            "test_macro": agreement(y_test, rule_relative(ps, th2, cut), ps, codes)["macro_f1"],
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
