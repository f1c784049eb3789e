"""A linear map over the MiniLM sentence vectors, learnt from the human codes (contrastive tuning).

MiniLM was trained for general sentence similarity: two answers that a codebook puts in one category can
sit far apart, and two in different categories close. Tuning the encoder itself on pairs of coded answers
(SetFit) helped the reference items but needs torch and re-embeds every answer after each tuning
(docs/performance.md, "Contrastive tuning (SetFit-style)"). This learns only a d x d matrix W over the
vectors the product already stores: for pairs of training texts, the cosine of W u and W v is pulled
towards the overlap of their code sets (Jaccard: 1 for the same codes, 0 for none shared), with a ridge
penalty towards the identity so that a few dozen answers cannot move the space far. The classifier then
reads W u in place of u. Scipy's L-BFGS on the analytic gradient; no new dependency.

Deterministic for a given seed: the pairs are drawn from numpy's seeded generator, L-BFGS has no
randomness, and the BLAS products run on one thread (below).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from coding.classifiers.features import Embedder

# Weight of ||W - I||^2 against the mean squared cosine error; set before any figure was seen and not
# tuned (0.03 and 0.3 gave similar figures: docs/performance.md, "Contrastive tuning without torch").
RIDGE = 0.1
# Per text and draw, one partner that shares a code with it and one that shares none.
DRAWS_PER_TEXT = 10
MAX_ITERATIONS = 200


@dataclass(frozen=True)
class VectorMap:
    weights: np.ndarray = field(repr=False)
    report: dict[str, Any]

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """W x for each row, L2-normalised again (MiniLM's vectors are unit length too)."""
        mapped = np.asarray(vectors, dtype=np.float32) @ self.weights.T
        return mapped / np.maximum(np.linalg.norm(mapped, axis=1, keepdims=True), 1e-12)


def training_pairs(labels: np.ndarray, seed: int, draws: int = DRAWS_PER_TEXT) -> tuple[np.ndarray, ...]:
    """(left, right, target) arrays: for each text and draw, another text sharing a code with it and
    another sharing none (when there is one), with the Jaccard overlap of their code sets as the target
    cosine. Never a text with itself: its cosine is 1 whatever the map (a text with no code shares none
    with itself, and would otherwise be drawn as its own negative). Never two texts with no code: "no
    category applies" to either says nothing of how alike they are, so pulling them apart (a target of 0)
    would teach the map a difference no coder made. Likewise two texts neither of which has a code among
    the categories both codings speak for (one coded "none" before a category was added, the other with
    that category alone)."""
    codes = np.asarray(labels) > 0
    # -1: the text's coding says nothing about the category (its coder was not offered it): the overlap
    # of two code sets is taken over the categories both codings speak for.
    known = np.asarray(labels) >= 0
    rng = np.random.default_rng(seed)
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    everyone = np.arange(len(codes))
    coded = codes.any(axis=1)
    # Texts whose coding says nothing about some category: only their pairs need the overlap's categories
    # checked one by one (every text's, at thousands of texts, doubled the time of the loop).
    partial = np.flatnonzero(~known.all(axis=1))
    for i in everyone:
        shares = (codes & codes[i]).any(axis=1)
        # A partner and i have a code between them among the categories both speak for (union > 0).
        if known[i].all():
            informative = coded | coded[i]
            informative[partial] = ((codes[partial] | codes[i]) & known[partial]).any(axis=1)
        else:
            informative = ((codes | codes[i]) & known & known[i]).any(axis=1)
        others = (everyone != i) & informative
        for pool in (np.flatnonzero(shares & others), np.flatnonzero(~shares & others)):
            if len(pool):
                right.append(rng.choice(pool, size=draws))
                left.append(np.full(draws, i))
    if not left:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    left_all, right_all = np.concatenate(left), np.concatenate(right)
    # Only the drawn pairs' overlaps: an n x n table of them would take gigabytes at tens of thousands of
    # answers (a run may name this classifier at any size).
    both = known[left_all] & known[right_all]
    overlap = (codes[left_all] & codes[right_all] & both).sum(axis=1)
    union = ((codes[left_all] | codes[right_all]) & both).sum(axis=1)
    return left_all, right_all, np.where(union > 0, overlap / np.maximum(union, 1), 0.0)


def learn_vector_map(
    vectors: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int,
    ridge: float = RIDGE,
    draws: int = DRAWS_PER_TEXT,
    max_iterations: int = MAX_ITERATIONS,
) -> VectorMap:
    """W minimising mean((cos(W x_i, W x_j) - target)^2) + ridge ||W - I||^2 over `training_pairs`,
    started at the identity. `labels`: one row per vector, > 0 where the text carries the category."""
    x = np.asarray(vectors, dtype=np.float64)
    n, d = x.shape
    left, right, target = training_pairs(labels, seed, draws)
    eye = np.eye(d)
    report: dict[str, Any] = {"ridge": ridge, "pairs": len(target), "texts": n}
    if not len(target):
        return VectorMap(eye.astype(np.float32), report | {"iterations": 0})
    # Gathers a per-text row for each pair's left and right end (and, transposed, sums them back).
    pick_left = sparse.csr_matrix((np.ones(len(left)), (np.arange(len(left)), left)), shape=(len(left), n))
    pick_right = sparse.csr_matrix(
        (np.ones(len(right)), (np.arange(len(right)), right)), shape=(len(right), n)
    )

    def loss_and_gradient(flat: np.ndarray) -> tuple[float, np.ndarray]:
        w = flat.reshape(d, d)
        z = x @ w.T  # each text mapped once, not once per pair
        norm = np.maximum(np.linalg.norm(z, axis=1), 1e-12)
        u, v, nu, nv = z[left], z[right], norm[left], norm[right]
        cosine = (u * v).sum(axis=1) / (nu * nv)
        error = cosine - target
        scale = (2 * error / len(target))[:, None]
        # d cos / d u = v / (|u| |v|) - cos u / |u|^2, and the same with u and v swapped.
        du = scale * (v / (nu * nv)[:, None] - cosine[:, None] * u / (nu**2)[:, None])
        dv = scale * (u / (nu * nv)[:, None] - cosine[:, None] * v / (nv**2)[:, None])
        dz = pick_left.T @ du + pick_right.T @ dv
        gradient = dz.T @ x + 2 * ridge * (w - eye)
        return float((error**2).mean() + ridge * ((w - eye) ** 2).sum()), gradient.ravel()

    # One BLAS thread: with several, OpenBLAS may split a product's sums differently by core count, and
    # L-BFGS carries such last-bit differences into other weights; one thread gives the same map for the
    # same inputs on every machine of a CPU family (and costs little: the products are 384 wide).
    with threadpool_limits(limits=1, user_api="blas"):
        start = loss_and_gradient(eye.ravel())[0]
        fit = minimize(
            loss_and_gradient, eye.ravel(), jac=True, method="L-BFGS-B", options={"maxiter": max_iterations}
        )
    report |= {
        "loss_start": round(start, 6),
        "loss_end": round(float(fit.fun), 6),
        "iterations": int(fit.nit),
    }
    return VectorMap(fit.x.reshape(d, d).astype(np.float32), report)


class MappedEmbedder:
    """An embedder whose vectors go through a VectorMap (the Embedder protocol)."""

    def __init__(self, base: Embedder, vector_map: VectorMap) -> None:
        self.base, self.vector_map = base, vector_map
        self.key, self.dimensions = f"{base.key} mapped", base.dimensions

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.vector_map.apply(self.base.encode(texts))
