"""The product on the NHS data under the dataset maintainers' own protocol (issue #5), to set our
micro-F1 beside the figures they published for this framework (pxtextmining, current_best_model/
v6_framework: DistilBERT 0.72, XGBoost 0.72, SVC 0.70 micro-F1).

Their protocol differs from bench/coding.py's in two ways that both raise the figure:
- a random 80/20 split of rows (sklearn's train_test_split, random_state 42), so a text repeated in
  the data ("Nothing.", 453 copies) is on both sides;
- the 1,189 "Did not answer" rows stay in, coded "Labelling not possible", which any model gets right.

Variants: `ours` (bench/coding.py's protocol), `rows` (random row split, non-answers dropped), `rows+lnp`
(random row split, non-answers kept as a code; micro-F1 also given without that code); each with the
product's same-text rule (coding/training.py::SameTextCodes) and without it ("model-only"), side by side.
Usage: .venv/bin/python bench/experiments/maintainers_protocol.py [--variants ours,rows,rows+lnp]"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from contextlib import nullcontext
from unittest.mock import patch

import numpy as np
from common import ROOT  # noqa: F401  (puts the repository on sys.path)
from sklearn.model_selection import train_test_split

from bench.coding import (
    DEFAULT_DATA,
    FIRST_CODE_COLUMN,
    MIN_EXAMPLES,
    NON_ANSWER,
    SEED,
    split,
    stored_vectors,
)
from coding.classifiers import default_trained
from coding.classifiers.features import MiniLMEmbedder
from coding.training import SameTextCodes, agreement, train_with_cross_validation


def model_only(self, texts, probabilities, own_labels=None):
    """SameTextCodes.blend switched off: the product before the same-text rule."""
    return np.array(probabilities, dtype=np.float64)


def rows_with_non_answers():
    """Every row with a text, the non-answers included; codes with at least MIN_EXAMPLES examples."""
    with DEFAULT_DATA.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    start, text_col = header.index(FIRST_CODE_COLUMN), header.index("FFT answer")
    names = header[start:]
    texts, labels = [], []
    for row in rows:
        if row[text_col].strip():
            texts.append(row[text_col].strip())
            labels.append([1 if c.strip() in {"1", "1.0"} else 0 for c in row[start:]])
    matrix = np.array(labels, dtype=np.int8)
    keep = [k for k in range(len(names)) if matrix[:, k].sum() >= MIN_EXAMPLES]
    return texts, matrix[:, keep], [names[k] for k in keep]


def evaluate(texts, labels, codes, train, test, stored):
    seen = {texts[j] for j in train}
    classifier = default_trained(len(train))
    result = train_with_cross_validation(
        [texts[i] for i in train], labels[train], codes, classifier_id=classifier, seed=SEED, embedder=stored
    )
    probabilities = result.probabilities([texts[i] for i in test])
    decided = result.accept(probabilities)
    metrics = agreement(labels[test], decided, probabilities, codes)
    row = {
        "classifier": classifier,
        "train": len(train),
        "test": len(test),
        "codes": len(codes),
        "micro_f1": metrics["micro_f1"],
        "macro_f1": metrics["macro_f1"],
        "test_texts_also_in_train": sum(1 for i in test if texts[i] in seen),
    }
    if NON_ANSWER in codes:
        k = codes.index(NON_ANSWER)
        rest = [j for j in range(len(codes)) if j != k]
        without = agreement(
            labels[test][:, rest], decided[:, rest], probabilities[:, rest], [codes[j] for j in rest]
        )
        row["micro_f1_without_non_answers"] = without["micro_f1"]
        row["non_answers"] = metrics["categories"][NON_ANSWER]
        # What any model scores that reads "Did not answer" as the non-answer it is.
        right = decided.copy()
        right[:, k] = labels[test][:, k]
        row["micro_f1_non_answers_right"] = agreement(labels[test], right, probabilities, codes)["micro_f1"]
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", default="ours,rows,rows+lnp")
    args = parser.parse_args()
    texts, labels, codes = rows_with_non_answers()
    answered = np.flatnonzero(labels[:, codes.index(NON_ANSWER)] == 0)
    stored, _ = stored_vectors(texts, MiniLMEmbedder(int8_activations=True))
    out = {}
    for variant in args.variants.split(","):
        if variant == "rows+lnp":
            rows, columns = np.arange(len(texts)), list(range(len(codes)))
        else:
            rows = answered
            columns = [
                k
                for k, c in enumerate(codes)
                if c != NON_ANSWER and labels[answered, k].sum() >= MIN_EXAMPLES
            ]
        v_texts = [texts[i] for i in rows]
        v_labels, v_codes = labels[np.ix_(rows, columns)], [codes[k] for k in columns]
        if variant == "ours":
            train, test = split(v_texts)
        else:
            train, test = train_test_split(np.arange(len(v_texts)), test_size=0.2, random_state=42)
            train, test = np.sort(train), np.sort(test)
        for rule in ("same-text", "model-only"):
            with patch.object(SameTextCodes, "blend", model_only) if rule == "model-only" else nullcontext():
                out[f"{variant} {rule}"] = evaluate(v_texts, v_labels, v_codes, train, test, stored)
            print(variant, rule, json.dumps(out[f"{variant} {rule}"]), file=sys.stderr)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
