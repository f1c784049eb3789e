"""The classifier contract. A classifier turns texts into one probability per category.

Subclasses set `identifier`, `version` and `verbose_name`, and implement `fit` (trained classifiers) or
`describe` (zero-shot ones) and `predict_proba`. Everything is deterministic for a given seed, so a run
with the same inputs, seed and package versions gives the same codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coding.classifiers.features import Embedder


@dataclass(frozen=True)
class CategorySpec:
    code: str
    label: str
    description: str = ""
    examples: tuple[str, ...] = ()

    @property
    def document(self) -> str:
        return " ".join([self.label, self.description, *self.examples])


class BaseClassifier:
    identifier: str = ""
    version: str = ""
    verbose_name: str = ""
    #: False for zero-shot classifiers: their output is only ever a suggestion.
    trained: bool = True
    #: True if the classifier reads sentence embeddings; the coding job then hands it the stored ones.
    uses_embeddings: bool = False
    #: True if probabilities come from sigmoids fitted on cross-validated scores: training then collects
    #: `decision_function` out of fold and hands them to the final model's `calibrate`.
    calibrated_by_cross_validation: bool = False

    def __init__(self, *, embedder: Embedder | None = None) -> None:
        # None: the process-wide MiniLM session embeds on demand (the benchmark, a one-off script).
        self.embedder = embedder

    def fit(
        self, texts: Sequence[str], labels: np.ndarray, *, seed: int, sample_weight: np.ndarray | None = None
    ) -> BaseClassifier:
        raise NotImplementedError

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """An (n_texts, n_categories) array of probabilities."""
        raise NotImplementedError

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """An (n_texts, n_categories) array of scores (calibrated_by_cross_validation classifiers)."""
        raise NotImplementedError

    def calibrate(self, scores: np.ndarray, labels: np.ndarray) -> BaseClassifier:
        """Fit the score-to-probability sigmoids on out-of-fold `scores` of the training answers."""
        raise NotImplementedError

    def calibrated(self, scores: np.ndarray) -> np.ndarray:
        """Probabilities from scores, once `calibrate` has run."""
        raise NotImplementedError


class ZeroShotClassifier(BaseClassifier):
    trained = False

    def describe(self, categories: Sequence[CategorySpec]) -> ZeroShotClassifier:
        raise NotImplementedError
