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

Usage: python bench/experiments/codebook_prior.py [--part reference|nhs|both] [--variants base,neg-1,...]
       [--sizes 5,10,20,all] [--samples 5]
Variant names: base, or {neg|pos}-WEIGHT (e.g. neg-1, pos-0.5); a suffix +sim-KIND-SCALE (or sim-KIND-SCALE
alone) adds the zero-shot similarity to each category's label + description as features (KIND: minilm,
the cosine of the sentence vectors, or labelmatch, label-match's probability)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from common import SEED, cached_vectors, data
from scipy import sparse

from bench.coding import reference_corpus, sample_per_category
from coding.classifiers import CLASSIFIERS, CategorySpec, default_trained
from coding.classifiers.features import StoredEmbeddings, minilm
from coding.classifiers.linear import TfidfMiniLMLogistic
from coding.classifiers.zeroshot import LabelMatch
from coding.training import CodebookTexts, agreement, train_with_cross_validation

DEFAULT_VARIANTS = "base,neg-1,pos-1,neg-0.5,pos-0.5,neg-3,pos-3"


class SimilarityLogistic(TfidfMiniLMLogistic):
    """tfidf-minilm-lr plus one feature per category: the zero-shot similarity of the answer to the
    category's label + description (MiniLM cosine, or label-match's probability), times `scale`."""

    identifier = "similarity-lr"
    documents: list[str] = []
    kind = "minilm"
    scale = 1.0

    def _similarity(self, texts):
        if self.kind == "labelmatch":
            specs = [CategorySpec(str(k), d) for k, d in enumerate(self.documents)]
            return LabelMatch().describe(specs).predict_proba(list(texts)) * self.scale
        embedder = self.embedder or minilm()
        return (embedder.encode(list(texts)) @ embedder.encode(self.documents).T) * self.scale

    def _features_fit(self, texts):
        return sparse.hstack([super()._features_fit(texts), self._similarity(texts)], format="csr")

    def _features(self, texts):
        return sparse.hstack([super()._features(texts), self._similarity(texts)], format="csr")


CLASSIFIERS[SimilarityLogistic.identifier] = SimilarityLogistic


def variant(name: str, specs: list[CategorySpec]) -> tuple[CodebookTexts | None, str | None]:
    """The codebook texts and the classifier (None: the product's) of a variant name: base, {neg|pos}-W,
    optionally +sim-KIND-SCALE (the zero-shot similarity feature, KIND minilm or label-match)."""
    texts_part, _, sim = name.partition("+")
    classifier = None
    if texts_part.startswith("sim"):
        texts_part, sim = "base", texts_part
    if sim:
        _, kind, scale = sim.split("-")
        SimilarityLogistic.documents = [" ".join(p for p in (c.label, c.description) if p) for c in specs]
        SimilarityLogistic.kind, SimilarityLogistic.scale = kind, float(scale)
        classifier = SimilarityLogistic.identifier
    if texts_part == "base":
        return None, classifier
    kind, weight = texts_part.split("-")
    return CodebookTexts.from_categories(specs, weight=float(weight), negatives=kind == "neg"), classifier


def score(texts, labels, codes, train, test, per_category, seed, name, specs, embedder, method=None):
    idx = train[sample_per_category(labels[train], per_category, seed)]
    codebook, similarity = variant(name, specs)
    classifier = similarity or method or default_trained(len(idx))
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
    metrics = agreement(labels[test], result.accept(probabilities), probabilities, codes)
    return {
        "alpha": metrics["alpha"],
        "micro_f1": metrics["micro_f1"],
        "macro_f1": metrics["macro_f1"],
        "classifier": classifier,
        "train": len(idx),
    }


def reference(variants, sizes, samples, embedder):
    out = {}
    for item_code, texts, labels, codes, specs, train, test in reference_corpus():
        for size in sizes:
            for name in variants:
                runs = [
                    score(
                        texts,
                        labels,
                        codes,
                        train,
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
                }
                out.setdefault(item_code, {}).setdefault(str(size), {})[name] = row
                print(json.dumps({"item": item_code, "size": size, "variant": name, **row}), file=sys.stderr)
    return out


def nhs(variants, sizes, samples):
    texts, labels, codes, train, test = data()
    vectors = cached_vectors("minilm", texts, minilm().encode)
    embedder = StoredEmbeddings(dict(zip(texts, vectors, strict=True)), minilm())
    specs = [CategorySpec(c, c) for c in codes]
    out = {}
    for size in sizes:
        per_category = None if size == "all" else int(size)
        draws = 1 if per_category is None else samples
        for name in variants:
            runs = [
                score(texts, labels, codes, train, test, per_category, SEED + s, name, specs, embedder)
                for s in range(draws)
            ]
            row = {
                key: round(statistics.mean(r[key] for r in runs), 4)
                for key in ("micro_f1", "macro_f1", "alpha")
            }
            row["micro_f1_runs"] = [r["micro_f1"] for r in runs]
            row["classifier"] = runs[0]["classifier"]
            row["train"] = runs[0]["train"]
            out.setdefault(str(size), {})[name] = row
            print(json.dumps({"nhs": size, "variant": name, **row}), file=sys.stderr)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--part", choices=["reference", "nhs", "both"], default="both")
    p.add_argument("--variants", default=DEFAULT_VARIANTS)
    p.add_argument("--sizes", default=None, help="reference: 5,10,20; nhs: 5,10,20,all")
    p.add_argument("--samples", type=int, default=5)
    args = p.parse_args()
    variants = args.variants.split(",")
    output = {"variants": variants, "samples": args.samples}
    if args.part in ("reference", "both"):
        sizes = [int(s) for s in (args.sizes or "5,10,20").split(",") if s != "all"]
        output["reference"] = reference(variants, sizes, args.samples, StoredEmbeddings({}, minilm()))
    if args.part in ("nhs", "both"):
        output["nhs"] = nhs(variants, (args.sizes or "5,10,20,all").split(","), args.samples)
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
