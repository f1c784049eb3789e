"""The near-misses combined (issue #5, towards 0.75): the product's SVM averaged with the binarised NBSVM
(new_families.py avg-nbsvm), and that average stacked (stacking.py: the product's SVM over its features
plus the standardised out-of-fold scores of every code x WEIGHT, nested inner CV), each with the
product's decision rule (common.product_rule: shrunk thresholds + relative cut), on the protocol split
and on other grouped train/test splits (--split-seeds, a check only).

Averaging decision scores of two models fitted separately is what new_families.Averaged does, so the
first levels are fitted once per family and averaged here (cached in /tmp/q-cache/l1-*.npz).

Usage: python bench/experiments/combo.py [--split-seeds 0,1,2,3] [--stack 0.15]
Prints one JSON line per split and variant: CV micro-F1 (out-of-fold, after thresholds and cut), held-out
micro/macro-F1, and the CPU seconds a retrain costs (5-fold CV + final fit, every level)."""

from __future__ import annotations

import argparse
import json

from common import SEED, Clock, cached_vectors, data
from linear_variants import block_features
from new_families import NbSvm, score
from stacking import first_level, second_level_oof, svm_on_features_and_scores

from coding.training import grouped_folds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--split-seeds", default="0,1,2,3", help="0: the protocol's split")
    ap.add_argument("--stack", type=float, default=0.0, help="score-block weight; 0: no stacked variants")
    a = ap.parse_args()
    for seed in [int(v) for v in a.split_seeds.split(",")]:
        texts, labels, codes, train, test = data(seed)
        blocks = [cached_vectors("minilm", texts, None)]
        suffix = f"-split{seed}" if seed else ""
        inner = a.stack > 0
        svm = first_level(texts, labels, train, test, blocks, f"minilm{suffix}", inner=inner)
        nbsvm = first_level(
            texts,
            labels,
            train,
            test,
            blocks,
            f"nbsvm-binary-minilm{suffix}",
            make_model=lambda: NbSvm(0.1, binary=True),
            inner=inner,
        )
        average = (
            (svm[0] + nbsvm[0]) / 2,
            (svm[1] + nbsvm[1]) / 2,
            [(s + n) / 2 for s, n in zip(svm[2], nbsvm[2], strict=True)] if inner else None,
            {k: round(svm[3][k] + nbsvm[3][k], 1) for k in svm[3]},
        )
        head = {"split_seed": seed, "train": len(train), "test": len(test)}
        levels = {"product": svm, "avg-nbsvm": average}
        for name, (oof1, test1, _, cpu) in levels.items():
            row = score(oof1, test1, labels, train, test, codes, texts)
            print(
                json.dumps(
                    {**head, "variant": name, "fit_cpu_s": round(cpu["cv_cpu"] + cpu["fit_cpu"], 1), **row}
                )
            )
        if not inner:
            continue
        fold_of = grouped_folds([texts[i] for i in train], folds=5, seed=SEED)
        features_of = block_features(texts, blocks)
        for name, (oof1, test1, inner1, cpu) in levels.items():
            with Clock() as final_clock:
                final = svm_on_features_and_scores(features_of, labels, train, oof1, test, test1, a.stack)
            oof2, clock = second_level_oof(
                features_of, labels, train, fold_of, lambda f, inner1=inner1: inner1[f], oof1, a.stack
            )
            row = score(oof2, final, labels, train, test, codes, texts)
            # What a retrain costs: both levels' CV and final fits (the inner CV is the evaluation's own).
            fit = cpu["cv_cpu"] + cpu["fit_cpu"] + clock.cpu + final_clock.cpu
            row.update({"fit_cpu_s": round(fit, 1), "inner_cv_cpu_s": cpu["inner_cpu"]})
            print(json.dumps({**head, "variant": f"{name} + stacked x {a.stack} (nested)", **row}))


if __name__ == "__main__":
    main()
