"""Trained multi-label classifiers: one linear model per category over text features (TF-IDF words and
character n-grams, optionally MiniLM sentence embeddings): logistic regression, or a linear SVM whose
scores are turned into probabilities by Platt scaling on the cross-validation's out-of-fold scores."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from coding.classifiers.base import BaseClassifier
from coding.classifiers.features import Embedder, clauses, minilm, tfidf_features
from coding.classifiers.vector_map import learn_vector_map


class _PerCategoryLinear(BaseClassifier):
    """One linear model per category; a category with a single value in the training answers keeps its
    prior (nothing to learn)."""

    C = 1.0

    def _features_fit(
        self, texts: Sequence[str], labels: np.ndarray, seed: int
    ) -> sparse.csr_matrix | np.ndarray:
        raise NotImplementedError

    def _features(self, texts: Sequence[str]) -> sparse.csr_matrix | np.ndarray:
        raise NotImplementedError

    def _estimator(self, seed: int) -> LogisticRegression | LinearSVC:
        raise NotImplementedError

    def fit(
        self, texts: Sequence[str], labels: np.ndarray, *, seed: int, sample_weight: np.ndarray | None = None
    ) -> _PerCategoryLinear:
        """`labels` 1/0 per text and category, or -1 where a text says nothing about a category (a
        codebook text of another category, coding/training.py::CodebookTexts): left out of its model."""
        features = self._features_fit(texts, labels, seed)
        self.models_: list[LogisticRegression | LinearSVC | float] = []
        for column in labels.T:
            rows = np.flatnonzero(column >= 0)
            known = column[rows]
            positives = int(known.sum())
            if positives == 0 or positives == len(known):
                self.models_.append(float(positives / max(len(known), 1)))
                continue
            whole = len(rows) == len(column)
            weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)[rows]
            self.models_.append(
                self._estimator(seed).fit(features if whole else features[rows], known, sample_weight=weights)
            )
        return self

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Scores per category (higher: more likely); a kept prior scores as its log-odds."""
        features = self._features(texts)
        out = np.zeros((len(texts), len(self.models_)), dtype=np.float64)
        for index, model in enumerate(self.models_):
            if isinstance(model, float):
                prior = min(max(model, 1e-4), 1 - 1e-4)
                out[:, index] = np.log(prior / (1 - prior))
            else:
                out[:, index] = model.decision_function(features)
        return out


class _PerCategoryLogistic(_PerCategoryLinear):
    """Unweighted logistic regression keeps probabilities calibrated (shares are estimated from them);
    the imbalance is handled by the per-category thresholds tuned on cross-validation instead."""

    C = 16.0

    def _estimator(self, seed: int) -> LogisticRegression:
        # The dual solver: the same model as the primal one, many times faster with more features than
        # answers (text features), which is the usual case here.
        return LogisticRegression(C=self.C, solver="liblinear", dual=True, max_iter=1000, random_state=seed)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        features = self._features(texts)
        out = np.zeros((len(texts), len(self.models_)), dtype=np.float64)
        for index, model in enumerate(self.models_):
            if isinstance(model, float):
                out[:, index] = model
            else:
                out[:, index] = model.predict_proba(features)[:, 1]
        return out


