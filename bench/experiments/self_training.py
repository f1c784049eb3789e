"""Uncoded answers as training data (issue #5): self-training (pseudo-labelling) and kNN smoothing over
the MiniLM graph of the item's answers.

When the product trains, every answer of the item is known; only some are human-coded. Self-training:
fit the product's model on the human codes (and the codebook texts below 2,000 answers), predict the
item's other answers, give an answer a pseudo-code where the model is confident (probability >= HIGH:
positive; <= LOW: negative; otherwise it says nothing about that category, -1, as a codebook text of
another category does), add them as training texts weighing WEIGHT each, and refit (ROUNDS times).
Smoothing (variant "knn"): the final probabilities averaged with the mean of the K nearest answers'
(cosine of MiniLM vectors) labels: a human code where the neighbour is coded, else its probability.

Both live in one wrapper classifier (SelfTrained), so coding/training.py's cross-validation runs them
inside every fold unchanged: a fold's model pseudo-labels the texts it was not trained on, the fold's own
held-out answers among them (as they would be in the product), and is scored on those answers' human
codes. The configuration is chosen per run by that CV (micro-F1, as the product chooses; ties go to the
product, no self-training), then scored once on the held-out answers.

Pools: "transductive" (the product's situation): the item's every answer not human-coded, the benchmark's
held-out answers included (their texts, never their codes). "inductive": the held-out answers' texts
left out of the pool. NHS pools are capped at POOL_CAP texts (--pool-cap; a seeded sample), and
--pool-ratio R caps any pool at R uncoded answers per human-coded one (the retraining time grows with it).

Results: docs/performance.md, "Uncoded answers: self-training (2026-12-06)" (not shipped).

Usage: python bench/experiments/self_training.py [--part reference,nhs,nhs-all,retrain]
       [--pool transductive|inductive|both] [--samples 10] [--nhs-samples 3] [--candidates ...]
       [--sizes 5,10,20] [--pool-cap 2000] [--pool-ratio 1] [--retrain-coded 1000 --retrain-uncoded 1000]
Candidate names: product, {st|stpos}-hHIGH-lLOW-wWEIGHT-rROUNDS (stpos: pseudo-positives only), knnK-SHARE,
joined by "+"; e.g. stpos-h0.8-l0.05-w0.5-r1 (the best found)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass

import numpy as np
from common import SEED, Clock, cached_vectors, data

from bench.coding import REFERENCE_SAMPLES, reference_corpus, sample_per_category
from coding.classifiers import CLASSIFIERS, BaseClassifier, CategorySpec, default_trained
from coding.classifiers.features import StoredEmbeddings, minilm
from coding.training import (
    agreement,
    codebook_for_training,
    train_with_cross_validation,
)

POOL_CAP = 2000


@dataclass(frozen=True)
class Config:
    """One self-training configuration; rounds 0 and smooth 0: the product."""

    high: float = 0.9
    low: float = 0.05
    weight: float = 0.3
    rounds: int = 1
    negatives: bool = True  # pseudo-negatives too (else only pseudo-positives are added)
    smooth: float = 0.0  # kNN smoothing share of the final probability
    k: int = 10

    @property
    def name(self) -> str:
        if not self.rounds and not self.smooth:
            return "product"
        parts = []
        if self.rounds:
            kind = "st" if self.negatives else "stpos"
            parts.append(f"{kind}-h{self.high}-l{self.low}-w{self.weight}-r{self.rounds}")
        if self.smooth:
            parts.append(f"knn{self.k}-{self.smooth}")
        return "+".join(parts)


def parse(name: str) -> Config:
    """Inverse of Config.name."""
    if name == "product":
        return Config(rounds=0)
    out = {"rounds": 0}
    for part in name.split("+"):
        if part.startswith("knn"):
            k, smooth = part[3:].split("-")
            out.update(k=int(k), smooth=float(smooth))
        else:
            kind, *fields = part.split("-")
            values = {f[0]: f[1:] for f in fields}
            out.update(
                high=float(values["h"]),
                low=float(values["l"]),
                weight=float(values["w"]),
                rounds=int(values["r"]),
                negatives=kind == "st",
            )
    return Config(**out)


class SelfTrained(BaseClassifier):
    """The product's classifier (`base`), self-trained on `pool` texts it was not trained on; configured
    per run by subclassing (configured())."""

    identifier = "self-trained"
    trained = True
    uses_embeddings = True
    base: type[BaseClassifier]
    pool: tuple[str, ...] = ()
    config = Config()
    seed = SEED

    def _scores(self, model, texts):
        """Probabilities (a calibrated-by-CV base, e.g. the SVM, has no sigmoids yet inside a fit: its
        margin s is read as the probability 1 / (1 + exp(-2 s)), so +-1 margins are ~0.88 / 0.12)."""
        if self.base.calibrated_by_cross_validation:
            return 1.0 / (1.0 + np.exp(-2.0 * model.decision_function(texts)))
        return model.predict_proba(texts)

    def fit(self, texts, labels, *, seed, sample_weight=None):
        texts = list(texts)
        weights = np.ones(len(texts)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        model = self.base(embedder=self.embedder).fit(texts, labels, seed=seed, sample_weight=weights)
        known = set(texts)
        pool = sorted({t for t in self.pool if t not in known})  # an order that does not depend on the draw
        config = self.config
        self.pseudo_counts_ = []
        for _ in range(config.rounds if pool else 0):
            p = self._scores(model, pool)
            pseudo = np.full(p.shape, -1, dtype=np.int8)
            pseudo[p >= config.high] = 1
            if config.negatives:
                pseudo[p <= config.low] = 0
            rows = np.flatnonzero((pseudo >= 0).any(axis=1))
            self.pseudo_counts_.append((int((pseudo == 1).sum()), int((pseudo == 0).sum())))
            if not len(rows):
                break
            model = self.base(embedder=self.embedder).fit(
                [*texts, *(pool[i] for i in rows)],
                np.vstack([labels, pseudo[rows]]),
                seed=seed,
                sample_weight=np.concatenate([weights, np.full(len(rows), config.weight)]),
            )
        self.model_ = model
        if config.smooth:
            self._graph(texts, labels, weights, pool)
        return self

    def _graph(self, texts, labels, weights, pool):
        """Nodes for kNN smoothing: the human-coded training answers (their codes; the codebook texts,
        weighted differently, left out) and the pool (the model's probabilities, or margins mapped as in
        _scores)."""
        coded = [i for i in range(len(texts)) if weights[i] == 1.0 and (labels[i] >= 0).all()]
        node_texts = [texts[i] for i in coded] + pool
        values = [labels[coded].astype(float)]
        if pool:
            values.append(self._scores(self.model_, pool))
        embedder = self.embedder or minilm()
        self.node_texts_ = node_texts
        self.node_vectors_ = embedder.encode(node_texts)
        self.node_values_ = np.vstack(values)

    def _smoothed(self, texts, p_or_scores, *, scores):
        config = self.config
        if not config.smooth:
            return p_or_scores
        embedder = self.embedder or minilm()
        similarity = embedder.encode(list(texts)) @ self.node_vectors_.T
        same = np.array(texts, dtype=object)[:, None] == np.array(self.node_texts_, dtype=object)[None, :]
        similarity[same] = -np.inf  # an answer is not its own neighbour
        k = min(config.k, similarity.shape[1])
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        neighbours = self.node_values_[nearest].mean(axis=1)
        if scores:  # margins: the neighbours' mean moved to the margin scale (p -> logit / 2)
            clipped = np.clip(neighbours, 0.02, 0.98)
            neighbours = 0.5 * np.log(clipped / (1 - clipped))
        return (1 - config.smooth) * p_or_scores + config.smooth * neighbours

    def predict_proba(self, texts):
        if self.base.calibrated_by_cross_validation:
            return self.calibrated(self.decision_function(texts))
        return self._smoothed(texts, self.model_.predict_proba(list(texts)), scores=False)

    def decision_function(self, texts):
        return self._smoothed(texts, self.model_.decision_function(list(texts)), scores=True)

    def calibrate(self, scores, labels):
        self.model_.calibrate(scores, labels)
        return self

    def calibrated(self, scores):
        return self.model_.calibrated(scores)


def configured(base_id: str, pool: list[str], config: Config, embedder) -> str:
    """Register a SelfTrained for this run; returns its classifier id."""
    base = CLASSIFIERS[base_id]
    attributes = {
        "base": base,
        "pool": tuple(pool),
        "config": config,
        "calibrated_by_cross_validation": base.calibrated_by_cross_validation,
    }
    CLASSIFIERS[SelfTrained.identifier] = type("Configured", (SelfTrained,), attributes)
    return SelfTrained.identifier


def run(texts, labels, codes, idx, test, pool_idx, candidates, specs, embedder, method=None):
    """Train every candidate on the human codes idx (pool: the texts of pool_idx), choose by CV micro-F1
    (ties: the earlier candidate, the product first), score every candidate and the chosen one on test."""
    base_id = method or default_trained(len(idx))
    codebook = codebook_for_training(specs, len(idx))
    # The human-coded texts too: a CV fold's held-out answers are uncoded to its model (the fold's
    # training texts are dropped from the pool in SelfTrained.fit), as the product would see them.
    pool = [texts[i] for i in (*idx, *pool_idx)]
    out, chosen = {}, None
    for name in candidates:
        config = parse(name)
        classifier = base_id if name == "product" else configured(base_id, pool, config, embedder)
        result = train_with_cross_validation(
            [texts[i] for i in idx],
            labels[idx],
            codes,
            classifier_id=classifier,
            seed=SEED,
            embedder=embedder,
            codebook=codebook,
        )
        probabilities = result.classifier.predict_proba([texts[i] for i in test])
        held = agreement(labels[test], result.accept(probabilities), probabilities, codes)
        out[name] = {
            "cv_micro": result.metrics["micro_f1"],
            "cv_alpha": result.metrics["alpha"],
            "alpha": held["alpha"] if held["alpha"] is not None else 0.0,
            "micro_f1": held["micro_f1"],
            "macro_f1": held["macro_f1"],
            "pseudo": getattr(result.classifier, "pseudo_counts_", None),
        }
        if chosen is None or out[name]["cv_micro"] > out[chosen]["cv_micro"] + 1e-12:
            chosen = name
    out["chosen"] = {**out[chosen], "name": chosen}
    return out


POOL_RATIO = 0.0  # > 0: at most this many uncoded answers per human-coded one (--pool-ratio)


def pool_of(n_texts, idx, test, *, transductive, cap, seed):
    """The uncoded answers: every answer not in idx (inductive: not in test either), at most cap (and
    POOL_RATIO times the human-coded answers)."""
    excluded = set(idx.tolist()) | (set() if transductive else set(test.tolist()))
    pool = np.array([i for i in range(n_texts) if i not in excluded])
    if POOL_RATIO:
        cap = min(cap or len(pool), int(POOL_RATIO * len(idx)))
    if cap and len(pool) > cap:
        pool = np.sort(np.random.default_rng(seed).permutation(pool)[:cap])
    return pool


def paired(rows, metric, name):
    """Mean paired difference (variant - product) over draws and its standard error."""
    diffs = [r[name][metric] - r["product"][metric] for r in rows]
    se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
    return round(statistics.mean(diffs), 4), round(se, 4)


def summarise(rows, names, metrics):
    out = {}
    for name in [*names, "chosen"]:
        entry = {}
        for metric in metrics:
            values = [r[name][metric] for r in rows]
            entry[f"{metric}_mean"] = round(statistics.mean(values), 4)
            entry[f"{metric}_median"] = round(float(np.median(values)), 4)
            if name != "product":
                entry[f"{metric}_diff"], entry[f"{metric}_se"] = paired(rows, metric, name)
        if name == "chosen":
            entry["chosen"] = [r["chosen"]["name"] for r in rows]
        out[name] = entry
    return out


def reference(candidates, samples, modes):
    embedder = StoredEmbeddings({}, minilm())
    out = {}
    for item_code, texts, labels, codes, specs, train, test in reference_corpus():
        for mode in modes:
            rows = []
            for draw in range(samples):
                idx = train[sample_per_category(labels[train], 10, SEED + draw)]
                pool = pool_of(len(texts), idx, test, transductive=mode == "transductive", cap=0, seed=draw)
                rows.append(
                    run(texts, labels, codes, idx, test, pool, candidates, specs, embedder, "tfidf-minilm-lr")
                )
                print(
                    json.dumps({"item": item_code, "mode": mode, "draw": draw, **rows[-1]}), file=sys.stderr
                )
            summary = summarise(rows, candidates, ["alpha", "cv_micro", "micro_f1"])
            out.setdefault(item_code, {})[mode] = summary
            print(json.dumps({"item": item_code, "mode": mode, "summary": summary}), file=sys.stderr)
    return out


def nhs_setup():
    texts, labels, codes, train, test = data()
    vectors = cached_vectors("minilm", texts, minilm().encode)
    embedder = StoredEmbeddings(dict(zip(texts, vectors, strict=True)), minilm())
    return texts, labels, codes, train, test, embedder, [CategorySpec(c, c) for c in codes]


def nhs(candidates, sizes, samples, modes):
    texts, labels, codes, train, test, embedder, specs = nhs_setup()
    out = {}
    for size in sizes:
        per_category = None if size == "all" else int(size)
        for mode in modes:
            if per_category is None and mode == "inductive":
                continue  # every training answer is coded: the inductive pool is empty (= the product)
            rows = []
            for s in range(1 if per_category is None else samples):
                idx = train[sample_per_category(labels[train], per_category, SEED + s)]
                pool = pool_of(
                    len(texts), idx, test, transductive=mode == "transductive", cap=POOL_CAP, seed=SEED + s
                )
                rows.append(run(texts, labels, codes, idx, test, pool, candidates, specs, embedder))
                print(json.dumps({"nhs": size, "mode": mode, "sample": s, **rows[-1]}), file=sys.stderr)
            summary = summarise(rows, candidates, ["micro_f1", "macro_f1", "alpha", "cv_micro"])
            out.setdefault(str(size), {})[mode] = summary
            print(json.dumps({"nhs": size, "mode": mode, "summary": summary}), file=sys.stderr)
    return out


def retrain(repeats, coded=1000, uncoded_count=1000, name="stpos-h0.8-l0.05-w0.5-r1"):
    """CPU seconds of the training step (5-fold CV + final fit) on `coded` NHS answers with stored vectors
    and the codebook texts, the product's and a self-trained one with `uncoded_count` other answers as
    the uncoded ones, as bench/coding.py's retrain_seconds times the product."""
    texts, labels, codes, train, _, embedder, specs = nhs_setup()
    order = np.random.default_rng(SEED).permutation(train)
    idx, pool = order[:coded], [texts[i] for i in order[coded : coded + uncoded_count]]
    # The human-coded texts too: a fold's held-out answers are pseudo-labelled, as in run().
    pool = [*(texts[i] for i in idx), *pool]
    base_id = default_trained(len(idx))
    out = {}
    for variant in ("product", name):
        clocks = []
        for _ in range(repeats):
            with Clock() as clock:
                classifier = (
                    base_id if variant == "product" else configured(base_id, pool, parse(variant), embedder)
                )
                train_with_cross_validation(
                    [texts[i] for i in idx],
                    labels[idx],
                    codes,
                    classifier_id=classifier,
                    seed=SEED,
                    embedder=embedder,
                    codebook=codebook_for_training(specs, len(idx)),
                )
            clocks.append(clock)
        out[variant] = {
            "cpu_s": [round(c.cpu, 2) for c in clocks],
            "wall_s": [round(c.wall, 2) for c in clocks],
        }
        row = {"retrain": variant, "coded": coded, "uncoded": uncoded_count, **out[variant]}
        print(json.dumps(row), file=sys.stderr)
    return out


