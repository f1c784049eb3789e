"""Gap fills: which relative cut? (issue #5) A gap is a human-coded answer x a category its coders were never
offered; a trained run decides it (coding/services.py, `_gap_fill`). The decision rule (coding/training.py,
`decide`) was tuned on answers the model codes alone: per-category thresholds, then a relative cut r (a
code only if its probability >= r x the answer's highest), then a cap on codes per answer. For a gap the
product lets the answer's human codes stand in as probability 1, so a gap code needs p >= r. This measures
that against the alternatives.

Simulation on the NHS training answers (the protocol's split, bench/coding.py): per setting (K, fraction,
seed), K categories with at least MIN_POSITIVES positives ("Not assigned" aside) are "added late", and a
random `fraction` of the human-coded answers were coded before they existed: their labels for those K
categories become -1 (unknown), as coding/services.py builds them. The product's training step runs as
the coding job runs it (`train_with_cross_validation` on the stored MiniLM vectors, codebook texts below
2,000 answers, the categories flagged "human coding only" not filled); then every rule decides the same
gaps with the same model and probabilities, and is scored against the true labels over the gap cells
(answer x late category, flagged categories left out as the product leaves them): micro-F1, precision,
recall, and the error of each late category's share among its gap answers (hard codes, points).

Rules (all keep the product's thresholds and its cap on the model's codes per answer):
- people-as-1: the product (`_gap_fill` itself, through Django; no database is touched): the answer's
  human codes count as probability 1, its other categories 0, so a gap code needs p >= r if people gave
  the answer any code.
- model: the cut against the model's own highest probability over all categories (as if the answer were
  uncoded); the human codes ignored.
- no-cut: thresholds only.
- gap-max: the cut against the highest probability among the answer's gap categories only.
- people-at-model: the categories people gave at the model's probability, those they did not give at 0,
  the gaps at the model's: the cut against the strongest of the codes people gave or the gaps.

Usage: python bench/experiments/gap_fill.py [--classifier tfidf-minilm-svm] [--sample N] [--k 3,8]
       [--fractions 0.3,0.6] [--seeds 6] > rows.jsonl ; python bench/experiments/gap_fill.py --summary
       rows.jsonl [...] (the table of means and paired differences against the product, mean +- SE)
Results: docs/performance.md, "Gap fills: which relative cut (2026-12-06)"."""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
from common import ROOT, SEED, Clock, cached_vectors, data

from coding.classifiers import CategorySpec
from coding.classifiers.features import StoredEmbeddings, minilm
from coding.training import codebook_for_training, decide, human_only_codes, train_with_cross_validation

MIN_POSITIVES = 100  # in the 5,050 training answers: 17 of the 37 codes
NOT_LATE = "Not assigned"


def product_gap_fill():
    """coding.services._gap_fill, the function the coding job calls (Django configured, no database used)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/unused")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from coding.services import _gap_fill

    return _gap_fill


def capped(passed, predicted, result):
    """The product's cap: at most max_codes of the model's gap codes per answer, the most probable."""
    return decide(np.where(passed, predicted, 0.0), result.thresholds, max_codes=result.max_codes) & passed


def rule_model(predicted, people, is_gap, result):
    return capped(decide(predicted, result.thresholds, result.relative_cut) & is_gap, predicted, result)


def rule_no_cut(predicted, people, is_gap, result):
    return capped(decide(predicted, result.thresholds) & is_gap, predicted, result)


def rule_gap_max(predicted, people, is_gap, result):
    gap_only = np.where(is_gap, predicted, 0.0)
    return capped(decide(gap_only, result.thresholds, result.relative_cut) & is_gap, predicted, result)


def rule_people_at_model(predicted, people, is_gap, result):
    weighed = np.where(is_gap | people, predicted, 0.0)
    return capped(decide(weighed, result.thresholds, result.relative_cut) & is_gap, predicted, result)


def rule_people_as_1(predicted, people, is_gap, result):
    """The product's rule written out, only to check that `_gap_fill` is what is measured."""
    weighed = np.where(is_gap, predicted, people.astype(float))
    return capped(decide(weighed, result.thresholds, result.relative_cut) & is_gap, predicted, result)