class PlattScaling:
    """Per category, a sigmoid from decision scores to probabilities (Platt, 1999), fitted on
    out-of-fold scores with Platt's smoothed targets ((N+ + 1) / (N+ + 2) for positives, 1 / (N- + 2) for
    negatives), so a category separated perfectly in a small sample does not get probabilities of exactly
    0 and 1. This is what scikit-learn's CalibratedClassifierCV(method="sigmoid", ensemble=False) does,
    here on the cross-validation's own folds (grouped by normalised text) instead of a second, nested
    cross-validation that would cost four fits per category instead of one."""

    def fit(self, scores: np.ndarray, labels: np.ndarray) -> PlattScaling:
        self.sigmoids_: list[tuple[float, float] | float] = []
        for k in range(labels.shape[1]):
            # -1: the answer says nothing about the category (left out, as in `fit`).
            rows = np.flatnonzero(labels[:, k] >= 0)
            column = labels[rows, k].astype(int)
            positives = int(column.sum())
            if positives == 0 or positives == len(column):
                self.sigmoids_.append(float(positives / max(len(column), 1)))
                continue
            high, low = (positives + 1) / (positives + 2), 1 / (len(column) - positives + 2)
            targets = np.where(column == 1, high, low)
            # Each answer twice, as a positive weighted by its target and a negative by the rest.
            x = np.concatenate([scores[rows, k], scores[rows, k]])[:, None]
            y = np.concatenate([np.ones(len(column)), np.zeros(len(column))])
            weights = np.concatenate([targets, 1 - targets])
            sigmoid = LogisticRegression(C=1e6, solver="lbfgs").fit(x, y, sample_weight=weights)
            self.sigmoids_.append((float(sigmoid.coef_[0, 0]), float(sigmoid.intercept_[0])))
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        out = np.zeros(scores.shape, dtype=np.float64)
        for k, sigmoid in enumerate(self.sigmoids_):
            if isinstance(sigmoid, float):
                out[:, k] = sigmoid
            else:
                slope, intercept = sigmoid
                out[:, k] = 1.0 / (1.0 + np.exp(-(slope * scores[:, k] + intercept)))
        return out


class _PerCategorySvm(_PerCategoryLinear):
    """Linear SVM (hinge loss) per category: on these features it beat logistic regression in grouped
    cross-validation on the training answers, at about a quarter of the CPU (docs/performance.md). Its
    scores become probabilities through PlattScaling, fitted by the training step
    (coding/training.py) on out-of-fold scores and handed over with `calibrate`."""

    # Chosen by grouped 5-fold cross-validation on 2,000 training answers of the NHS benchmark (micro-F1
    # 0.666 at C=0.1, 0.649 at 0.25, 0.642 at 0.5, 0.613 at 1); its test answers were not used.
    C = 0.1
    calibrated_by_cross_validation = True

    def _estimator(self, seed: int) -> LinearSVC:
        return LinearSVC(C=self.C, random_state=seed)

    def calibrate(self, scores: np.ndarray, labels: np.ndarray) -> _PerCategorySvm:
        self.calibration_ = PlattScaling().fit(scores, labels)
        return self

    def calibrated(self, scores: np.ndarray) -> np.ndarray:
        if not hasattr(self, "calibration_"):
            raise RuntimeError(f"{self.identifier} is calibrated by the training step; call calibrate first")
        return self.calibration_.transform(scores)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.calibrated(self.decision_function(texts))


