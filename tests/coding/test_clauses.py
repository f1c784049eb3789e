"""Scoring an answer clause by clause (`tfidf-minilm-map-clauses-lr`, linear.py::_ClauseMax): where an
answer splits, what the probabilities are, and that the training step tunes its thresholds on the same
rule."""

import hashlib

import numpy as np

from coding.classifiers import CLASSIFIERS, MAPPED_BELOW_HUMAN_CODED, default_trained
from coding.classifiers.features import clauses
from coding.classifiers.linear import TfidfMappedMiniLMClausesLogistic, TfidfMappedMiniLMLogistic
from coding.training import train_with_cross_validation
from tests.coding.conftest import reference


class HashedVectors:
    """A stand-in for MiniLM: a fixed unit vector per text (no model to load), recording what it embeds."""

    key, dimensions = "hashed-test-vectors", 16

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen += list(texts)
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
            vector = np.random.default_rng(seed).normal(size=self.dimensions)
            rows.append(vector / np.linalg.norm(vector))
        return np.array(rows, dtype=np.float32).reshape(len(rows), self.dimensions)


def test_an_answer_splits_where_a_sentence_or_list_item_ends_into_clauses_of_two_words_or_more():
    assert clauses("We are understaffed; every case brings more terabytes") == [
        "We are understaffed",
        "every case brings more terabytes",
    ]
    assert clauses("Too few examiners. Are phones locked? Yes, most are! Cloud storage\nlonger backlogs") == [
        "Too few examiners",
        "Are phones locked",
        "Yes, most are",
        "Cloud storage",
        "longer backlogs",
    ]
    # No joining words ("plus", "also": English only, and the synthetic reference corpus's joiners), no
    # commas or "and" (they join the parts of one reason as often as two reasons), and no full stop
    # inside a number.
    assert clauses("Too few examiners plus cloud storage, also phones are locked") == []
    assert clauses("More images and videos, bigger drives") == []
    assert clauses("Drives grew 2.5 times in size") == []
    # One clause, or one word beside it (nothing to score apart from the whole answer).
    assert clauses("Many more cases per investigator") == []
    assert clauses("Understaffed; long backlogs") == []
    assert clauses("") == []


def test_the_probability_is_the_highest_of_the_whole_answer_and_its_clauses():
    texts, labels, _codes = reference("workload_reasons", 40)
    vectors = HashedVectors()
    model = TfidfMappedMiniLMClausesLogistic(embedder=vectors).fit(texts, labels, seed=3)
    new = [
        "We are understaffed; every suspect has more devices. Data is stored abroad in the cloud",
        "Many more cases per investigator",
    ]
    probabilities = model.predict_proba(new)
    # The same fitted model, read as the map classifier it extends (whole answers only).
    whole = TfidfMappedMiniLMLogistic.predict_proba(model, new)
    parts = clauses(new[0])
    assert len(parts) == 3
    by_clause = TfidfMappedMiniLMLogistic.predict_proba(model, parts)
    np.testing.assert_allclose(probabilities[0], np.vstack([whole[:1], by_clause]).max(axis=0))
    assert (probabilities[0] > whole[0] + 1e-9).any()  # a clause says more than the blended answer
    np.testing.assert_array_equal(probabilities[1], whole[1])  # one clause: the whole answer alone
    assert set(parts) <= set(vectors.seen)  # the clauses were embedded (not stored: on demand)


def test_the_training_step_tunes_the_thresholds_on_clause_scored_out_of_fold_probabilities():
    texts, labels, codes = reference("workload_reasons", 60)
    clause_run = train_with_cross_validation(
        texts, labels, codes, classifier_id="tfidf-minilm-map-clauses-lr", seed=5, embedder=HashedVectors()
    )
    whole_run = train_with_cross_validation(
        texts, labels, codes, classifier_id="tfidf-minilm-map-lr", seed=5, embedder=HashedVectors()
    )
    # The same folds and fold models; out of fold, each answer's probability is the highest of its own
    # (the map classifier's) and its clauses', so never lower, and higher for answers that list reasons.
    assert np.all(clause_run.oof_probabilities >= whole_run.oof_probabilities - 1e-12)
    listing = [i for i, text in enumerate(texts) if clauses(text)]
    assert (
        listing
        and (clause_run.oof_probabilities[listing] > whole_run.oof_probabilities[listing] + 1e-9).any()
    )
    single = [i for i, text in enumerate(texts) if not clauses(text)]
    np.testing.assert_array_equal(clause_run.oof_probabilities[single], whole_run.oof_probabilities[single])
    # Reproducible, like every classifier.
    again = train_with_cross_validation(
        texts, labels, codes, classifier_id="tfidf-minilm-map-clauses-lr", seed=5, embedder=HashedVectors()
    )
    np.testing.assert_array_equal(again.oof_probabilities, clause_run.oof_probabilities)
    np.testing.assert_array_equal(again.thresholds, clause_run.thresholds)


def test_it_is_the_default_below_the_mapped_bar_and_reads_stored_vectors():
    assert (
        default_trained(10) == default_trained(MAPPED_BELOW_HUMAN_CODED - 1) == "tfidf-minilm-map-clauses-lr"
    )
    assert default_trained(MAPPED_BELOW_HUMAN_CODED) == "tfidf-minilm-lr"
    assert CLASSIFIERS["tfidf-minilm-map-clauses-lr"].uses_embeddings
