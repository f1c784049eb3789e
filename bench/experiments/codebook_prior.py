"""The codebook as training data (issue #5): each category's label + description (and examples) as extra
training texts of that category (coding/training.py::CodebookTexts), in the training side of every CV fold,
never scored. Variants: negatives (also a negative of the other categories) or positive only, and the
weight of those texts.

Protocol: bench/coding.py's. Reference items (coding/reference, codebooks from surveys/reference): alpha
on the held-out answers with 5, 10 and 20 human codes per category, tfidf-minilm-lr; the bench's own
sample (seed SEED) and the mean over SAMPLES samples drawn with other seeds (the test sets have 12-44
answers: one sample is noisy). NHS (code names as labels, no descriptions): micro/macro-F1 and alpha
with 5, 10, 20 codes per category (tfidf-minilm-lr, mean over SAMPLES samples) and all codes (the
product's default at that size, tfidf-minilm-svm).

Few-shot variants (2026-12-06, same protocol, on top of the codebook texts): the threshold rule (one
shared threshold, or per-code thresholds shrunk towards it by support), C chosen per run by the grouped
CV, prototype columns (cosine to the centroid of a category's positive training texts), and the
similarity columns only when the categories have descriptions. `--no-descriptions` gives the reference
items their labels alone; `--retrain-repeats` times each variant's training step on 1,000 NHS answers.

Usage: python bench/experiments/codebook_prior.py [--part reference|nhs|both|none] [--variants base,neg-1,...]
       [--sizes 5,10,20,all] [--samples 5] [--no-descriptions] [--retrain-repeats 2]
Variant names: see variant(); e.g. neg-3 (the product below 2,000 human-coded answers), neg-3+thr-percode,
neg-3+sim-minilm-3, sim-labelmatch-1 (no codebook texts, label-match's probability as features)."""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from dataclasses import dataclass

import numpy as np
from common import SEED, Clock, cached_vectors, data
from scipy import sparse
from thresholds import one_threshold, per_code, shrunk

from bench.coding import reference_corpus, sample_per_category
from coding.classifiers import CLASSIFIERS, CategorySpec, default_trained
from coding.classifiers.features import StoredEmbeddings, minilm
from coding.classifiers.linear import TfidfMiniLMLogistic
from coding.classifiers.zeroshot import LabelMatch
from coding.training import CodebookTexts, agreement, train_with_cross_validation

DEFAULT_VARIANTS = "base,neg-1,pos-1,neg-0.5,pos-0.5,neg-3,pos-3"


C_GRID = (16.0, 1.0, 4.0, 64.0)  # "C-cv": chosen by the grouped CV; ties go to the first (the product's 16)
# "percode": the product's rule before 2026-12-06; since then the product shrinks by 20 (= "shrink-20").
THRESHOLD_RULES = {"percode": per_code, "one": one_threshold}
THRESHOLD_RULES.update({f"shrink-{lam}": shrunk(lam) for lam in (5, 20, 100)})


class ExperimentLogistic(TfidfMiniLMLogistic):
    """tfidf-minilm-lr with C set, plus optional columns per category: the zero-shot similarity of the
    answer to the category's label + description (MiniLM cosine, or label-match's probability) times
    `scale`, and the MiniLM cosine to the centroid of the category's positive training texts
    ("prototype") times `proto_scale`. A training text's own vector is left out of its centroid (else a
    positive's column is inflated in training and the model over-trusts it)."""

    identifier = "experiment-lr"
    documents: list[str] = []
    kind = "minilm"
    scale = 0.0
    proto_scale = 0.0

    def _similarity(self, texts):
        if self.kind == "labelmatch":
            specs = [CategorySpec(str(k), d) for k, d in enumerate(self.documents)]
            return LabelMatch().describe(specs).predict_proba(list(texts)) * self.scale
        embedder = self.embedder or minilm()
        return (embedder.encode(list(texts)) @ embedder.encode(self.documents).T) * self.scale

    def _prototypes(self, texts, labels=None):
        vectors = (self.embedder or minilm()).encode(list(texts)).astype(np.float64)
        if labels is None:  # scoring: the centroids of all training positives
            norms = np.maximum(np.linalg.norm(self.proto_sums_, axis=1), 1e-12)
            return (vectors @ self.proto_sums_.T) / norms * self.proto_scale
        positive = (labels == 1).astype(np.float64)
        self.proto_sums_ = positive.T @ vectors
        # Leave-one-out: cosine of v to S - p v, |v| = 1, in closed form.
        dots = vectors @ self.proto_sums_.T
        squares = (self.proto_sums_**2).sum(axis=1)[None, :]
        remaining = np.sqrt(np.maximum(squares - 2 * positive * dots + positive, 0))
        cosine = np.where(remaining > 1e-9, (dots - positive) / np.maximum(remaining, 1e-12), 0.0)
        return cosine * self.proto_scale

    def _extra(self, texts, labels=None):
        blocks = []
        if self.scale:
            blocks.append(self._similarity(texts))
        if self.proto_scale:
            blocks.append(self._prototypes(texts, labels))
        return blocks

    def fit(self, texts, labels, *, seed, sample_weight=None):
        self.fit_labels_ = labels  # the prototypes' centroids come from the training texts' labels
        return super().fit(texts, labels, seed=seed, sample_weight=sample_weight)

    def _features_fit(self, texts, labels, seed):
        extra = self._extra(texts, self.fit_labels_)
        return sparse.hstack([super()._features_fit(texts, labels, seed), *extra], format="csr")

    def _features(self, texts):
        return sparse.hstack([super()._features(texts), *self._extra(texts)], format="csr")


