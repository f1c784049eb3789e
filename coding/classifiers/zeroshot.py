"""Zero-shot suggestions from the category labels, descriptions and examples (no human codes needed).

Weak by nature (matching code names alone reached micro-F1 0.24 on the public NHS data), so its output
is stored as suggestions and never counted as a code."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from coding.classifiers.base import CategorySpec, ZeroShotClassifier


class LabelMatch(ZeroShotClassifier):
    identifier = "label-match"
    version = "1"
    verbose_name = "Similarity to the category label, description and examples (character n-grams)"
    # Cosine similarity that maps to probability 0.5; chosen on the reference frames, not tuned per run.
    midpoint = 0.12
    steepness = 25.0

    def describe(self, categories: Sequence[CategorySpec]) -> LabelMatch:
        self.documents_ = [c.document for c in categories]
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        vectoriser = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
        matrix = vectoriser.fit_transform([*self.documents_, *texts])
        documents, answers = matrix[: len(self.documents_)], matrix[len(self.documents_) :]
        similarity = (answers @ documents.T).toarray()
        return 1.0 / (1.0 + np.exp(-self.steepness * (similarity - self.midpoint)))
