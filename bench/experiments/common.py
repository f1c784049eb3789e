"""Shared pieces of the coding-quality experiments (issue #5): data, split, cached sentence vectors, and a
grouped-CV + held-out evaluation of per-category linear models over any feature blocks.

Vectors are cached in /tmp/q-cache (derived from the NHS data: never written into the repository)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.coding import DEFAULT_DATA, SEED, load, split  # noqa: E402
from coding.classifiers.linear import PlattScaling  # noqa: E402
from coding.training import agreement, grouped_folds, tune_thresholds  # noqa: E402

# Outside the repository on purpose: the vectors are derived from the NHS data.
CACHE = Path("/tmp/q-cache")  # noqa: S108


def data():
    texts, labels, codes = load(DEFAULT_DATA)
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


def evaluate(make_model, features_of, texts, labels, codes, train, test, *, folds=5, calibrate=True):
    """Grouped k-fold CV on the training answers (thresholds from out-of-fold probabilities), then the
    final model on all training answers, scored on the held-out answers with the CV thresholds.

    make_model(): object with fit(X, Y) and decision_function(X) (scores, Platt-scaled when calibrate)
    or predict_proba(X). features_of(train_idx, idx_list) -> list of matrices for idx_list, fitted on
    train_idx (TF-IDF must be fitted inside the fold)."""
    train_texts = [texts[i] for i in train]
    fold_of = grouped_folds(train_texts, folds=folds, seed=SEED)
    y = labels[train]
    oof = np.zeros(y.shape)
    with Clock() as cv_clock:
        for fold in range(folds):
            tr, te = train[fold_of != fold], train[fold_of == fold]
            xtr, xte = features_of(tr, [tr, te])
            model = make_model().fit(xtr, labels[tr])
            oof[fold_of == fold] = model.decision_function(xte) if calibrate else model.predict_proba(xte)
    with Clock() as fit_clock:
        xtr, xte = features_of(train, [train, test])
        final = make_model().fit(xtr, y)
    with Clock() as predict_clock:
        scores = final.decision_function(xte) if calibrate else final.predict_proba(xte)
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
