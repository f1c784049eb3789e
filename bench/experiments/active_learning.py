"""Does the review queue teach the model more than coding answers at random? (issue #5)

The coding screen's "low confidence" queue (coding/services.py, ReviewItem) orders the answers a trained
run coded by `coding.training.review_priority`: how close their probabilities sit to the thresholds
(uncertainty sampling). This simulates an analyst on the NHS benchmark's training answers: code a random
start, run the product's training step (the default classifier for the size, the codebook texts while
they apply, stored vectors), code the next batch chosen by a strategy, train again, and so on; after each
round the model codes the 1,161 held-out answers once (micro-F1). Strategies:
- random: the next batch at random (what coding without the queue amounts to);
- queue: the top of review_priority (the product before 2026-12-06);
- queue, one per text: the same, each normalised text once (equal texts teach the same thing; the
  data repeats "nothing" 453 times).

The held-out answers never enter the pool. Usage:
  python bench/experiments/active_learning.py [--start 200] [--batch 100] [--rounds 8] [--seeds 3]"""

from __future__ import annotations

import argparse
import json

import numpy as np
from common import DEFAULT_DATA, data

from bench.coding import SEED, stored_vectors
from coding.classifiers import default_trained
from coding.classifiers.features import MiniLMEmbedder, normalise_text
from coding.training import (
    CategorySpec,
    agreement,
    codebook_for_training,
    review_priority,
    train_with_cross_validation,
)


def top_of_queue(priority, candidates, texts, batch, *, distinct):
    """The `batch` candidates with the highest priority; with `distinct`, each normalised text once."""
    order = candidates[np.argsort(-priority, kind="stable")]
    if not distinct:
        return order[:batch]
    chosen, seen = [], set()
    for i in order:
        key = normalise_text(texts[i])
        if key not in seen:
            seen.add(key)
            chosen.append(i)
            if len(chosen) == batch:
                break
    return np.array(chosen)


def simulate(strategy, seed, *, texts, labels, codes, train, test, stored, specs, start, batch, rounds):
    rng = np.random.default_rng(seed)
    coded = rng.permutation(train)[:start]
    curve = []
    for _ in range(rounds + 1):
        result = train_with_cross_validation(
            [texts[i] for i in coded],
            labels[coded],
            codes,
            classifier_id=default_trained(len(coded)),
            seed=SEED,
            embedder=stored,
            codebook=codebook_for_training(specs, len(coded)),
        )
        held = result.classifier.predict_proba([texts[i] for i in test])
        metrics = agreement(labels[test], result.accept(held), held, codes)
        curve.append({"coded": len(coded), "micro_f1": metrics["micro_f1"], "macro_f1": metrics["macro_f1"]})
        print(json.dumps({"strategy": strategy, "seed": seed, **curve[-1]}), flush=True)
        candidates = np.setdiff1d(train, coded)
        if strategy == "random":
            chosen = rng.permutation(candidates)[:batch]
        else:
            probabilities = result.classifier.predict_proba([texts[i] for i in candidates])
            priority = review_priority(probabilities, result.thresholds)
            chosen = top_of_queue(priority, candidates, texts, batch, distinct=strategy == "queue-distinct")
        coded = np.concatenate([coded, chosen])
    return curve


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--strategies", default="random,queue,queue-distinct")
    args = parser.parse_args()
    texts, labels, codes, train, test = data()
    stored, _ = stored_vectors(texts, MiniLMEmbedder())
    specs = [CategorySpec(code, code, "", ()) for code in codes]  # the NHS frame has names only
    curves = {}
    for strategy in args.strategies.split(","):
        curves[strategy] = [
            simulate(
                strategy,
                SEED + s,
                texts=texts,
                labels=labels,
                codes=codes,
                train=train,
                test=test,
                stored=stored,
                specs=specs,
                start=args.start,
                batch=args.batch,
                rounds=args.rounds,
            )
            for s in range(args.seeds)
        ]
    summary = {
        strategy: {
            "coded": [point["coded"] for point in runs[0]],
            "micro_f1_mean": [
                round(float(np.mean([run[r]["micro_f1"] for run in runs])), 4) for r in range(len(runs[0]))
            ],
            "macro_f1_mean": [
                round(float(np.mean([run[r]["macro_f1"] for run in runs])), 4) for r in range(len(runs[0]))
            ],
        }
        for strategy, runs in curves.items()
    }
    print(json.dumps({"data": str(DEFAULT_DATA), "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
