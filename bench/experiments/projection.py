"""Contrastive tuning without torch: a linear map learnt over the stored MiniLM vectors (issue #5).

setfit.py tunes the whole encoder on pairs of the human-coded answers and lifts the reference items
(offender_professions +0.10) at a cost the product cannot pay (torch, 26 CPU-s per few-shot draw, the
item's answers embedded again). This learns only a 384 x 384 map W, started at the identity, over the
vectors the product already stores: the same pairs and targets (common.pairs: per text one answer sharing
a code and one sharing none; `jaccard` targets the overlap of the two code sets), the same loss (squared
error of cos(W u, W v) to the target), plus `--ridge` x ||W - I||^2 so that a few dozen answers cannot
pull the space far; L-BFGS on the analytic gradient (scipy). The product's training step then runs on
the mapped vectors, unchanged. Tuning sees only the draw's training answers (and the codebook texts the
product trains on at that size); CV inside the training step runs on vectors mapped with W learnt on all
of them, as setfit.py's.

Usage: OMP_NUM_THREADS=1 .venv/bin/python bench/experiments/projection.py --ridge 0.1 [--nhs 1000] > out.json
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from common import Clock, nhs_sample, pairs
from scipy.optimize import minimize

from bench.coding import reference_items
from coding.classifiers.features import minilm


class MappedEmbedder:
    """The product's MiniLM vectors through W, L2-normalised again (the Embedder protocol)."""

    def __init__(self, base, weights: np.ndarray, name: str) -> None:
        self.base, self.weights = base, weights
        self.key, self.dimensions = f"{base.key} mapped {name}", base.dimensions

    def encode(self, texts):
        mapped = self.base.encode(texts) @ self.weights.T
        return (mapped / np.maximum(np.linalg.norm(mapped, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def learn_map(
    vectors: np.ndarray, todo: list[tuple[int, int, float]], ridge: float
) -> tuple[np.ndarray, dict]:
    """W minimising mean((cos(W x_i, W x_j) - t)^2) + ridge ||W - I||^2, from the identity."""
    left = vectors[[i for i, _, _ in todo]].astype(np.float64)
    right = vectors[[j for _, j, _ in todo]].astype(np.float64)
    goal = np.array([t for *_, t in todo])
    d = vectors.shape[1]
    eye = np.eye(d)

    def loss_and_gradient(flat):
        w = flat.reshape(d, d)
        u, v = left @ w.T, right @ w.T
        nu, nv = np.linalg.norm(u, axis=1), np.linalg.norm(v, axis=1)
        cos = (u * v).sum(1) / (nu * nv)
        error = cos - goal
        scale = 2 * error / len(goal)
        # d cos / d u = v / (|u||v|) - cos u / |u|^2, and symmetrically for v.
        du = scale[:, None] * (v / (nu * nv)[:, None] - cos[:, None] * u / (nu**2)[:, None])
        dv = scale[:, None] * (u / (nu * nv)[:, None] - cos[:, None] * v / (nv**2)[:, None])
        gradient = du.T @ left + dv.T @ right + 2 * ridge * (w - eye)
        return float((error**2).mean() + ridge * ((w - eye) ** 2).sum()), gradient.ravel()

    start = loss_and_gradient(eye.ravel())[0]
    fit = minimize(loss_and_gradient, eye.ravel(), jac=True, method="L-BFGS-B", options={"maxiter": 200})
    return fit.x.reshape(d, d).astype(np.float32), {"loss_start": start, "loss_end": float(fit.fun)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ridge", type=float, default=0.1)
    parser.add_argument("--iterations", type=int, default=10, help="pairs per text: 2 x this")
    parser.add_argument("--target", choices=["binary", "jaccard"], default="jaccard")
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
            todo = pairs(rows, args.iterations, args.target, np.random.default_rng(seed))
            weights, losses = learn_map(base.encode(anchors), todo, args.ridge)
        costs.append({"pairs": len(todo), "cpu_s": round(clock.cpu, 2), **losses})
        print(json.dumps(costs[-1]), file=sys.stderr)
        return MappedEmbedder(base, weights, f"{args.target}-{args.ridge}-{seed}")

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
