"""The classifiers registry: a run names a classifier by its identifier and records its version.

Add a classifier by writing a class (coding/classifiers/base.py documents the contract) and listing it
here; nothing else changes."""

from coding.classifiers.base import BaseClassifier, CategorySpec, ZeroShotClassifier
from coding.classifiers.linear import (
    TfidfLogistic,
    TfidfMappedMiniLMClausesLogistic,
    TfidfMappedMiniLMLogistic,
    TfidfMiniLMLogistic,
    TfidfMiniLMSvm,
)
from coding.classifiers.zeroshot import LabelMatch

CLASSIFIERS: dict[str, type[BaseClassifier]] = {
    c.identifier: c
    for c in (
        LabelMatch,
        TfidfLogistic,
        TfidfMiniLMLogistic,
        TfidfMappedMiniLMLogistic,
        TfidfMappedMiniLMClausesLogistic,
        TfidfMiniLMSvm,
    )
}
DEFAULT_ZERO_SHOT = LabelMatch.identifier
# Below this many human-coded answers, the default trained classifier maps the sentence vectors with a
# map learnt from the human codes first (vector_map.py). Measured (docs/performance.md, "Contrastive tuning
# without torch"): on the reference items with 10 codes per category, offender_professions alpha +0.027
# (20 draws, 10 up, 3 down), the others within noise; on the NHS benchmark micro-F1 +0.008 and +0.004 with
# 5 and 10 codes per category (125 and 248 answers), unchanged with 20 (506). The map costs about as much
# as the rest of the training step again (10 s against 5.7 s at 506 answers), 24.5 s against 10.6 s at
# 1,000: past the retraining target for no gain.
# Since 2026-12-06 (evening) that classifier also scores each answer clause by clause and keeps the
# highest probability (linear.py::_ClauseMax). On the NHS benchmark (real answers; 5, 10 and 20 codes
# per category, three samples each): macro-F1 +0.019 ± 0.007, out-of-fold micro-F1 +0.028 ± 0.004,
# held-out micro-F1 +0.006 ± 0.005 (within noise). The synthetic reference items gain more (alpha
# +0.01 to +0.06) and overstate it (docs/performance.md, "Few-shot, a fourth round").
MAPPED_BELOW_HUMAN_CODED = 500
# From this many human-coded answers on, the default trained classifier is the Platt-calibrated SVM;
# below it, logistic regression. Measured on the NHS benchmark (docs/performance.md, "The default
# classifier"): with 5-20 codes per category (125-506 answers) and on the reference items logistic
# regression codes as well or better; on random samples of 1,000 answers (three seeds) the SVM gave
# micro-F1 +0.014 to +0.030, macro-F1 +0.08 to +0.10 and half the largest share error, and it retrains in
# under half the time (4.4 s against 10.4 s, 5-fold CV included). Was 2,000, set before the shrunk
# thresholds and the relative cut.
SVM_FROM_HUMAN_CODED = 1000


def default_trained(human_coded: int) -> str:
    """The classifier a trained run uses when none is asked for, by the number of human-coded answers."""
    if human_coded >= SVM_FROM_HUMAN_CODED:
        return TfidfMiniLMSvm.identifier
    if human_coded >= MAPPED_BELOW_HUMAN_CODED:
        return TfidfMiniLMLogistic.identifier
    return TfidfMappedMiniLMClausesLogistic.identifier


__all__ = [
    "CLASSIFIERS",
    "DEFAULT_ZERO_SHOT",
    "MAPPED_BELOW_HUMAN_CODED",
    "SVM_FROM_HUMAN_CODED",
    "BaseClassifier",
    "CategorySpec",
    "ZeroShotClassifier",
    "default_trained",
]
