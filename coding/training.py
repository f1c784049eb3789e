"""Training and evaluation, free of Django: cross-validated probabilities, thresholds, agreement.

Used by the coding job (coding/services.py) and by the benchmark (bench/coding.py), so the figures the
benchmark prints are the figures the product computes."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import krippendorff
import numpy as np

from coding.classifiers import CLASSIFIERS, BaseClassifier, CategorySpec
from coding.classifiers.features import Embedder, normalise_text

# Below this cross-validated alpha a category's automatic codes are not used ("human coding only").
ALPHA_HUMAN_ONLY = 0.667
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)
# Candidate relative cuts (`decide`); 0 keeps every category over its threshold. On the NHS benchmark
# cross-validation chose 0.35 and it raised held-out micro-F1 by 0.018 (docs/performance.md, "Coding").
RELATIVE_CUT_GRID = np.round(np.arange(0.0, 0.801, 0.05), 2)
# Each category's threshold is shrunk towards one shared threshold by its number of human positives n:
# (n t_k + THRESHOLD_SHRINKAGE t) / (n + THRESHOLD_SHRINKAGE) (`shrink_thresholds`). A threshold tuned
# on ten positives mostly fits their noise; with hundreds the category's own threshold stays. Measured
# with 5-20 codes per category (docs/performance.md, "Few-shot: the thresholds"): 20 raised alpha on the
# reference items (mean of 10 samples) and micro- and macro-F1 on the NHS benchmark; 5 gained less, 100
# and the shared threshold alone cost offender_professions.
THRESHOLD_SHRINKAGE = 20.0
# The codebook's own texts are training data below this many human-coded answers, each weighing as much
# as CODEBOOK_TEXT_WEIGHT answers. Measured (docs/performance.md, "The codebook as training data"): with
# 5-80 codes per category they raised alpha on the reference items and micro-F1 on the NHS benchmark (up to
# 1,474 answers); with all 5,050 NHS answers they changed micro-F1 by -0.002 (noise), so they are left out
# where human codes are plenty. Weight 3 beat 0.5, 1, 2 and 5 on the reference items.
CODEBOOK_TEXTS_BELOW_HUMAN_CODED = 2000
CODEBOOK_TEXT_WEIGHT = 3.0
# An answer whose normalised text people have coded takes, for each category, the share of those codings
# that carry it, with the model's probability counting as SAME_TEXT_PRIOR codings (`SameTextCodes`).
# Why: the folds are grouped by text, so a category people gave only to one repeated text ("Did not
# answer", 950 codings) is never learnt by the folds that score that text; its calibrated probability
# was ~0 and it was never coded (docs/performance.md, "Same text, same codes"). Where repeated texts
# carry no category of their own, the model knows them as well as their few codings do: a prior of 10
# cost 0.001 micro-F1 there, 0 and 1 cost 0.003 and 0.002.
SAME_TEXT_PRIOR = 10.0


def grouped_folds(texts: Sequence[str], *, folds: int, seed: int) -> np.ndarray:
    """A fold number per text; equal normalised texts share a fold, so no text is in train and test."""
    groups = sorted({normalise_text(t) for t in texts})
    order = np.random.default_rng(seed).permutation(len(groups))
    fold_of = {groups[g]: i % folds for i, g in enumerate(order)}
    return np.array([fold_of[normalise_text(t)] for t in texts])


def alpha_binary(human: np.ndarray, machine: np.ndarray) -> float | None:
    """Krippendorff's alpha (nominal) between two coders over the same units; None when undefined
    (a single value everywhere, e.g. a category nobody used)."""
    return alpha_nominal(np.vstack([human, machine]))


def alpha_nominal(reliability: np.ndarray) -> float | None:
    """Krippendorff's alpha (nominal) of a (coders, units) matrix, NaN where a unit has fewer values than
    the matrix has rows (any number of coders per unit); None when undefined (no unit with two values,
    or a single value everywhere)."""
    data = np.asarray(reliability, dtype=float)
    if data.size == 0 or not ((~np.isnan(data)).sum(axis=0) >= 2).any():
        return None
    if np.nanmin(data) == np.nanmax(data):
        return None
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def f1(tp: int, fp: int, fn: int) -> float:
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def micro_f1(truth: np.ndarray, predicted: np.ndarray, known: np.ndarray | None = None) -> float:
    """F1 over every (answer, category) pair of two boolean arrays (only the `known` pairs if given)."""
    if known is not None:
        truth, predicted = truth[known], predicted[known]
    tp = int((predicted & truth).sum())
    return f1(tp, int((predicted & ~truth).sum()), int((~predicted & truth).sum()))


# Human labels are 1 (given), 0 (not given) or -1: the answer's coding says nothing about the category
# (its coder was not offered it: coding/finals.py). A -1 is left out of that category's model, and of
# every figure below, as the classifiers leave out a codebook text's other categories.
def _given(labels: np.ndarray) -> np.ndarray:
    return np.asarray(labels) > 0


def _known(labels: np.ndarray) -> np.ndarray:
    return np.asarray(labels) >= 0


def tune_thresholds(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per category, the threshold that maximises F1 on out-of-fold probabilities (0.5 if no positive)."""
    thresholds = np.full(labels.shape[1], 0.5)
    for k in range(labels.shape[1]):
        rows = _known(labels[:, k])
        truth = _given(labels[rows, k])
        if not truth.any():
            continue
        best = (-1.0, 0.5)
        for threshold in THRESHOLD_GRID:
            predicted = probabilities[rows, k] >= threshold
            tp = int((predicted & truth).sum())
            score = f1(tp, int((predicted & ~truth).sum()), int((~predicted & truth).sum()))
            # Ties go to the threshold nearest 0.5, so tiny samples do not pick extremes.
            if score > best[0] + 1e-12 or (
                abs(score - best[0]) <= 1e-12 and abs(threshold - 0.5) < abs(best[1] - 0.5)
            ):
                best = (score, float(threshold))
        thresholds[k] = best[1]
    return thresholds