ALTERNATIVES = {
    "model": rule_model,
    "no-cut": rule_no_cut,
    "gap-max": rule_gap_max,
    "people-at-model": rule_people_at_model,
}
RULES = ["people-as-1", *ALTERNATIVES]


def score(given, truth, is_gap):
    """Micro-F1, precision, recall over the gap cells; mean and max share error (points) over the late
    categories, each among its gap answers."""
    g, t = given[is_gap], truth[is_gap]
    tp, fp, fn = int((g & t).sum()), int((g & ~t).sum()), int((~g & t).sum())
    errors = [
        100 * abs(given[is_gap[:, k], k].mean() - truth[is_gap[:, k], k].mean())
        for k in range(truth.shape[1])
        if is_gap[:, k].any()
    ]
    return {
        "micro_f1": round(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn), 4),
        "precision": None if tp + fp == 0 else round(tp / (tp + fp), 4),
        "recall": None if tp + fn == 0 else round(tp / (tp + fn), 4),
        "codes": int(g.sum()),
        "share_error_pp": round(float(np.mean(errors)), 3) if errors else None,
        "share_error_max_pp": round(float(np.max(errors)), 3) if errors else None,
    }


def one_setting(gap_fill, texts, labels, codes, eligible, embedder, classifier, late_count, fraction, seed):
    rng = np.random.default_rng([seed, late_count, round(fraction * 100)])
    late = np.sort(rng.choice(eligible, size=late_count, replace=False))
    before = np.sort(rng.choice(len(texts), size=round(fraction * len(texts)), replace=False))
    train_labels = labels.copy()
    train_labels[np.ix_(before, late)] = -1
    truth = labels.astype(bool)
    with Clock() as clock:
        result = train_with_cross_validation(
            texts,
            train_labels,
            codes,
            classifier_id=classifier,
            seed=SEED,
            embedder=embedder,
            codebook=codebook_for_training([CategorySpec(c, c) for c in codes], len(texts)),
        )
    flagged = set(human_only_codes(result.metrics))
    # As the coding job calls it: answer ids (here row numbers), each answer's human codes, the gaps.
    coded = list(enumerate(texts))
    human = {i: {codes[k] for k in np.flatnonzero(train_labels[i] > 0)} for i in range(len(texts))}
    gaps = {codes[k]: {int(i) for i in before} for k in late}
    decisions = gap_fill(result, coded, human, gaps, codes, flagged)
    is_gap = np.zeros(labels.shape, dtype=bool)
    product = np.zeros(labels.shape, dtype=bool)
    for (i, k), _, is_given in decisions:
        is_gap[i, k], product[i, k] = True, is_given
    predicted = result.classifier.predict_proba(texts)
    people = train_labels > 0
    if not np.array_equal(rule_people_as_1(predicted, people, is_gap, result), product):
        raise SystemExit("the product's rule written out differs from _gap_fill: fix the experiment")
    given = {"people-as-1": product} | {
        name: rule(predicted, people, is_gap, result) for name, rule in ALTERNATIVES.items()
    }
    # Secondary: every late category, those flagged "human coding only" too (the product leaves them
    # unknown), to see whether the rule matters for weaker categories; the product's rule written out.
    every_gap = np.zeros(labels.shape, dtype=bool)
    every_gap[np.ix_(before, late)] = True
    every = {"people-as-1": rule_people_as_1} | ALTERNATIVES
    every_given = {name: rule(predicted, people, every_gap, result) for name, rule in every.items()}
    # Gap answers with no human code: there people-as-1 weighs a gap against the gaps alone.
    uncoded = is_gap.any(axis=1) & ~people.any(axis=1)
    return {
        "classifier": classifier,
        "answers": len(texts),
        "k": late_count,
        "fraction": fraction,
        "seed": seed,
        "late": [codes[k] for k in late],
        "flagged_late": sorted(flagged & {codes[k] for k in late}),
        "gap_cells": int(is_gap.sum()),
        "gap_positives": int((truth & is_gap).sum()),
        "gap_answers_without_human_code": int(uncoded.sum()),
        "relative_cut": result.relative_cut,
        "max_codes": result.max_codes,
        "train_cpu_s": round(clock.cpu, 1),
        "train_wall_s": round(clock.wall, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "rules": {name: score(g, truth, is_gap) for name, g in given.items()},
        "rules_flagged_too": {name: score(g, truth, every_gap) for name, g in every_given.items()},
    }


def summary(paths, key="rules"):
    """Per (classifier, K, fraction): each rule's mean over seeds, and its paired difference from the
    product's (people-as-1) with the standard error over seeds; then all settings of a classifier pooled."""
    rows = [json.loads(line) for path in paths for line in open(path) if line.strip()]  # noqa: SIM115
    groups = {}
    for row in rows:
        groups.setdefault((row["classifier"], row["answers"], row["k"], row["fraction"]), []).append(row)
        groups.setdefault((row["classifier"], row["answers"], "all", "all"), []).append(row)
    for (classifier, answers, k, fraction), every_row in groups.items():
        # A setting whose late categories were all flagged has no gap the product fills: left out.
        group = [r for r in every_row if key != "rules" or r["gap_cells"]]
        print(
            f"\n{classifier}, {answers} answers, K={k}, fraction={fraction}, "
            f"seeds={len(group)} (of {len(every_row)}), gap cells {np.mean([r['gap_cells'] for r in group]):.0f}"
        )
        print("rule | micro-F1 | diff vs product (mean +- SE) | precision | recall | share err pp | diff")
        for rule in RULES:

            def values(metric, rule=rule, group=group):
                return np.array([np.nan if (v := r[key][rule][metric]) is None else v for r in group])

            def paired(metric, rule=rule, values=values):
                d = values(metric) - values(metric, rule="people-as-1")
                se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
                return f"{d.mean():+.4f} +- {se:.4f}"

            print(
                f"{rule} | {values('micro_f1').mean():.4f} | {paired('micro_f1')} | "
                f"{np.nanmean(values('precision')):.3f} | {np.nanmean(values('recall')):.3f} | "
                f"{values('share_error_pp').mean():.2f} | {paired('share_error_pp')}"
            )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--classifier", default="tfidf-minilm-svm")
    ap.add_argument("--sample", type=int, help="a seeded sample of this many training answers (per seed)")
    ap.add_argument("--k", default="3,8")
    ap.add_argument("--fractions", default="0.3,0.6")
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--summary", nargs="+", help="JSON-lines files of earlier runs: print the table")
    a = ap.parse_args()
    if a.summary:
        summary(a.summary)
        print("\n\nEvery late category, flagged ones too (not what the product fills):")
        summary(a.summary, key="rules_flagged_too")
        return
    gap_fill = product_gap_fill()
    texts, labels, codes, train, _ = data()
    vectors = cached_vectors("minilm", texts, minilm().encode)
    embedder = StoredEmbeddings(dict(zip(texts, vectors, strict=True)), minilm())
    # Counted on all training answers, so a sample draws its late categories from the same codes.
    eligible = [k for k, c in enumerate(codes) if c != NOT_LATE and labels[train, k].sum() >= MIN_POSITIVES]
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        idx = train
        if a.sample:
            idx = np.sort(np.random.default_rng([SEED, seed]).permutation(train)[: a.sample])
        for late_count in map(int, a.k.split(",")):
            for fraction in map(float, a.fractions.split(",")):
                row = one_setting(
                    gap_fill,
                    [texts[i] for i in idx],
                    labels[idx],
                    codes,
                    eligible,
                    embedder,
                    a.classifier,
                    late_count,
                    fraction,
                    seed,
                )
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
