"""Same text, same codes: an uncoded copy of a text people coded leans on their codes (coding/training.py,
SameTextCodes), and a category people gave only to one repeated text is learnt and coded."""

import numpy as np
import pytest

from coding import selectors, services
from coding.models import Codebook
from coding.training import SAME_TEXT_PRIOR, SameTextCodes, human_only_codes, train_with_cross_validation
from tests.coding.conftest import add_answers, code_by_human, reference

NON_ANSWER = "Did not answer"


def test_a_copy_of_a_coded_text_takes_the_share_of_its_codings_with_the_model_as_prior_codings():
    same = SameTextCodes.from_labels(
        ["Did not answer", "did not answer.", "more data"], np.array([[1, 0], [1, 0], [0, 1]])
    )
    blended = same.blend(["DID NOT ANSWER", "something new"], np.array([[0.0, 0.3], [0.2, 0.4]]))
    # Normalised text matches (case and punctuation); two codings of it gave the first category.
    assert blended[0] == pytest.approx([2 / (2 + SAME_TEXT_PRIOR), 10 * 0.3 / (2 + SAME_TEXT_PRIOR)])
    # A text nobody coded keeps the model's probabilities.
    assert blended[1] == pytest.approx([0.2, 0.4])


def test_out_of_fold_each_answer_is_left_out_of_its_own_texts_codings_and_gaps_count_for_nothing():
    texts = ["nothing", "Nothing!", "nothing", "once"]
    labels = np.array([[1, 0], [1, -1], [0, 0], [1, 1]])
    same = SameTextCodes.from_labels(texts, labels)
    oof = np.full((4, 2), 0.5)
    blended = same.blend(texts, oof, labels)
    m = SAME_TEXT_PRIOR
    # First answer: the other two codings gave category 0 once; category 1 is known in one of them only.
    assert blended[0] == pytest.approx([(1 + m * 0.5) / (2 + m), (0 + m * 0.5) / (1 + m)])
    # Second: its own gap (-1) takes nothing away; the other two are known for both and gave 0 once.
    assert blended[1] == pytest.approx([(1 + m * 0.5) / (2 + m), (0 + m * 0.5) / (2 + m)])
    # An answer coded once has no other codings: the model's out-of-fold probability stands.
    assert blended[3] == pytest.approx([0.5, 0.5])


def training_set_with_a_repeated_non_answer(copies: int = 40):
    """Reference answers plus `copies` of one non-answer, the only answers of a category "no_answer"."""
    texts, labels, codes = reference("workload_reasons", 60)
    texts = [*texts, *[NON_ANSWER] * copies]
    labels = np.vstack(
        [
            np.hstack([labels, np.zeros((60, 1), dtype=np.int8)]),
            np.zeros((copies, labels.shape[1] + 1), dtype=np.int8),
        ]
    )
    labels[60:, -1] = 1
    return texts, labels, [*codes, "no_answer"]


def test_a_category_given_only_to_one_repeated_text_is_learnt_and_not_flagged():
    """Folds are grouped by text, so no fold that scores the non-answer ever saw it: without the rule its
    out-of-fold probability was ~0, its alpha below the bar and the run never coded it."""
    texts, labels, codes = training_set_with_a_repeated_non_answer()
    result = train_with_cross_validation(texts, labels, codes, classifier_id="tfidf-lr", seed=7)
    assert "no_answer" not in human_only_codes(result.metrics)
    assert result.metrics["same_text_prior"] == SAME_TEXT_PRIOR  # recorded with the run's figures
    assert result.metrics["categories"]["no_answer"]["alpha"] > 0.9
    probabilities = result.probabilities(["did not answer", "More data every year"])
    decided = result.accept(probabilities)
    assert decided[0, codes.index("no_answer")] and not decided[1, codes.index("no_answer")]


@pytest.mark.django_db
def test_a_run_codes_uncoded_copies_of_a_text_people_coded(coded_item, django_capture_on_commit_callbacks):
    edition, pairs = coded_item
    codebook = Codebook.objects.get(edition=edition, item_code="workload_reasons")
    services.category_create(codebook=codebook, code="no_answer", label="No answer given")
    code_by_human(pairs, 50)
    coded_copies = add_answers(edition, "workload_reasons", [NON_ANSWER] * 30)
    for answer in coded_copies:
        services.answer_codes_set(answer_id=answer.pk, codes=["no_answer"], coder="A")
    uncoded = add_answers(edition, "workload_reasons", ["did not answer.", "Did not answer"])
    with django_capture_on_commit_callbacks(execute=False):
        run = services.coding_run_start(edition=edition, item_code="workload_reasons", classifier="tfidf-lr")
    assert services.coding_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert "no_answer" not in run.metrics["human_only"]
    final = selectors.final_codes(edition_id=edition.pk, item_code="workload_reasons")
    assert all(final[a.pk] == {"no_answer"} for a in uncoded)
    # The run's share estimate counts them too: 32 of the item's 112 answers.
    assert run.metrics["estimated_shares"]["no_answer"] == pytest.approx(100 * 32 / 112, abs=1.0)
