"""The classifiers registry: a run names a classifier by its identifier and records its version.

Add a classifier by writing a class (coding/classifiers/base.py documents the contract) and listing it
here; nothing else changes."""

from coding.classifiers.base import BaseClassifier, CategorySpec, ZeroShotClassifier
from coding.classifiers.linear import TfidfLogistic, TfidfMiniLMLogistic, TfidfMiniLMSvm
from coding.classifiers.zeroshot import LabelMatch

CLASSIFIERS: dict[str, type[BaseClassifier]] = {
    c.identifier: c for c in (LabelMatch, TfidfLogistic, TfidfMiniLMLogistic, TfidfMiniLMSvm)
}
DEFAULT_ZERO_SHOT = LabelMatch.identifier
# From this many human-coded answers on, the default trained classifier is the Platt-calibrated SVM;
# below it, logistic regression. Measured on the NHS benchmark (docs/performance.md, "Coding"): with 5-20
# codes per category (125-506 answers) and on the reference items logistic regression codes better; at
# 1,000 answers they tie; at 2,000 and at all 5,050 the SVM codes better, estimates category shares
# better (largest error 0.84 against 2.14 points) and trains with a quarter of the CPU.
SVM_FROM_HUMAN_CODED = 2000


def default_trained(human_coded: int) -> str:
    """The classifier a trained run uses when none is asked for, by the number of human-coded answers."""
    if human_coded >= SVM_FROM_HUMAN_CODED:
        return TfidfMiniLMSvm.identifier
    return TfidfMiniLMLogistic.identifier


__all__ = [
    "CLASSIFIERS",
    "DEFAULT_ZERO_SHOT",
    "SVM_FROM_HUMAN_CODED",
    "BaseClassifier",
    "CategorySpec",
    "ZeroShotClassifier",
    "default_trained",
]
