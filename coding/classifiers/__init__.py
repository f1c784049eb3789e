"""The classifiers registry: a run names a classifier by its identifier and records its version.

Add a classifier by writing a class (coding/classifiers/base.py documents the contract) and listing it
here; nothing else changes."""

from coding.classifiers.base import BaseClassifier, CategorySpec, ZeroShotClassifier
from coding.classifiers.linear import TfidfLogistic, TfidfMiniLMLogistic, TfidfMiniLMSvm
from coding.classifiers.zeroshot import LabelMatch

CLASSIFIERS: dict[str, type[BaseClassifier]] = {
    c.identifier: c for c in (LabelMatch, TfidfLogistic, TfidfMiniLMLogistic, TfidfMiniLMSvm)
}
DEFAULT_TRAINED = TfidfMiniLMLogistic.identifier
DEFAULT_ZERO_SHOT = LabelMatch.identifier

__all__ = [
    "CLASSIFIERS",
    "DEFAULT_TRAINED",
    "DEFAULT_ZERO_SHOT",
    "BaseClassifier",
    "CategorySpec",
    "ZeroShotClassifier",
]
