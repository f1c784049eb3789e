"""Shared pieces of the coding-quality experiments (issue #5): data, split, cached sentence vectors, and a
grouped-CV + held-out evaluation of per-category linear models over any feature blocks.

Vectors are cached in /tmp/q-cache (derived from the NHS data: never written into the repository)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.coding import DEFAULT_DATA, SEED, load, split  # noqa: E402
from coding.classifiers.linear import PlattScaling  # noqa: E402
from coding.training import (  # noqa: E402
    agreement,
    decide,
    grouped_folds,
    tune_decision_rule,
    tune_thresholds,
)

# Outside the repository on purpose: the vectors are derived from the NHS data.
CACHE = Path("/tmp/q-cache")  # noqa: S108


def data(split_seed=0):
    """The protocol's answers and train/test split; split_seed > 0: another grouped 80/20 split (fold 0 of
    grouped_folds with that seed as the test answers), a robustness check only."""
    texts, labels, codes = load(DEFAULT_DATA)
    if split_seed:
        fold = grouped_folds(texts, folds=5, seed=split_seed)
        return texts, labels, codes, np.flatnonzero(fold != 0), np.flatnonzero(fold == 0)
    train, test = split(texts)
    return texts, labels, codes, train, test


def cached_vectors(name: str, texts: list[str], encode) -> np.ndarray:
    """Vectors of `texts` (in order) from encoder `name`, each distinct text encoded once and cached."""
    path = CACHE / f"{name}.npz"
    distinct = sorted(set(texts))
    if path.exists():
        stored = np.load(path, allow_pickle=True)
        lookup = dict(zip(stored["texts"].tolist(), stored["vectors"], strict=True))
    else:
        lookup = {}
    missing = [t for t in distinct if t not in lookup]
    if missing:
        t0, c0 = time.perf_counter(), time.process_time()
        vectors = encode(missing)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"{name}: encoded {len(missing)} texts in {wall:.1f} s wall, {cpu:.1f} CPU-s", file=sys.stderr)
        lookup.update(zip(missing, vectors, strict=True))
        keys = sorted(lookup)
        np.savez(path, texts=np.array(keys, dtype=object), vectors=np.stack([lookup[k] for k in keys]))
    return np.stack([lookup[t] for t in texts]).astype(np.float32)


class Clock:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def fold_scores(make_model, features_of, labels, fit_idx, fold_of, predict_idx, *, calibrate=True):
    """Out-of-fold scores of the answers fit_idx (folds fold_of, one per answer of fit_idx), then a model
    fitted on all of fit_idx scoring predict_idx. Scores are decision_function (calibrate) or
    predict_proba. Returns (oof, predicted, clocks: cv, final fit, predict); predict_idx None: no final fit."""
    oof = np.zeros((len(fit_idx), labels.shape[1]))
    with Clock() as cv_clock:
        for fold in np.unique(fold_of):
            tr, te = fit_idx[fold_of != fold], fit_idx[fold_of == fold]
            xtr, xte = features_of(tr, [tr, te])
            model = make_model().fit(xtr, labels[tr])
            oof[fold_of == fold] = model.decision_function(xte) if calibrate else model.predict_proba(xte)
    if predict_idx is None:  # out-of-fold scores only
        return oof, None, (cv_clock, None, None)
    with Clock() as fit_clock:
        xtr, xte = features_of(fit_idx, [fit_idx, predict_idx])
        final = make_model().fit(xtr, labels[fit_idx])
    with Clock() as predict_clock:
        predicted = final.decision_function(xte) if calibrate else final.predict_proba(xte)
    return oof, predicted, (cv_clock, fit_clock, predict_clock)


# The product's decision rule (codes per answer, shrunk thresholds, the relative cut), from its one place.
product_rule = tune_decision_rule


def decide_and_score(oof, y_oof, probabilities, y_test, codes):
    """The product's decision rule (product_rule) chosen on out-of-fold probabilities, scored once on the
    held-out answers."""
    thresholds, cut, max_codes = product_rule(oof, y_oof)
    cv = agreement(y_oof, decide(oof, thresholds, cut, max_codes), oof, codes)
    held = agreement(y_test, decide(probabilities, thresholds, cut, max_codes), probabilities, codes)
    return {
        "cut": cut,
        "cv_micro": cv["micro_f1"],
        "test_micro": held["micro_f1"],
        "test_macro": held["macro_f1"],
        "share_err_est": held["share_error_estimated_pp"],
        "share_err_hard": held["share_error_hard_pp"],
    }


def evaluate(make_model, features_of, texts, labels, codes, train, test, *, folds=5, calibrate=True):
    """Grouped k-fold CV on the training answers (thresholds from out-of-fold probabilities), then the
    final model on all training answers, scored on the held-out answers with the CV thresholds.

    make_model(): object with fit(X, Y) and decision_function(X) (scores, Platt-scaled when calibrate)
    or predict_proba(X). features_of(train_idx, idx_list) -> list of matrices for idx_list, fitted on
    train_idx (TF-IDF must be fitted inside the fold)."""
    fold_of = grouped_folds([texts[i] for i in train], folds=folds, seed=SEED)
    y = labels[train]
    oof, scores, (cv_clock, fit_clock, predict_clock) = fold_scores(
        make_model, features_of, labels, train, fold_of, test, calibrate=calibrate
    )
    if calibrate:
        platt = PlattScaling().fit(oof, y)
        oof, probabilities = platt.transform(oof), platt.transform(scores)
    else:
        probabilities = scores
    thresholds = tune_thresholds(oof, y)
    cv = agreement(y, oof >= thresholds, oof, codes)
    held = agreement(labels[test], probabilities >= thresholds, probabilities, codes)
    return {
        "cv_micro": cv["micro_f1"],
        "cv_macro": cv["macro_f1"],
        "test_micro": held["micro_f1"],
        "test_macro": held["macro_f1"],
        "test_alpha": held["alpha"],
        "share_err_est": held["share_error_estimated_pp"],
        "cv_cpu_s": round(cv_clock.cpu, 1),
        "final_fit_wall_s": round(fit_clock.wall, 1),
        "final_fit_cpu_s": round(fit_clock.cpu, 1),
        "predict_per_s": round(len(test) / max(predict_clock.wall, 1e-9), 1),
        "oof": oof,
        "probabilities": probabilities,
        "thresholds": thresholds,
    }


def report_fine_tuned(result, *, full, texts, labels, codes, probs, vectors, fit_idx, val_idx, test):
    """The end of a fine-tuning run (finetune.py, finetune_top.py): unless trained on everything, thresholds
    from the validation fold and one score on the test answers; then the probabilities and vectors saved
    for combine.py and the result printed."""
    if not full:
        vp = probs[val_idx]
        th = tune_thresholds(vp, labels[val_idx])
        held = agreement(labels[test], probs[test] >= th, probs[test], codes)
        result.update(
            {
                "val_micro": agreement(labels[val_idx], vp >= th, vp, codes)["micro_f1"],
                "test_micro": held["micro_f1"],
                "test_macro": held["macro_f1"],
                "test_alpha": held["alpha"],
                "share_err_est": held["share_error_estimated_pp"],
            }
        )
    np.savez(
        CACHE / f"{result['name']}.npz",
        texts=np.array(texts, dtype=object),
        probs=probs,
        vectors=vectors,
        fit_idx=fit_idx,
        val_idx=val_idx,
    )
    print(json.dumps(result))


def pairs(labels: np.ndarray, iterations: int, target: str, rng) -> list[tuple[int, int, float]]:
    """(i, j, cosine target) pairs: per text and iteration one positive and one negative, if any."""
    codes = labels.astype(bool)
    shared = (codes.astype(int) @ codes.T.astype(int)) > 0
    union = (codes[:, None, :] | codes[None, :, :]).sum(-1)
    inter = (codes[:, None, :] & codes[None, :, :]).sum(-1)
    out = []
    for i in range(len(labels)):
        positives = np.flatnonzero(shared[i] & (np.arange(len(labels)) != i))
        negatives = np.flatnonzero(~shared[i])
        for _ in range(iterations):
            for pool in (positives, negatives):
                if len(pool):
                    j = int(rng.choice(pool))
                    value = float(shared[i, j]) if target == "binary" else inter[i, j] / max(union[i, j], 1)
                    out.append((i, j, value))
    return out


def nhs_sample(embedder_for_sample, size: int, method: str) -> dict:
    """Micro-F1 on all NHS test answers of the product's training step on a seeded sample of `size`
    training answers (all codes); `embedder_for_sample(texts, labels, codebook, seed)` gives the sentence
    embedder built from those answers only (None: the product's MiniLM)."""
    import os

    from coding.classifiers import CategorySpec
    from coding.training import agreement, codebook_for_training, train_with_cross_validation

    texts, labels, codes, train, test = data()
    idx = np.sort(np.random.default_rng(SEED).permutation(train)[:size])
    codebook = codebook_for_training([CategorySpec(code=c, label=c) for c in codes], len(idx))
    train_texts = [texts[i] for i in idx]
    with Clock() as clock:
        embedder = (
            embedder_for_sample(train_texts, labels[idx], codebook, SEED) if embedder_for_sample else None
        )
        result = train_with_cross_validation(
            train_texts,
            labels[idx],
            codes,
            classifier_id=method,
            seed=SEED,
            codebook=codebook,
            embedder=embedder,
        )
        probabilities = result.classifier.predict_proba([texts[i] for i in test])
    held = agreement(labels[test], result.accept(probabilities), probabilities, codes)
    return {
        "train_answers": len(idx),
        "method": method,
        "micro_f1": held["micro_f1"],
        "macro_f1": held["macro_f1"],
        "alpha": held["alpha"],
        "cv_micro_f1": result.metrics["micro_f1"],
        "run_cpu_s": round(clock.cpu, 1),
        "run_wall_s": round(clock.wall, 1),
        "load_average": os.getloadavg(),
    }