DEFAULT_CANDIDATES = "product,st-h0.9-l0.05-w0.3-r1,st-h0.8-l0.05-w0.3-r1,st-h0.9-l0.05-w1.0-r1,stpos-h0.8-l0.05-w0.5-r1,knn10-0.3"


def main():
    global POOL_RATIO, POOL_CAP
    p = argparse.ArgumentParser()
    p.add_argument("--part", default="reference")
    p.add_argument("--pool", choices=["transductive", "inductive", "both"], default="transductive")
    p.add_argument("--samples", type=int, default=REFERENCE_SAMPLES)
    p.add_argument("--nhs-samples", type=int, default=3)
    p.add_argument("--sizes", default="5,10,20")
    p.add_argument("--candidates", default=DEFAULT_CANDIDATES)
    p.add_argument("--retrain-repeats", type=int, default=2)
    p.add_argument("--retrain-coded", type=int, default=1000)
    p.add_argument("--retrain-uncoded", type=int, default=1000)
    p.add_argument("--pool-cap", type=int, default=2000, help="NHS: pool <= this many texts")
    p.add_argument("--pool-ratio", type=float, default=0.0, help="pool <= ratio x human-coded answers")
    args = p.parse_args()
    POOL_RATIO, POOL_CAP = args.pool_ratio, args.pool_cap
    candidates = args.candidates.split(",")
    modes = ["transductive", "inductive"] if args.pool == "both" else [args.pool]
    parts = args.part.split(",")
    output = {"candidates": candidates, "pool": modes}
    if "reference" in parts:
        output["reference"] = reference(candidates, args.samples, modes)
    if "nhs" in parts:
        output["nhs"] = nhs(candidates, args.sizes.split(","), args.nhs_samples, modes)
    if "nhs-all" in parts:
        output["nhs_all"] = nhs(candidates, ["all"], 1, ["transductive"])
    if "retrain" in parts:
        output["retrain"] = retrain(args.retrain_repeats, args.retrain_coded, args.retrain_uncoded)
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
