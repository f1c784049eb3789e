"""Contrastive tuning without torch: a linear map learnt over the stored MiniLM vectors (issue #5).

setfit.py tunes the whole encoder on pairs of the human-coded answers and lifts the reference items
(offender_professions +0.10) at a cost the product cannot pay (torch, 26 CPU-s per few-shot draw, the
item's answers embedded again). This learns only a 384 x 384 map over the vectors the product already
stores (coding/classifiers/vector_map.py, which the product's `tfidf-minilm-map-lr` now uses): here the map
is learnt once per draw on all its training answers (and the codebook texts the product trains on at that
size), as setfit.py tunes its encoder, so the cross-validation inside the training step runs on vectors
mapped with the held-out folds' codes seen; the product learns one map per fold instead.

Usage: OMP_NUM_THREADS=1 .venv/bin/python bench/experiments/projection.py --ridge 0.1 [--nhs 1000] > out.json
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from common import Clock, nhs_sample

from bench.coding import reference_items
from coding.classifiers.features import minilm
from coding.classifiers.vector_map import MappedEmbedder, learn_vector_map


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ridge", type=float, default=0.1)
    parser.add_argument("--iterations", type=int, default=10, help="pairs per text: 2 x this")
    parser.add_argument("--nhs", type=int, help="instead: NHS, a seeded sample of this many training answers")
    parser.add_argument("--nhs-method", default="tfidf-minilm-svm")
    args = parser.parse_args()
    base = minilm()
    costs: list[dict] = []

    def for_draw(texts, labels, codebook, seed):
        anchors, rows = list(texts), np.asarray(labels)
        if codebook is not None:
            anchors += list(codebook.texts)
            rows = np.vstack([rows, np.clip(codebook.labels, 0, 1)])
        with Clock() as clock:
            learnt = learn_vector_map(
                base.encode(anchors), rows, seed=seed, ridge=args.ridge, draws=args.iterations
            )
        costs.append({"cpu_s": round(clock.cpu, 2), **learnt.report})
        print(json.dumps(costs[-1]), file=sys.stderr)
        return MappedEmbedder(base, learnt)

    out = {"args": vars(args)}
    if args.nhs:
        for name, hook in (("product", None), ("mapped", for_draw)):
            out[name] = nhs_sample(hook, args.nhs, args.nhs_method)
            print(json.dumps(out[name]), file=sys.stderr, flush=True)
        print(json.dumps(out, indent=1))
        return
    for name, hook in (("product", None), ("mapped", for_draw)):
        result = reference_items(["tfidf-minilm-lr"], embedder_for_draw=hook)
        out[name] = {
            item: {k: v["tfidf-minilm-lr"][k] for k in ("alpha_median", "alpha_mean", "alpha_samples")}
            for item, v in result.items()
        }
    out["tuning_cpu_s"] = sorted(c["cpu_s"] for c in costs)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
