"""Few-shot, a fourth round (issue #5): averaged probabilities, a bagged map, the map with the SVM, and
per-category prior correction of the thresholds.

Reference items (`--part reference`): bench/coding.py's protocol exactly (`reference_corpus`, the 20
draws of 10 human codes per category, seeds SEED + draw, the codebook texts, the product's training step
`train_with_cross_validation` with seed SEED), run once per *member* classifier; every member sees the
same folds (they depend on the seed and the texts only), so out-of-fold probabilities of several members
can be averaged and the product's decision rule (`tune_decision_rule`: shrunk thresholds, relative cut,
codes-per-answer cap) chosen on the average, exactly as a classifier whose `predict_proba` averaged its
members would get it. Members:
- `lr`: tfidf-minilm-lr; `map`: tfidf-minilm-map-lr (the product's default below 500 answers);
- `map1`..`map4`: tfidf-minilm-map-lr with the map's pairs drawn with another seed (bagging the map);
- `mapsvm`: the map's vectors with the Platt-calibrated SVM (`tfidf-minilm-svm`'s model).
Combinations (`--combos`): `a+b+...` averages the members' probabilities.

`prior:<combo>`: the decision rule tuned on out-of-fold rows reweighted per category so that the
category's prevalence matches the one estimated on the item's uncoded answers (here the held-out
answers' texts, never their codes) by EM over the final model's probabilities (Saerens, Latinne &
Decaestecker 2002). The 10-per-category draw over-represents rare categories; a threshold tuned for F1
at the sample's prevalence is too low for the population's.

NHS (`--part nhs`): all 5,050 training answers, tfidf-minilm-svm against the map with the SVM (and
`--nhs-methods` for others), the product's training step with stored vectors.

Members' probabilities are saved under /tmp/h3-fewshot4 (derived from the reference corpus and NHS data:
outside the repository), so combinations are re-scored without training again (`--part combos`).

Usage: OMP_NUM_THREADS=1 .venv/bin/python bench/experiments/fewshot4.py --part reference \
           --members map,lr,map1,map2,map3,map4,mapsvm
       .venv/bin/python bench/experiments/fewshot4.py --part combos --combos map+lr,map+map1+map2
       OMP_NUM_THREADS=1 .venv/bin/python bench/experiments/fewshot4.py --part nhs

The clause boundary (`--part boundaries`, `boundaries-summary`, `counts`; members `shipped-strict` and
`shipped-neutral` for `--part reference`): the shipped `tfidf-minilm-map-clauses-lr` with
features.CLAUSE_BOUNDARY set to each rule in BOUNDARIES, against `tfidf-minilm-map-lr`, on NHS samples
of 5 / 10 / 20 per category with three seeds each; `--out /tmp/h5-fewshot4` keeps them apart.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import sys
from pathlib import Path

import numpy as np
from common import SEED, Clock, data

from bench.coding import reference_corpus, sample_per_category
from coding.classifiers import CLASSIFIERS, CategorySpec, features
from coding.classifiers.features import StoredEmbeddings, minilm, normalise_text
from coding.classifiers.linear import (
    TfidfMappedMiniLMLogistic,
    _PerCategorySvm,
    _TfidfMappedMiniLMFeatures,
    highest_of_answer_and_clauses,
)
from coding.classifiers.vector_map import learn_vector_map
from coding.training import (
    THRESHOLD_GRID,
    THRESHOLD_SHRINKAGE,
    _fit,
    agreement,
    codebook_for_training,
    decide,
    grouped_folds,
    max_codes_coded,
    micro_f1,
    train_with_cross_validation,
    tune_decision_rule,
)

OUT = Path("/tmp/h3-fewshot4")  # noqa: S108
DRAWS = 20
ITEMS = ("workload_reasons", "offender_professions", "trends", "offender_change_how")


def mapped_with_seed(offset: int) -> type:
    """tfidf-minilm-map-lr whose map draws its pairs with seed + offset (the model's own seed unchanged)."""

    class Bagged(TfidfMappedMiniLMLogistic):
        identifier = f"experiment-map{offset}"

        def _vectors_fit(self, texts, labels, seed):
            vectors = self.embedder.encode(list(texts)) if self.embedder else minilm().encode(list(texts))
            self.vector_map_ = learn_vector_map(vectors, labels, seed=seed + 7919 * offset)
            self.fit_report_ = {"vector_map": self.vector_map_.report}
            return self.vector_map_.apply(vectors)

    return Bagged


class MappedSvm(_TfidfMappedMiniLMFeatures, _PerCategorySvm):
    identifier = "experiment-map-svm"
    version = "0"


# Clauses of an answer: one reason each, as analysts list them ("understaffed; more devices per suspect").
CLAUSE_SPLIT = {
    "strict": re.compile(r"\s*(?:;|\.\s+|\bplus\b|\balso\b)\s*", re.IGNORECASE),
    "loose": re.compile(r"\s*(?:;|\.\s+|,|\bplus\b|\balso\b|\band\b|\bbut\b)\s*", re.IGNORECASE),
}


def clauses(text: str, how: str) -> list[str]:
    parts = [p.strip(" ,.;") for p in CLAUSE_SPLIT[how].split(text)]
    return [p for p in parts if len(p.split()) >= 2]


def clause_max(base: type, how: str) -> type:
    """`base` trained on whole answers as the product is; an answer's probability of a category is the
    highest of its own and its clauses' (multiple-instance: a clause that alone reads as "more data" is
    evidence of the code even when the whole answer's mean-pooled vector blends two reasons). The
    training step's out-of-fold probabilities go through the same rule, so its thresholds fit it."""

    class ClauseMax(base):
        identifier = f"experiment-{base.identifier}-clause-{how}"

        def predict_proba(self, texts):
            return highest_of_answer_and_clauses(super().predict_proba, texts, split_by(how))

    return ClauseMax


def split_by(how: str):
    """The clauses of an answer by the rule `how`; [] for fewer than two (scored whole only)."""
    return lambda text: parts if len(parts := clauses(text, how)) > 1 else []


def clause_max_scores(base: type, how: str) -> type:
    """The same rule for a Platt-calibrated classifier: the training step reads its decision_function
    out of fold, and the calibration is monotone per category, so the highest score is the highest
    probability."""

    class ClauseMaxScores(base):
        identifier = f"experiment-{base.identifier}-clause-{how}"

        def decision_function(self, texts):
            return highest_of_answer_and_clauses(super().decision_function, texts, split_by(how))

    return ClauseMaxScores


MEMBERS = {"lr": "tfidf-minilm-lr", "map": "tfidf-minilm-map-lr", "svm": "tfidf-minilm-svm"}
for _k in range(1, 8):
    CLASSIFIERS[f"experiment-map{_k}"] = mapped_with_seed(_k)
    MEMBERS[f"map{_k}"] = f"experiment-map{_k}"
CLASSIFIERS[MappedSvm.identifier] = MappedSvm
for _how in CLAUSE_SPLIT:
    for _name, _base in (("map", TfidfMappedMiniLMLogistic), ("lr", CLASSIFIERS["tfidf-minilm-lr"])):
        _cls = clause_max(_base, _how)
        CLASSIFIERS[_cls.identifier] = _cls
        MEMBERS[f"{_name}-clause-{_how}"] = _cls.identifier
    _cls = clause_max_scores(CLASSIFIERS["tfidf-minilm-svm"], _how)
    CLASSIFIERS[_cls.identifier] = _cls
    MEMBERS[f"svm-clause-{_how}"] = _cls.identifier
MEMBERS["mapsvm"] = MappedSvm.identifier

# The product's clause boundary (features.CLAUSE_BOUNDARY, which features.clauses reads at each call)
# set per run, so `shipped-<boundary>` measures the shipped classifier with that rule:
# - strict: the first shipped rule; "plus" and "also" are English and were joiners of the synthetic
#   reference corpus's two-code answers (with "; " and ". "), so they partly decode our own generator;
# - neutral: only where a writer ends a sentence or a list item: `;`, `.` `!` `?` before whitespace, a
#   line break.
BOUNDARIES = {
    "strict": re.compile(r"\s*(?:;|\.\s+|\bplus\b|\balso\b)\s*", re.IGNORECASE),
    "neutral": re.compile(r"\s*(?:;|[.!?]\s+|\n)\s*"),
}
for _boundary in BOUNDARIES:
    MEMBERS[f"shipped-{_boundary}"] = "tfidf-minilm-map-clauses-lr"


def use_boundary(member: str) -> None:
    """Set the product's clause boundary for a `shipped-<boundary>` member."""
    _, _, boundary = member.partition("shipped-")
    if boundary:
        features.CLAUSE_BOUNDARY = BOUNDARIES[boundary]


def stored_embedder() -> StoredEmbeddings:
    return StoredEmbeddings({}, minilm())


def fold_ensemble(texts, labels, codes, member, seed, codebook, embedder, folds, test_texts):
    """The product's training step (train_with_cross_validation, uncalibrated classifiers) that also keeps
    each fold's model: returns (its TrainResult, the mean of the fold models' probabilities on test_texts)."""
    classifier_cls = CLASSIFIERS[MEMBERS[member]]
    result = train_with_cross_validation(
        texts,
        labels,
        codes,
        classifier_id=MEMBERS[member],
        seed=seed,
        codebook=codebook,
        embedder=embedder,
        folds=folds,
    )
    folds = max(2, min(folds, len({normalise_text(t) for t in texts})))
    fold_of = grouped_folds(texts, folds=folds, seed=seed)
    fold_probabilities = []
    for fold in range(folds):
        train = np.flatnonzero(fold_of != fold)
        model = _fit(classifier_cls, embedder, [texts[i] for i in train], labels[train], seed, codebook)
        fold_probabilities.append(model.predict_proba(test_texts))
    return result, np.mean(fold_probabilities, axis=0)


def split_member(member: str) -> tuple[str, int]:
    """`map@10`: member `map` with 10 folds; the product's 5 otherwise."""
    name, _, folds = member.partition("@")
    return name, int(folds or 5)


def run_reference(members: list[str]) -> None:
    embedder = stored_embedder()
    for item, texts, labels, codes, specs, train, test in reference_corpus():
        for member in members:
            path = OUT / f"ref-{item}-{member}.pkl"
            if path.exists():
                continue
            draws = []
            use_boundary(member)
            for draw in range(DRAWS):
                idx = train[sample_per_category(labels[train], 10, SEED + draw)]
                codebook = codebook_for_training(specs, len(idx))
                name, folds = split_member(member)
                fold_mean = None
                with Clock() as clock:
                    if name.endswith("-cv"):  # also the fold models' mean on the test answers
                        result, fold_mean = fold_ensemble(
                            [texts[i] for i in idx],
                            labels[idx],
                            codes,
                            name.removesuffix("-cv"),
                            SEED,
                            codebook,
                            embedder,
                            folds,
                            [texts[i] for i in test],
                        )
                    else:
                        result = train_with_cross_validation(
                            [texts[i] for i in idx],
                            labels[idx],
                            codes,
                            classifier_id=MEMBERS[name],
                            seed=SEED,
                            codebook=codebook,
                            embedder=embedder,
                            folds=folds,
                        )
                    probabilities = result.classifier.predict_proba([texts[i] for i in test])
                product = agreement(labels[test], result.accept(probabilities), probabilities, codes)["alpha"]
                draws.append(
                    {
                        "idx": idx,
                        "oof": result.oof_probabilities,
                        "test": probabilities,
                        "alpha_own_rule": product,
                        "cpu_s": clock.cpu,
                        "fold_mean": fold_mean,
                    }
                )
            path.write_bytes(
                pickle.dumps({"test_idx": test, "labels": labels, "codes": codes, "draws": draws})
            )
            alphas = [d["alpha_own_rule"] or 0.0 for d in draws]
            cpu = sorted(d["cpu_s"] for d in draws)
            print(
                json.dumps(
                    {
                        "item": item,
                        "member": member,
                        "alpha_median": round(float(np.median(alphas)), 4),
                        "alpha_mean": round(float(np.mean(alphas)), 4),
                        "cpu_s_median": round(cpu[len(cpu) // 2], 2),
                        "cpu_s_total": round(sum(cpu), 1),
                        "load": os.getloadavg(),
                    }
                ),
                file=sys.stderr,
                flush=True,
            )


# --- prior correction --------------------------------------------------------------------------------


def em_prevalence(probabilities: np.ndarray, train_prevalence: np.ndarray, steps: int = 100) -> np.ndarray:
    """Per category, the prevalence on unlabelled answers by EM over probabilities calibrated at
    `train_prevalence` (Saerens et al. 2002), clipped away from 0 and 1."""
    ps = np.clip(train_prevalence, 1e-3, 1 - 1e-3)
    pt = ps.copy()
    p = np.clip(probabilities, 1e-6, 1 - 1e-6)
    for _ in range(steps):
        a = p * (pt / ps)
        b = (1 - p) * ((1 - pt) / (1 - ps))
        pt = np.clip((a / (a + b)).mean(axis=0), 1e-3, 1 - 1e-3)
    return pt


def weighted_f1(predicted, truth, weights):
    tp = (weights * (predicted & truth)).sum()
    fp = (weights * (predicted & ~truth)).sum()
    fn = (weights * (~predicted & truth)).sum()
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def prior_rule(oof: np.ndarray, labels: np.ndarray, weights: np.ndarray):
    """The product's rule (shrunk per-category thresholds, relative cut, cap) with each out-of-fold cell
    weighted by `weights` (per row and category)."""
    truth = labels > 0
    k = labels.shape[1]
    per = np.full(k, 0.5)
    for c in range(k):
        if not truth[:, c].any():
            continue
        best = (-1.0, 0.5)
        for t in THRESHOLD_GRID:
            s = weighted_f1(oof[:, c] >= t, truth[:, c], weights[:, c])
            if s > best[0] + 1e-12 or (abs(s - best[0]) <= 1e-12 and abs(t - 0.5) < abs(best[1] - 0.5)):
                best = (s, float(t))
        per[c] = best[1]
    cuts = np.round(np.arange(0.0, 0.801, 0.05), 2)
    best = (-1.0, 0.5)
    for t in THRESHOLD_GRID:
        for cut in cuts:
            s = weighted_f1(decide(oof, np.full(k, t), float(cut)), truth, weights)
            if s > best[0] + 1e-12:
                best = (s, float(t))
    support = truth.sum(axis=0)
    thresholds = (support * per + THRESHOLD_SHRINKAGE * best[1]) / (support + THRESHOLD_SHRINKAGE)
    best_cut = (-1.0, 0.0)
    for cut in cuts:
        s = weighted_f1(decide(oof, thresholds, float(cut)), truth, weights)
        if s > best_cut[0] + 1e-12:
            best_cut = (s, float(cut))
    return thresholds, best_cut[1], max_codes_coded(labels)


# --- combinations ------------------------------------------------------------------------------------


def load_member(item: str, member: str) -> dict:
    """A saved member; `name:folds` reads the fold models' mean as its test probabilities, `name:both` the
    mean of that and the final model's."""
    name, _, use = member.partition(":")
    run = pickle.loads((OUT / f"ref-{item}-{name}.pkl").read_bytes())  # noqa: S301 (run_reference's own)  # noqa: S301 - written by run_reference
    if use:
        for d in run["draws"]:
            d["test"] = d["fold_mean"] if use == "folds" else (d["fold_mean"] + d["test"]) / 2
    return run


def combo_alphas(item: str, combo: str) -> list[float]:
    prior = combo.startswith("prior:")
    names = combo.removeprefix("prior:").split("+")
    runs = [load_member(item, n) for n in names]
    labels, test = runs[0]["labels"], runs[0]["test_idx"]
    codes = runs[0]["codes"]
    out = []
    for d in range(DRAWS):
        idx = runs[0]["draws"][d]["idx"]
        oof = np.mean([r["draws"][d]["oof"] for r in runs], axis=0)
        probabilities = np.mean([r["draws"][d]["test"] for r in runs], axis=0)
        y = labels[idx]
        if prior:
            sample_prevalence = (y > 0).mean(axis=0)
            target = em_prevalence(probabilities, sample_prevalence)
            ps = np.clip(sample_prevalence, 1e-3, 1 - 1e-3)
            weights = np.where(y > 0, target / ps, (1 - target) / (1 - ps))
            thresholds, cut, cap = prior_rule(oof, y, weights)
        else:
            thresholds, cut, cap = tune_decision_rule(oof, y)
        alpha = agreement(labels[test], decide(probabilities, thresholds, cut, cap), probabilities, codes)[
            "alpha"
        ]
        out.append(alpha if alpha is not None else 0.0)
    return out


def run_combos(combos: list[str], baseline: str) -> None:
    table = {}
    for item in ITEMS:
        if not (OUT / f"ref-{item}-map.pkl").exists():
            continue
        base = np.array(combo_alphas(item, baseline))
        rows = {}
        for combo in [baseline, *combos]:
            try:
                a = np.array(base if combo == baseline else combo_alphas(item, combo))
            except FileNotFoundError:
                continue
            diff = a - base
            rows[combo] = {
                "median": round(float(np.median(a)), 3),
                "mean": round(float(a.mean()), 3),
                "gain": round(float(diff.mean()), 4),
                "se": round(float(diff.std(ddof=1) / np.sqrt(len(diff))), 4),
                "up": int((diff > 1e-9).sum()),
                "down": int((diff < -1e-9).sum()),
            }
        table[item] = rows
    print(json.dumps(table, indent=1))


# --- NHS ---------------------------------------------------------------------------------------------


def run_nhs(methods: list[str], size: int | None, per_category: int | None) -> None:
    texts, labels, codes, train, test = data()
    if size:
        train = np.sort(np.random.default_rng(SEED).permutation(train)[:size])
    if per_category:  # bench/coding.py's per-category sample
        train = train[sample_per_category(labels[train], per_category, SEED)]
    embedder = stored_embedder()
    with Clock() as clock:
        embedder.encode(sorted({texts[i] for i in np.concatenate([train, test])}))
    print(
        json.dumps({"embedding_cpu_s": round(clock.cpu, 1), "wall_s": round(clock.wall, 1)}), file=sys.stderr
    )
    specs = [CategorySpec(code=c, label=c) for c in codes]
    for member in methods:
        with Clock() as clock:
            result = train_with_cross_validation(
                [texts[i] for i in train],
                labels[train],
                codes,
                classifier_id=MEMBERS[member],
                seed=SEED,
                embedder=embedder,
                codebook=codebook_for_training(specs, len(train)),
            )
        probabilities = result.classifier.predict_proba([texts[i] for i in test])
        held = agreement(labels[test], result.accept(probabilities), probabilities, codes)
        truth = labels[test] > 0
        print(
            json.dumps(
                {
                    "member": member,
                    "train_answers": len(train),
                    "cv_micro_f1": result.metrics["micro_f1"],
                    "micro_f1": round(micro_f1(truth, result.accept(probabilities)), 4),
                    "macro_f1": held["macro_f1"],
                    "alpha": held["alpha"],
                    "share_error_estimated_pp": held["share_error_estimated_pp"],
                    "relative_cut": result.relative_cut,
                    "train_cpu_s": round(clock.cpu, 1),
                    "train_wall_s": round(clock.wall, 1),
                    "vector_map": (result.metrics.get("classifier_fit") or {}).get("vector_map"),
                    "load": os.getloadavg(),
                }
            ),
            flush=True,
        )
        np.savez(
            OUT / f"nhs-{member}-{size or per_category or 'all'}.npz",
            oof=result.oof_probabilities,
            test=probabilities,
        )


NHS_VARIANTS = {"none": "tfidf-minilm-map-lr", "strict": "shipped-strict", "neutral": "shipped-neutral"}
NHS_SEEDS = (SEED, 1, 2)


def run_nhs_boundaries(per_categories: list[int]) -> None:
    """The map classifier without clauses, with the strict and with the neutral boundary, on NHS
    per-category samples (bench/coding.py's `sample_per_category`, three seeds each): the product's
    training step, the whole answers' vectors stored (as in a coding run) and the clauses embedded on
    demand by a fresh lookup per variant, so each variant's CPU includes its own clauses' embedding."""
    texts, labels, codes, train, test = data()
    whole = stored_embedder()
    with Clock() as clock:
        whole.encode(sorted({texts[i] for i in np.concatenate([train, test])}))
    print(
        json.dumps({"embedding_cpu_s": round(clock.cpu, 1), "wall_s": round(clock.wall, 1)}), file=sys.stderr
    )
    specs = [CategorySpec(code=c, label=c) for c in codes]
    test_texts = [texts[i] for i in test]
    truth = labels[test] > 0
    with (OUT / "nhs-boundaries.jsonl").open("a") as out:
        for per_category in per_categories:
            for seed in NHS_SEEDS:
                idx = train[sample_per_category(labels[train], per_category, seed)]
                for variant, member in NHS_VARIANTS.items():
                    use_boundary(member)
                    embedder = StoredEmbeddings(whole.vectors, whole.embedder)
                    with Clock() as clock:
                        result = train_with_cross_validation(
                            [texts[i] for i in idx],
                            labels[idx],
                            codes,
                            classifier_id=MEMBERS.get(member, member),
                            seed=SEED,
                            embedder=embedder,
                            codebook=codebook_for_training(specs, len(idx)),
                        )
                    with Clock() as coding:
                        probabilities = result.classifier.predict_proba(test_texts)
                    accepted = result.accept(probabilities)
                    held = agreement(labels[test], accepted, probabilities, codes)
                    row = {
                        "per_category": per_category,
                        "seed": seed,
                        "variant": variant,
                        "train_answers": len(idx),
                        "micro_f1": round(micro_f1(truth, accepted), 4),
                        "macro_f1": held["macro_f1"],
                        "cv_micro_f1": result.metrics["micro_f1"],
                        "share_error_estimated_pp": held["share_error_estimated_pp"],
                        "train_cpu_s": round(clock.cpu, 2),
                        "train_wall_s": round(clock.wall, 2),
                        "coding_cpu_s": round(coding.cpu, 2),
                        "load": os.getloadavg(),
                    }
                    print(json.dumps(row), flush=True)
                    out.write(json.dumps(row) + "\n")
                    out.flush()


def summarise_nhs_boundaries() -> None:
    """Per size and over all (size, seed) cells: each variant's means, and the paired differences
    (mean ± standard error over the cells) of strict and neutral to no clauses and of neutral to strict."""
    rows = [json.loads(line) for line in (OUT / "nhs-boundaries.jsonl").read_text().splitlines()]
    cell = {(r["per_category"], r["seed"], r["variant"]): r for r in rows}
    metrics = ("micro_f1", "macro_f1", "cv_micro_f1", "share_error_mean", "train_cpu_s")
    for r in rows:
        r["share_error_mean"] = r["share_error_estimated_pp"]["mean"]
    sizes = sorted({r["per_category"] for r in rows})
    pairs = (("strict", "none"), ("neutral", "none"), ("neutral", "strict"))
    table = {}
    for group in [*[[s] for s in sizes], sizes]:
        keys = sorted({(p, s) for p, s, _ in cell if p in group})
        name = "all" if len(group) > 1 else f"{group[0]} per category"
        entry = {"cells": len(keys)}
        for variant in NHS_VARIANTS:
            entry[variant] = {
                m: round(float(np.mean([cell[(*k, variant)][m] for k in keys])), 4) for m in metrics
            }
        for a, b in pairs:
            for m in metrics:
                d = np.array([cell[(*k, a)][m] - cell[(*k, b)][m] for k in keys])
                se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
                entry[f"{a}-{b} {m}"] = (
                    f"{d.mean():+.4f} ± {se:.4f} ({int((d > 0).sum())} up / {int((d < 0).sum())} down)"
                )
        table[name] = entry
    print(json.dumps(table, indent=1))


def count_boundaries() -> None:
    """How many reference answers carry each joiner of the synthetic corpus's two-code answers, and how
    many answers (reference and NHS) split into clauses under each boundary."""
    reference = [
        r["text"]
        for rows in json.loads(Path("coding/reference/answers-2017.json").read_text())["items"].values()
        for r in rows
    ]
    texts = data()[0]
    counts = {"reference_answers": len(reference)}
    for joiner in ("; ", " plus ", ". ", ", also "):
        counts[f"reference containing {joiner!r}"] = sum(joiner in t.lower() for t in reference)
    for corpus, answers in (("reference", reference), ("nhs", list(texts))):
        counts[f"{corpus}_answers"] = len(answers)
        for boundary, pattern in BOUNDARIES.items():
            features.CLAUSE_BOUNDARY = pattern
            split = [features.clauses(t) for t in answers]
            counts[f"{corpus} split {boundary}"] = sum(bool(c) for c in split)
            counts[f"{corpus} clauses {boundary}"] = sum(len(c) for c in split)
    print(json.dumps(counts, indent=1))


def run_product() -> None:
    """The shipped classifier through bench/coding.py's own reference_items (the figure `make bench`
    prints), and its coding speed on the NHS test answers with the whole answers' vectors stored (the
    clauses are embedded on demand, as in a coding run), against the map classifier's."""
    from bench.coding import reference_items

    with Clock() as clock:
        result = reference_items(["tfidf-minilm-map-clauses-lr"])
    print(
        json.dumps(
            {
                item: {k: v["tfidf-minilm-map-clauses-lr"][k] for k in ("alpha_median", "alpha_mean")}
                for item, v in result.items()
            }
            | {"cpu_s": round(clock.cpu, 1), "load": os.getloadavg()}
        ),
        flush=True,
    )
    run_speed()


def run_speed() -> None:
    """Coding the NHS test answers after training on 10 per category, with the whole answers' vectors
    stored (the clauses embedded on demand, as in a coding run) and as answers never seen."""
    texts, labels, codes, train, test = data()
    idx = train[sample_per_category(labels[train], 10, SEED)]
    specs = [CategorySpec(code=c, label=c) for c in codes]
    test_texts = [texts[i] for i in test]
    for method in ("tfidf-minilm-map-lr", "tfidf-minilm-map-clauses-lr"):
        embedder = stored_embedder()
        embedder.encode(sorted({texts[i] for i in np.concatenate([idx, test])}))
        trained = train_with_cross_validation(
            [texts[i] for i in idx],
            labels[idx],
            codes,
            classifier_id=method,
            seed=SEED,
            embedder=embedder,
            codebook=codebook_for_training(specs, len(idx)),
        )
        with Clock() as clock:
            trained.classifier.predict_proba(test_texts)
        # Answers never seen: a fresh lookup, so the answers and their clauses are embedded too.
        trained.classifier.embedder = stored_embedder()
        with Clock() as first:
            trained.classifier.predict_proba(test_texts)
        print(
            json.dumps(
                {
                    "method": method,
                    "answers": len(test_texts),
                    "clauses_embedded": sum(len(features.clauses(t)) for t in test_texts),
                    "answers_per_s": round(len(test_texts) / clock.wall, 1),
                    "answers_per_cpu_s": round(len(test_texts) / clock.cpu, 1),
                    "first_time_answers_per_s": round(len(test_texts) / first.wall, 1),
                    "first_time_answers_per_cpu_s": round(len(test_texts) / first.cpu, 1),
                    "load": os.getloadavg(),
                }
            ),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--part",
        choices=(
            "reference",
            "combos",
            "nhs",
            "product",
            "speed",
            "boundaries",
            "boundaries-summary",
            "counts",
        ),
        required=True,
    )
    parser.add_argument("--members", default="map,lr")
    parser.add_argument("--combos", default="lr")
    parser.add_argument("--baseline", default="map")
    parser.add_argument("--nhs-methods", default="svm,mapsvm")
    parser.add_argument("--nhs-size", type=int)
    parser.add_argument("--nhs-per-category", type=int)
    parser.add_argument("--sizes", default="5,10,20", help="per-category sizes for --part boundaries")
    parser.add_argument("--out", type=Path, help=f"where members' probabilities are kept ({OUT})")
    args = parser.parse_args()
    if args.out:
        globals()["OUT"] = args.out
    globals()["OUT"].mkdir(exist_ok=True)
    if args.part == "boundaries":
        run_nhs_boundaries([int(s) for s in args.sizes.split(",")])
    elif args.part == "boundaries-summary":
        summarise_nhs_boundaries()
    elif args.part == "counts":
        count_boundaries()
    elif args.part == "reference":
        run_reference(args.members.split(","))
    elif args.part == "combos":
        run_combos(args.combos.split(","), args.baseline)
    elif args.part == "product":
        run_product()
    elif args.part == "speed":
        run_speed()
    else:
        run_nhs(args.nhs_methods.split(","), args.nhs_size, args.nhs_per_category)


if __name__ == "__main__":
    main()