@dataclass
class Variant:
    codebook: CodebookTexts | None
    c: float | str | None = None  # None: the product's classifier; "cv": chosen from C_GRID
    similarity: tuple[str, float] | None = None
    proto_scale: float = 0.0
    threshold_rule: str | None = None  # None: the product's (coding.training.shrink_thresholds + cut)

    def classifier(self, specs, c):
        """The classifier id to train (None: the product's), registering a configured ExperimentLogistic."""
        if self.similarity is None and not self.proto_scale and c is None:
            return None
        kind, scale = self.similarity or ("minilm", 0.0)
        attributes = {"C": c or TfidfMiniLMLogistic.C, "kind": kind, "scale": scale}
        attributes["documents"] = [" ".join(p for p in (s.label, s.description) if p) for s in specs]
        attributes["proto_scale"] = self.proto_scale
        CLASSIFIERS[ExperimentLogistic.identifier] = type("Configured", (ExperimentLogistic,), attributes)
        return ExperimentLogistic.identifier


def variant(name: str, specs: list[CategorySpec]) -> Variant:
    """A variant name: base or {neg|pos}-WEIGHT (the codebook texts; left out: base), then any of
    +sim-KIND-SCALE (the zero-shot similarity feature, KIND minilm or labelmatch), +simdesc-KIND-SCALE (the
    same, only when some category has a description), +proto-SCALE (prototype columns), +C-VALUE or +C-cv,
    +thr-percode, +thr-one or +thr-shrink-LAM (the threshold rule)."""
    parts = name.split("+")
    texts_part = parts.pop(0) if re.fullmatch(r"base|(neg|pos)-[\d.]+", parts[0]) else "base"
    codebook = None
    if texts_part != "base":
        kind, weight = texts_part.split("-")
        codebook = CodebookTexts.from_categories(specs, weight=float(weight), negatives=kind == "neg")
    out = Variant(codebook)
    for part in parts:
        head, _, rest = part.partition("-")
        if head in ("sim", "simdesc"):
            kind, scale = rest.split("-")
            if head == "sim" or any(s.description for s in specs):
                out.similarity = (kind, float(scale))
        elif head == "proto":
            out.proto_scale = float(rest)
        elif head == "C":
            out.c = rest if rest == "cv" else float(rest)
        elif head == "thr":
            out.threshold_rule = rest
        else:
            raise ValueError(f"unknown variant part {part!r}")
    return out


def train(texts, labels, codes, idx, name, specs, embedder, method=None):
    """The training step of a variant on the answers idx: (TrainResult, classifier id)."""
    chosen = variant(name, specs)
    best = None
    for c in C_GRID if chosen.c == "cv" else [chosen.c]:
        classifier = chosen.classifier(specs, c) or method or default_trained(len(idx))
        result = train_with_cross_validation(
            [texts[i] for i in idx],
            labels[idx],
            codes,
            classifier_id=classifier,
            seed=SEED,
            embedder=embedder,
            codebook=chosen.codebook,
        )
        if best is None or result.metrics["micro_f1"] > best[0].metrics["micro_f1"] + 1e-12:
            best = (result, classifier, result.classifier.C if chosen.c == "cv" else None)
    result, classifier, c = best
    if chosen.threshold_rule:
        rule = THRESHOLD_RULES[chosen.threshold_rule]
        result.thresholds, result.relative_cut = rule(result.oof_probabilities, labels[idx].astype(bool))
    return result, classifier, c


def score(texts, labels, codes, train_idx, test, per_category, seed, name, specs, embedder, method=None):
    idx = train_idx[sample_per_category(labels[train_idx], per_category, seed)]
    result, classifier, c = train(texts, labels, codes, idx, name, specs, embedder, method)
    probabilities = result.classifier.predict_proba([texts[i] for i in test])
    metrics = agreement(labels[test], result.accept(probabilities), probabilities, codes)
    return {
        "alpha": metrics["alpha"],
        "micro_f1": metrics["micro_f1"],
        "macro_f1": metrics["macro_f1"],
        "classifier": classifier,
        "chosen_C": c,
        "train": len(idx),
    }