class _TfidfFeatures:
    def _features_fit(self, texts: Sequence[str], labels: np.ndarray, seed: int) -> sparse.csr_matrix:
        self.vectoriser_ = tfidf_features()
        return self.vectoriser_.fit_transform(texts)

    def _features(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return self.vectoriser_.transform(texts)


class _TfidfMiniLMFeatures:
    uses_embeddings = True
    embedder: Embedder | None
    # Weight of the embedding block next to the TF-IDF block (both L2-normalised per text); 2 did worse
    # in cross-validation.
    embedding_weight = 1.0

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        return (self.embedder or minilm()).encode(list(texts))

    def _block(self, vectors: np.ndarray) -> sparse.csr_matrix:
        return sparse.csr_matrix(vectors * self.embedding_weight)

    def _vectors_fit(self, texts: Sequence[str], labels: np.ndarray, seed: int) -> np.ndarray:
        """The training texts' vectors (a subclass may learn from them first)."""
        return self._vectors(texts)

    def _features_fit(self, texts: Sequence[str], labels: np.ndarray, seed: int) -> sparse.csr_matrix:
        self.vectoriser_ = tfidf_features()
        words = self.vectoriser_.fit_transform(texts)
        embedded = self._block(self._vectors_fit(texts, labels, seed))
        return sparse.hstack([words, embedded], format="csr")

    def _features(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return sparse.hstack(
            [self.vectoriser_.transform(texts), self._block(self._vectors(texts))], format="csr"
        )


class _TfidfMappedMiniLMFeatures(_TfidfMiniLMFeatures):
    """The MiniLM block through a linear map learnt from the training texts' codes (vector_map.py), so each
    cross-validation fold learns its own map from its own training answers only."""

    def _vectors_fit(self, texts: Sequence[str], labels: np.ndarray, seed: int) -> np.ndarray:
        # Embedded once: the map is learnt from these vectors, then applied to them.
        vectors = super()._vectors(texts)
        self.vector_map_ = learn_vector_map(vectors, labels, seed=seed)
        self.fit_report_ = {"vector_map": self.vector_map_.report}
        return self.vector_map_.apply(vectors)

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        return self.vector_map_.apply(super()._vectors(texts))


class _ClauseMax:
    """An answer's probability of a category is the highest of its own and each of its clauses'
    (features.clauses). The model is trained on whole answers as before; an answer listing two reasons
    blends them into one mean-pooled vector, which a few training answers per category cannot undo,
    while each clause alone reads as its own reason. The training step's out-of-fold probabilities go
    through the same rule, so the thresholds are tuned for it. The clauses' vectors are not stored: the
    embedder computes them on demand (once per run: StoredEmbeddings keeps them). What it gains is
    recorded once, where it was made the default (coding/classifiers/__init__.py)."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return highest_of_answer_and_clauses(super().predict_proba, texts)


def highest_of_answer_and_clauses(
    score: Callable[[Sequence[str]], np.ndarray],
    texts: Sequence[str],
    split: Callable[[str], list[str]] = clauses,
) -> np.ndarray:
    """Per text and category, the highest `score` of the text and of its clauses (`split`: [] for a text
    scored whole only)."""
    whole = score(texts)
    pieces: list[str] = []
    owner: list[int] = []
    for index, text in enumerate(texts):
        parts = split(text)
        pieces += parts
        owner += [index] * len(parts)
    if pieces:
        np.maximum.at(whole, np.asarray(owner), score(pieces))
    return whole


class TfidfLogistic(_TfidfFeatures, _PerCategoryLogistic):
    identifier = "tfidf-lr"
    version = "1"
    verbose_name = "TF-IDF (words and character n-grams) + logistic regression"


class TfidfMiniLMLogistic(_TfidfMiniLMFeatures, _PerCategoryLogistic):
    identifier = "tfidf-minilm-lr"
    version = "1"
    verbose_name = "TF-IDF + MiniLM sentence embeddings (ONNX int8) + logistic regression"


class TfidfMappedMiniLMLogistic(_TfidfMappedMiniLMFeatures, _PerCategoryLogistic):
    identifier = "tfidf-minilm-map-lr"
    # 2: no pair of two answers coded "no category applies", and overlaps over the categories both
    # codings speak for (vector_map.training_pairs).
    version = "2"
    verbose_name = (
        "TF-IDF + MiniLM sentence embeddings (ONNX int8) through a map learnt from the human codes + "
        "logistic regression"
    )


class TfidfMappedMiniLMClausesLogistic(_ClauseMax, TfidfMappedMiniLMLogistic):
    identifier = "tfidf-minilm-map-clauses-lr"
    # 2: clauses end only where a sentence or a list item ends (features.CLAUSE_BOUNDARY), no longer at
    # "plus" and "also".
    version = "2"
    verbose_name = (
        "TF-IDF + MiniLM sentence embeddings (ONNX int8) through a map learnt from the human codes + "
        "logistic regression, each answer scored as a whole and clause by clause (highest probability)"
    )


class TfidfMiniLMSvm(_TfidfMiniLMFeatures, _PerCategorySvm):
    identifier = "tfidf-minilm-svm"
    version = "1"
    verbose_name = "TF-IDF + MiniLM sentence embeddings (ONNX int8) + linear SVM, Platt-calibrated"