def max_codes_coded(labels: np.ndarray) -> int:
    """The most categories any one human-coded answer carries: the cap on automatic codes per answer.
    With few human codes the thresholds let a weak third category through beside two clear ones, which
    the coders never gave one answer. Measured (docs/performance.md, "At most as many codes as the coders
    gave"): alpha rose on the three reference items with 10 codes per category; on the NHS benchmark,
    where coders gave up to 8, nothing changed."""
    return int(_given(labels).sum(axis=1).max(initial=0))


def tune_shared_threshold(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The one threshold for every category that, with the best relative cut, maximises micro-F1 on
    out-of-fold probabilities (ties go to the lowest)."""
    truth, known = _given(labels), _known(labels)
    best = (-1.0, 0.5)
    for threshold in THRESHOLD_GRID:
        for cut in RELATIVE_CUT_GRID:
            predicted = decide(probabilities, np.full(labels.shape[1], threshold), float(cut))
            score = micro_f1(truth, predicted, known)
            if score > best[0] + 1e-12:
                best = (score, float(threshold))
    return best[1]


def shrink_thresholds(
    probabilities: np.ndarray, labels: np.ndarray, shrinkage: float = THRESHOLD_SHRINKAGE
) -> np.ndarray:
    """Per-category thresholds (`tune_thresholds`) shrunk towards the shared one by support (see
    THRESHOLD_SHRINKAGE); a category without positives gets the shared one."""
    support = _given(labels).sum(axis=0)
    shared = tune_shared_threshold(probabilities, labels)
    return (support * tune_thresholds(probabilities, labels) + shrinkage * shared) / (support + shrinkage)


def tune_decision_rule(probabilities: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, float, int]:
    """The decision rule a training step chooses on out-of-fold probabilities: per-category thresholds
    shrunk towards the shared one (`shrink_thresholds`), then the relative cut (`tune_relative_cut`), and
    at most as many codes per answer as the coders gave (`max_codes_coded`); all three go to `decide`.
    The cap is not part of the tuning: tuned under the cap, the cut came out lower and cost
    offender_professions 0.02 alpha (docs/performance.md)."""
    thresholds = shrink_thresholds(probabilities, labels)
    return thresholds, tune_relative_cut(probabilities, labels, thresholds), max_codes_coded(labels)


def decide(
    probabilities: np.ndarray,
    thresholds: np.ndarray,
    relative_cut: float = 0.0,
    max_codes: int | None = None,
) -> np.ndarray:
    """The automatic codes: a category is given when its probability reaches its threshold and is at
    least `relative_cut` times the answer's most probable category's, and then only the `max_codes` most
    probable of those. Per-category thresholds alone over-code (each is tuned for its own F1, blind to the
    answer's other categories): a weak second code beside a clear first one was mostly wrong on the NHS
    benchmark."""
    if probabilities.size == 0:
        return np.zeros(probabilities.shape, dtype=bool)
    passed = probabilities >= thresholds[None, :]
    if relative_cut > 0:
        passed &= probabilities >= relative_cut * probabilities.max(axis=1, keepdims=True)
    if max_codes is not None:
        over = passed.sum(axis=1) > max_codes
        if over.any():
            # Rank the passing categories of those answers, most probable first (ties by column order).
            passing = np.where(passed[over], probabilities[over], -np.inf)
            rank = np.argsort(np.argsort(-passing, axis=1, kind="stable"), axis=1, kind="stable")
            passed[over] &= rank < max_codes
    return passed


def tune_relative_cut(probabilities: np.ndarray, labels: np.ndarray, thresholds: np.ndarray) -> float:
    """The relative cut that maximises micro-F1 on out-of-fold probabilities; ties go to the smallest
    (0, no cut, when nothing is gained)."""
    truth, known = _given(labels), _known(labels)
    best = (-1.0, 0.0)
    for cut in RELATIVE_CUT_GRID:
        score = micro_f1(truth, decide(probabilities, thresholds, float(cut)), known)
        if score > best[0] + 1e-12:
            best = (score, float(cut))
    return best[1]


def agreement(
    labels: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray | None, codes: Sequence[str]
) -> dict[str, Any]:
    """Micro/macro F1, alpha per category and overall, precision, recall and share errors."""
    per_category: dict[str, dict[str, Any]] = {}
    tps = fps = fns = 0
    f1s = []
    for k, code in enumerate(codes):
        rows = _known(labels[:, k])  # answers whose coding says nothing about the category left out
        truth, guess = _given(labels[rows, k]), predicted[rows, k].astype(bool)
        tp, fp, fn = int((truth & guess).sum()), int((~truth & guess).sum()), int((truth & ~guess).sum())
        tps, fps, fns = tps + tp, fps + fp, fns + fn
        category_f1 = f1(tp, fp, fn)
        f1s.append(category_f1)
        human_share = float(truth.mean()) if len(truth) else 0.0
        entry = {
            "support": int(truth.sum()),
            "precision": None if tp + fp == 0 else round(tp / (tp + fp), 4),
            "recall": None if tp + fn == 0 else round(tp / (tp + fn), 4),
            "f1": round(category_f1, 4),
            "alpha": _round(alpha_binary(truth.astype(int), guess.astype(int))),
            "share_human": round(100 * human_share, 2),
            "share_hard": round(100 * float(guess.mean()), 2) if len(guess) else 0.0,
        }
        if probabilities is not None and len(truth):
            entry["share_estimated"] = round(100 * float(probabilities[rows, k].mean()), 2)
        per_category[code] = entry
    known = _known(labels)
    overall_alpha = alpha_binary(_given(labels[known]).astype(int), predicted[known].astype(int))
    # Share errors only where human codes speak for the category: a category every human-coded answer is
    # unknown for (added after they were coded) has no human share to compare with (and no estimated one).
    compared = [per_category[code] for k, code in enumerate(codes) if _known(labels[:, k]).any()]
    share_errors_hard = [abs(e["share_hard"] - e["share_human"]) for e in compared]
    result: dict[str, Any] = {
        "n": int(labels.shape[0]),
        "micro_f1": round(f1(tps, fps, fns), 4),
        "macro_f1": round(float(np.mean(f1s)) if f1s else 0.0, 4),
        "alpha": _round(overall_alpha),
        "share_error_hard_pp": _summary(share_errors_hard),
        "categories": per_category,
    }
    if probabilities is not None:
        result["share_error_estimated_pp"] = _summary(
            [abs(e["share_estimated"] - e["share_human"]) for e in compared]
        )
    return result


def _round(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 4)


def _summary(errors: list[float]) -> dict[str, float]:
    if not errors:
        return {"mean": 0.0, "max": 0.0}
    return {"mean": round(float(np.mean(errors)), 3), "max": round(float(np.max(errors)), 3)}


def review_priority(probabilities: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How much coding an answer would teach the model: the summed closeness of each category's
    probability to its decision threshold (uncertainty sampling, multi-label form), in [0, n_categories]."""
    cut = thresholds[None, :]
    distance = np.abs(probabilities - cut)
    scale = np.where(probabilities >= cut, 1 - cut, cut)
    return (1 - np.clip(distance / np.maximum(scale, 1e-6), 0, 1)).sum(axis=1)


@dataclass(frozen=True)
class CodebookTexts:
    """The codebook as training data: each category's label + description, and each of its examples,
    as an extra positive text of that category, in the training side of every fold (never scored).
    `negatives`: also a negative of the other categories (else -1, left out of their models)."""

    texts: tuple[str, ...]
    labels: np.ndarray = field(repr=False)
    weight: float = 1.0
    negatives: bool = True

    @classmethod
    def from_categories(
        cls,
        categories: Sequence[CategorySpec],
        *,
        weight: float = CODEBOOK_TEXT_WEIGHT,
        negatives: bool = True,
    ) -> CodebookTexts:
        texts: list[str] = []
        rows: list[list[int]] = []
        other = 0 if negatives else -1
        for k, category in enumerate(categories):
            own = [" ".join(p for p in (category.label, category.description) if p), *category.examples]
            for text in own:
                if text.strip():
                    texts.append(text)
                    rows.append([1 if j == k else other for j in range(len(categories))])
        labels = np.array(rows, dtype=np.int8).reshape(len(rows), len(categories))
        return cls(tuple(texts), labels, weight, negatives)

    def describe(self) -> dict[str, Any]:
        """What a run records about them (its metrics)."""
        return {"texts": len(self.texts), "weight": self.weight, "negatives": self.negatives}


def codebook_for_training(categories: Sequence[CategorySpec], human_coded: int) -> CodebookTexts | None:
    """The codebook texts a trained run learns from besides its human codes: none from
    CODEBOOK_TEXTS_BELOW_HUMAN_CODED human-coded answers on."""
    if human_coded >= CODEBOOK_TEXTS_BELOW_HUMAN_CODED:
        return None
    return CodebookTexts.from_categories(categories)


def _fit(
    classifier_cls: type[BaseClassifier],
    embedder: Embedder | None,
    texts: list[str],
    labels: np.ndarray,
    seed: int,
    codebook: CodebookTexts | None,
) -> BaseClassifier:
    model = classifier_cls(embedder=embedder)
    if codebook is None or not codebook.texts:
        return model.fit(texts, labels, seed=seed)
    weights = np.concatenate([np.ones(len(texts)), np.full(len(codebook.texts), codebook.weight)])
    return model.fit(
        [*texts, *codebook.texts], np.vstack([labels, codebook.labels]), seed=seed, sample_weight=weights
    )


@dataclass(frozen=True)
class SameTextCodes:
    """People's codes by normalised text: per text, how many codings know each category (not a gap, -1)
    and how many gave it."""

    known: dict[str, np.ndarray] = field(repr=False)
    given: dict[str, np.ndarray] = field(repr=False)

    @classmethod
    def from_labels(cls, texts: Sequence[str], labels: np.ndarray) -> SameTextCodes:
        known: dict[str, np.ndarray] = {}
        given: dict[str, np.ndarray] = {}
        for text, row in zip(texts, labels, strict=True):
            key = normalise_text(text)
            known[key] = known.get(key, 0) + (row >= 0)
            given[key] = given.get(key, 0) + (row == 1)
        return cls(known, given)

    def blend(
        self, texts: Sequence[str], probabilities: np.ndarray, own_labels: np.ndarray | None = None
    ) -> np.ndarray:
        """`probabilities` of `texts`, with people's codes of the same text weighed in. `own_labels`: the
        texts are the coded answers themselves (out-of-fold figures), each left out of its text's counts,
        so an answer coded once keeps the model's probability."""
        blended = np.array(probabilities, dtype=np.float64)
        for i, text in enumerate(texts):
            key = normalise_text(text)
            if key not in self.known:
                continue
            known, given = self.known[key], self.given[key]
            if own_labels is not None:
                known, given = known - (own_labels[i] >= 0), given - (own_labels[i] == 1)
            blended[i] = (given + SAME_TEXT_PRIOR * blended[i]) / (known + SAME_TEXT_PRIOR)
        return blended


@dataclass
class TrainResult:
    classifier: BaseClassifier
    thresholds: np.ndarray
    metrics: dict[str, Any]
    oof_probabilities: np.ndarray = field(repr=False)
    relative_cut: float = 0.0
    max_codes: int | None = None
    same_text: SameTextCodes | None = None

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """The final model's probabilities, people's codes of the same text weighed in."""
        predicted = self.classifier.predict_proba(texts)
        return self.same_text.blend(texts, predicted) if self.same_text else predicted

    def accept(self, probabilities: np.ndarray) -> np.ndarray:
        """Which categories each answer gets automatically (thresholds, relative cut, codes per answer)."""
        return decide(probabilities, self.thresholds, self.relative_cut, self.max_codes)


def train_with_cross_validation(
    texts: Sequence[str],
    labels: np.ndarray,
    codes: Sequence[str],
    *,
    classifier_id: str,
    seed: int,
    folds: int = 5,
    progress: Callable[[float], None] | None = None,
    embedder: Embedder | None = None,
    codebook: CodebookTexts | None = None,
) -> TrainResult:
    """Out-of-fold probabilities → thresholds per category (shrunk towards a shared one) and the
    relative cut → agreement with the human codes; then the final model on all human-coded answers.
    `progress` gets fractions in [0, 1]; `embedder` gives the sentence vectors (the coding job passes the
    stored ones, so no fold embeds a text again). `codebook`: extra training texts from the categories'
    own descriptions.

    A classifier with `calibrated_by_cross_validation` gives out-of-fold scores instead; its sigmoids are
    fitted on them (the final model gets them through `calibrate`), and thresholds and agreement are
    computed on the calibrated out-of-fold probabilities."""
    report = progress or (lambda fraction: None)
    classifier_cls = CLASSIFIERS[classifier_id]
    calibrated = classifier_cls.calibrated_by_cross_validation
    folds = max(2, min(folds, len({normalise_text(t) for t in texts})))
    fold_of = grouped_folds(texts, folds=folds, seed=seed)
    oof = np.zeros(labels.shape, dtype=np.float64)
    texts = list(texts)
    for fold in range(folds):
        test = np.flatnonzero(fold_of == fold)
        train = np.flatnonzero(fold_of != fold)
        model = _fit(classifier_cls, embedder, [texts[i] for i in train], labels[train], seed, codebook)
        held_out = [texts[i] for i in test]
        oof[test] = model.decision_function(held_out) if calibrated else model.predict_proba(held_out)
        report((fold + 1) / (folds + 1))
    final = _fit(classifier_cls, embedder, texts, labels, seed, codebook)
    if calibrated:
        oof = final.calibrate(oof, labels).calibrated(oof)
    # What the run will give an uncoded copy of a coded text, so thresholds and figures judge the same rule.
    same_text = SameTextCodes.from_labels(texts, labels)
    oof = same_text.blend(texts, oof, labels)
    thresholds, relative_cut, max_codes = tune_decision_rule(oof, labels)
    metrics = agreement(labels, decide(oof, thresholds, relative_cut, max_codes), oof, codes)
    metrics["folds"] = folds
    metrics["thresholds"] = {code: float(t) for code, t in zip(codes, thresholds, strict=True)}
    metrics["relative_cut"] = relative_cut
    metrics["threshold_shrinkage"] = THRESHOLD_SHRINKAGE
    metrics["same_text_prior"] = SAME_TEXT_PRIOR
    metrics["max_codes"] = max_codes
    # What the final model learnt besides its weights (e.g. the map over the sentence vectors).
    metrics["classifier_fit"] = getattr(final, "fit_report_", None)
    report(1.0)
    return TrainResult(
        classifier=final,
        thresholds=thresholds,
        metrics=metrics,
        oof_probabilities=oof,
        relative_cut=relative_cut,
        max_codes=max_codes,
        same_text=same_text,
    )


def human_only_codes(metrics: dict[str, Any]) -> list[str]:
    """Categories whose cross-validated alpha is below the bar (or undefined)."""
    return [
        code
        for code, entry in metrics.get("categories", {}).items()
        if entry.get("alpha") is None or entry["alpha"] < ALPHA_HUMAN_ONLY
    ]
