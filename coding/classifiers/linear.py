"""Trained multi-label classifiers: one logistic regression per category over text features."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from coding.classifiers.base import BaseClassifier
from coding.classifiers.features import minilm, tfidf_features


class _PerCategoryLogistic(BaseClassifier):
    """Unweighted logistic regression keeps probabilities calibrated (shares are estimated from them);
    the imbalance is handled by the per-category thresholds tuned on cross-validation instead."""

    C = 16.0

    def _features_fit(self, texts: Sequence[str]) -> sparse.csr_matrix | np.ndarray:
        raise NotImplementedError

    def _features(self, texts: Sequence[str]) -> sparse.csr_matrix | np.ndarray:
        raise NotImplementedError

    def fit(self, texts: Sequence[str], labels: np.ndarray, *, seed: int) -> _PerCategoryLogistic:
        features = self._features_fit(texts)
        self.models_: list[LogisticRegression | float] = []
        for column in labels.T:
            positives = int(column.sum())
            if positives == 0 or positives == len(column):
                # Nothing to learn: the prior is the best estimate.
                self.models_.append(float(positives / max(len(column), 1)))
                continue
            # The dual solver: same model as the primal one, many times faster with more features than
            # answers (text features), which is the usual case here.
            model = LogisticRegression(
                C=self.C, solver="liblinear", dual=True, max_iter=1000, random_state=seed
            )
            model.fit(features, column)
            self.models_.append(model)
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        features = self._features(texts)
        out = np.zeros((len(texts), len(self.models_)), dtype=np.float64)
        for index, model in enumerate(self.models_):
            if isinstance(model, float):
                out[:, index] = model
            else:
                out[:, index] = model.predict_proba(features)[:, 1]
        return out


class TfidfLogistic(_PerCategoryLogistic):
    identifier = "tfidf-lr"
    version = "1"
    verbose_name = "TF-IDF (words and character n-grams) + logistic regression"

    def _features_fit(self, texts: Sequence[str]) -> sparse.csr_matrix:
        self.vectoriser_ = tfidf_features()
        return self.vectoriser_.fit_transform(texts)

    def _features(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return self.vectoriser_.transform(texts)


class TfidfMiniLMLogistic(_PerCategoryLogistic):
    identifier = "tfidf-minilm-lr"
    version = "1"
    verbose_name = "TF-IDF + MiniLM sentence embeddings (ONNX int8) + logistic regression"
    uses_embeddings = True
    # Weight of the embedding block next to the TF-IDF block (both L2-normalised per text).
    embedding_weight = 1.0

    def _embed(self, texts: Sequence[str]) -> sparse.csr_matrix:
        embedder = self.embedder or minilm()
        return sparse.csr_matrix(embedder.encode(list(texts)) * self.embedding_weight)

    def _features_fit(self, texts: Sequence[str]) -> sparse.csr_matrix:
        self.vectoriser_ = tfidf_features()
        words = self.vectoriser_.fit_transform(texts)
        return sparse.hstack([words, self._embed(texts)], format="csr")

    def _features(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return sparse.hstack([self.vectoriser_.transform(texts), self._embed(texts)], format="csr")