def reference(variants, sizes, samples, embedder, *, descriptions=True):
    """`descriptions` False: the categories' labels alone (as a frame without descriptions would have)."""
    out = {}
    for item_code, texts, labels, codes, specs, train_idx, test in reference_corpus():
        if not descriptions:
            specs = [CategorySpec(s.code, s.label) for s in specs]
        for size in sizes:
            for name in variants:
                runs = [
                    score(
                        texts,
                        labels,
                        codes,
                        train_idx,
                        test,
                        size,
                        SEED + s,
                        name,
                        specs,
                        embedder,
                        "tfidf-minilm-lr",
                    )
                    for s in range(samples)
                ]
                alphas = [r["alpha"] if r["alpha"] is not None else 0.0 for r in runs]
                row = {
                    "alpha_bench_sample": runs[0]["alpha"],
                    "alpha_mean": round(statistics.mean(alphas), 4),
                    "alpha_runs": alphas,
                    "micro_f1_mean": round(statistics.mean(r["micro_f1"] for r in runs), 4),
                    "micro_f1_runs": [r["micro_f1"] for r in runs],
                    "chosen_C": [r["chosen_C"] for r in runs],
                }
                out.setdefault(item_code, {}).setdefault(str(size), {})[name] = row
                print(json.dumps({"item": item_code, "size": size, "variant": name, **row}), file=sys.stderr)
    return out


def nhs(variants, sizes, samples):
    texts, labels, codes, train_idx, test = data()
    vectors = cached_vectors("minilm", texts, minilm().encode)
    embedder = StoredEmbeddings(dict(zip(texts, vectors, strict=True)), minilm())
    specs = [CategorySpec(c, c) for c in codes]
    out = {}
    for size in sizes:
        per_category = None if size == "all" else int(size)
        draws = 1 if per_category is None else samples
        for name in variants:
            runs = [
                score(texts, labels, codes, train_idx, test, per_category, SEED + s, name, specs, embedder)
                for s in range(draws)
            ]
            row = {
                key: round(statistics.mean(r[key] for r in runs), 4)
                for key in ("micro_f1", "macro_f1", "alpha")
            }
            row["micro_f1_runs"] = [r["micro_f1"] for r in runs]
            row["chosen_C"] = [r["chosen_C"] for r in runs]
            row["classifier"] = runs[0]["classifier"]
            row["train"] = runs[0]["train"]
            out.setdefault(str(size), {})[name] = row
            print(json.dumps({"nhs": size, "variant": name, **row}), file=sys.stderr)
    return out


def retrain_cpu(variants, repeats):
    """CPU seconds of a variant's training step (CV, choices, final fit) on 1,000 NHS answers with stored
    vectors and the code names as codebook texts, as bench/coding.py's retrain_seconds times the product."""
    texts, labels, codes, train_idx, _ = data()
    vectors = cached_vectors("minilm", texts, minilm().encode)
    embedder = StoredEmbeddings(dict(zip(texts, vectors, strict=True)), minilm())
    specs = [CategorySpec(c, c) for c in codes]
    idx = np.random.default_rng(SEED).permutation(train_idx)[:1000]
    out = {}
    for name in variants:
        clocks = []
        for _ in range(repeats):
            with Clock() as clock:
                train(texts, labels, codes, idx, name, specs, embedder)
            clocks.append(clock)
        out[name] = {"cpu_s": [round(c.cpu, 2) for c in clocks], "wall_s": [round(c.wall, 2) for c in clocks]}
        print(json.dumps({"retrain_1000": name, **out[name]}), file=sys.stderr)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--part", choices=["reference", "nhs", "both", "none"], default="both")
    p.add_argument("--variants", default=DEFAULT_VARIANTS)
    p.add_argument("--sizes", default=None, help="reference: 5,10,20; nhs: 5,10,20,all")
    p.add_argument("--samples", type=int, default=5)
    p.add_argument("--no-descriptions", action="store_true", help="reference: the categories' labels alone")
    p.add_argument("--retrain-repeats", type=int, default=0, help="time each variant on 1,000 NHS answers")
    args = p.parse_args()
    variants = args.variants.split(",")
    output = {"variants": variants, "samples": args.samples}
    if args.part in ("reference", "both"):
        sizes = [int(s) for s in (args.sizes or "5,10,20").split(",") if s != "all"]
        output["reference"] = reference(
            variants,
            sizes,
            args.samples,
            StoredEmbeddings({}, minilm()),
            descriptions=not args.no_descriptions,
        )
    if args.part in ("nhs", "both"):
        output["nhs"] = nhs(variants, (args.sizes or "5,10,20,all").split(","), args.samples)
    if args.retrain_repeats:
        output["retrain_1000"] = retrain_cpu(variants, args.retrain_repeats)
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
