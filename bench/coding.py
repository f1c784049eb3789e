"""Benchmark of automatic free-text coding on public, human-coded, multi-label survey data.

Data: the NHS Friends and Family Test answers in ../shared/data (see its README); read from there,
never copied into the repository. Skipped (exit 0, {"skipped": ...}) when the file is absent.

Protocol: drop the "Labelling not possible" non-answers; keep codes with at least 20 examples; split by
normalised answer text so no text is in both train and test (fixed seed, 20 % of texts for test).
For each method and for 5, 10, 20 and all human codes per category: micro- and macro-F1, Krippendorff's
alpha per code and overall, the error of the category shares (percentage points; from hard codes and
from the mean calibrated probability), answers coded per second and training time (medians of REPEATS
runs). Also: retraining time on 1,000 coded answers, and alpha on the reference items (coding/reference)
with 10 human codes per category against held-out human codes.

Trained runs learn from the categories' own texts too, as the product does below
coding.training.CODEBOOK_TEXTS_BELOW_HUMAN_CODED human-coded answers: on the NHS data the code names (it
has no descriptions), on the reference items the reference codebooks' labels and descriptions.

What "answers/s" counts, for classifiers that read sentence embeddings (the product stores each answer's
vector once, coding/embeddings.py):
- `answers_per_second_stored`: coding answers whose vectors are stored (every run after an item's first,
  and the first one once its answers are embedded): TF-IDF features + the linear models.
- `answers_per_second_first_time`: coding answers never seen before: embedding them with MiniLM too.
- `embedding_texts_per_second`: MiniLM alone.
`--embedder` picks the graph: `int8` (the product's, int8 activations, coding/classifiers/minilm_int8.py) or
`shipped` (the package's file as it is, the product's before 2026-12-05). `--compare-embedders` also times
both on the test answers, alternating, and reports the cosine between their vectors of every text.
Training and retraining read stored vectors (embedding every answer once is timed on its own,
`embedding_all_answers_seconds`), as the coding job does. Times are wall-clock seconds with the CPU
seconds of the process beside them: the machine is shared, and CPU seconds vary less with others' load.

Usage: .venv/bin/python bench/coding.py [--data PATH] [--repeats 3] [--methods a,b] [--sizes 5,10,20,all]
       [--no-reference] [--embedder int8|shipped] [--compare-embedders] > result.json
A quick look while iterating: --methods tfidf-minilm-lr --sizes all --repeats 1 --no-reference
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coding.classifiers import CLASSIFIERS, CategorySpec  # noqa: E402
from coding.classifiers.features import MiniLMEmbedder, StoredEmbeddings, normalise_text  # noqa: E402
from coding.training import (  # noqa: E402
    agreement,
    codebook_for_training,
    decide,
    grouped_folds,
    train_with_cross_validation,
)

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "pxtextmining_v6framework_230831.csv"
FIRST_CODE_COLUMN = "Not assigned"
NON_ANSWER = "Labelling not possible"
SEED = 20170523
MIN_EXAMPLES = 20


def load(path: Path) -> tuple[list[str], np.ndarray, list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    start = header.index(FIRST_CODE_COLUMN)
    code_names = header[start:]
    text_col = header.index("FFT answer")
    texts, labels = [], []
    non_answer = code_names.index(NON_ANSWER)
    for row in rows:
        text = row[text_col].strip()
        flags = [1 if cell.strip() in {"1", "1.0"} else 0 for cell in row[start:]]
        if not text or flags[non_answer]:
            continue
        texts.append(text)
        labels.append(flags)
    matrix = np.array(labels, dtype=np.int8)
    keep = [
        k for k, name in enumerate(code_names) if name != NON_ANSWER and matrix[:, k].sum() >= MIN_EXAMPLES
    ]
    return texts, matrix[:, keep], [code_names[k] for k in keep]


def split(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    fold = grouped_folds(texts, folds=5, seed=SEED)
    return np.flatnonzero(fold != 0), np.flatnonzero(fold == 0)


def sample_per_category(labels: np.ndarray, per_category: int | None, seed: int) -> np.ndarray:
    """Indices of a training sample with (at least) `per_category` positives for every category."""
    if per_category is None:
        return np.arange(labels.shape[0])
    rng = np.random.default_rng(seed)
    chosen: set[int] = set()
    for k in range(labels.shape[1]):
        positives = np.flatnonzero(labels[:, k])
        have = sum(1 for i in chosen if labels[i, k])
        need = max(0, per_category - have)
        pool = [int(i) for i in positives if int(i) not in chosen]
        chosen.update(rng.permutation(pool)[:need].tolist())
    return np.array(sorted(chosen))


class Clock:
    """Wall and CPU seconds of a block (CPU: this process, all threads)."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


EMBEDDERS = {"int8": {"int8_activations": True}, "shipped": {"int8_activations": False}}


def stored_vectors(texts: list[str], embedder: MiniLMEmbedder) -> tuple[StoredEmbeddings, dict]:
    """Every distinct text embedded once, as the coding job does before training (coding/embeddings.py)."""
    distinct = sorted(set(texts))
    with Clock() as clock:
        vectors = embedder.encode(distinct)
    timing = {
        "texts": len(distinct),
        "embedding_all_answers_seconds": round(clock.wall, 1),
        "embedding_all_answers_cpu_seconds": round(clock.cpu, 1),
        "embedding_texts_per_second": round(len(distinct) / clock.wall, 1),
        "embedding_threads": embedder.threads,
        "embedding_model": embedder.key,
        "embedding_graph": embedder.graph,
    }
    return StoredEmbeddings(dict(zip(distinct, vectors, strict=True)), embedder), timing


def run_method(method, texts, labels, codes, train, test, per_category, repeats, specs, stored):
    train_idx = train[sample_per_category(labels[train], per_category, SEED)]
    train_texts = [texts[i] for i in train_idx]
    test_texts = [texts[i] for i in test]
    cls = CLASSIFIERS[method]
    embedder = stored if cls.uses_embeddings else None
    # Training with 5-fold CV is timed once (it is deterministic); coding speed is the median of `repeats`.
    with Clock() as training:
        if cls.trained:
            result = train_with_cross_validation(
                train_texts,
                labels[train_idx],
                codes,
                classifier_id=method,
                seed=SEED,
                folds=5,
                embedder=embedder,
                codebook=codebook_for_training(specs, len(train_idx)),
            )
            model, accept = result.classifier, result.accept
            relative_cut, predict = result.relative_cut, result.probabilities
        else:
            model, relative_cut = cls().describe(specs), 0.0
            accept = lambda p: decide(p, np.full(len(codes), 0.5))  # noqa: E731
            predict = model.predict_proba
    rates = []
    for _ in range(repeats):
        with Clock() as coding:
            probabilities = predict(test_texts)
        rates.append(len(test_texts) / coding.wall)
    metrics = agreement(labels[test], accept(probabilities), probabilities, codes)
    row = {
        "method": method,
        "human_codes_per_category": per_category or "all",
        "train_answers": len(train_idx),
        "test_answers": len(test),
        "micro_f1": metrics["micro_f1"],
        "macro_f1": metrics["macro_f1"],
        "relative_cut": relative_cut,
        "alpha_overall": metrics["alpha"],
        "alpha_per_code": {c: e["alpha"] for c, e in metrics["categories"].items()},
        "share_error_hard_pp": metrics["share_error_hard_pp"],
        "share_error_estimated_pp": metrics["share_error_estimated_pp"],
        ("answers_per_second_stored" if cls.uses_embeddings else "answers_per_second"): round(
            statistics.median(rates), 1
        ),
        "answers_per_second_runs": [round(r, 1) for r in rates],
        "training_seconds_incl_cv": round(training.wall, 2),
        "training_cpu_seconds_incl_cv": round(training.cpu, 2),
    }
    if cls.uses_embeddings and per_category is None:
        # The same model, embedding the test answers as if never seen (a fresh lookup each time); once
        # per method, with all codes (the training size barely changes the cost).
        first_rates = []
        for _ in range(repeats):
            model.embedder = StoredEmbeddings({}, stored.embedder)
            with Clock() as coding:
                predict(test_texts)
            first_rates.append(len(test_texts) / coding.wall)
        model.embedder = stored
        row["answers_per_second_first_time"] = round(statistics.median(first_rates), 1)
        row["answers_per_second_first_time_runs"] = [round(r, 1) for r in first_rates]
    return row


def retrain_seconds(method, texts, labels, codes, train, repeats, stored, specs) -> dict:
    """Retraining on 1,000 coded answers whose vectors are stored: the whole job's training step (5-fold CV
    for thresholds and the agreement report, then the final model) and the final fit alone."""
    idx = np.random.default_rng(SEED).permutation(train)[:1000]
    sample = [texts[i] for i in idx]
    embedder = stored if CLASSIFIERS[method].uses_embeddings else None
    full, final = [], []
    for _ in range(repeats):
        with Clock() as clock:
            train_with_cross_validation(
                sample,
                labels[idx],
                codes,
                classifier_id=method,
                seed=SEED,
                embedder=embedder,
                codebook=codebook_for_training(specs, len(idx)),
            )
        full.append(clock)
        with Clock() as clock:
            CLASSIFIERS[method](embedder=embedder).fit(sample, labels[idx], seed=SEED)
        final.append(clock)
    return {
        "with_cv_seconds": round(statistics.median(c.wall for c in full), 2),
        "with_cv_seconds_runs": [round(c.wall, 2) for c in full],
        "with_cv_cpu_seconds": round(statistics.median(c.cpu for c in full), 2),
        "final_fit_seconds": round(statistics.median(c.wall for c in final), 2),
        "final_fit_cpu_seconds": round(statistics.median(c.cpu for c in final), 2),
    }


# Draws of the 10 human codes per category on the reference items (reference_items). Was 10: over 20
# draws the medians of workload_reasons and offender_professions moved by 0.02 and 0.04 from the first 10
# (either way), as much as the differences between methods (docs/performance.md, 2026-12-06).
REFERENCE_SAMPLES = 20


def reference_corpus():
    """Per reference item: (item code, texts, labels, codes, category specs, train and test indices).
    The synthetic answers with their human codes, the categories' labels and descriptions from the
    reference codebooks (what codebooks_import_reference loads), split by text as the NHS data is."""
    corpus = json.loads((ROOT / "coding" / "reference" / "answers-2017.json").read_text())
    codebooks = json.loads((ROOT / "surveys" / "reference" / "codebooks.json").read_text())
    for item_code, answers in corpus["items"].items():
        codes = sorted({c for a in answers for c in a["codes"]})
        frame = {c["code"]: c for c in codebooks[item_code]}
        specs = [
            CategorySpec(
                c, frame[c]["label"], frame[c].get("description", ""), tuple(frame[c].get("examples", ()))
            )
            for c in codes
        ]
        texts = [a["text"] for a in answers]
        labels = np.array([[1 if c in a["codes"] else 0 for c in codes] for a in answers], dtype=np.int8)
        train, test = split(texts)
        yield item_code, texts, labels, codes, specs, train, test


def reference_items(methods: list[str], samples: int = REFERENCE_SAMPLES, embedder_for_draw=None) -> dict:
    """Alpha against held-out human codes with 10 human codes per category, per reference item, for
    `samples` seeded draws of those 10 (seeds SEED, SEED + 1, ...; the held-out answers stay the same).
    The items are small (12-44 held-out answers), so one draw moved alpha by up to 0.27: the median over
    the draws is the figure, the first draw (seed SEED) is kept beside it for continuity.

    `embedder_for_draw(texts, labels, codebook, seed)`, if given, returns the sentence embedder of one
    draw, built from that draw's training answers only (bench/experiments/setfit.py); None: the product's
    MiniLM."""
    out = {}
    for item_code, texts, labels, codes, specs, train, test in reference_corpus():
        per_method = {}
        for method in methods:
            if not CLASSIFIERS[method].trained:
                continue
            draws = []
            for draw in range(samples):
                idx = train[sample_per_category(labels[train], 10, SEED + draw)]
                codebook = codebook_for_training(specs, len(idx))
                embedder = None
                if embedder_for_draw is not None:
                    embedder = embedder_for_draw([texts[i] for i in idx], labels[idx], codebook, SEED + draw)
                result = train_with_cross_validation(
                    [texts[i] for i in idx],
                    labels[idx],
                    codes,
                    classifier_id=method,
                    seed=SEED,
                    codebook=codebook,
                    embedder=embedder,
                )  # embedder None: embeds with MiniLM directly (a few hundred short answers)
                probabilities = result.probabilities([texts[i] for i in test])
                metrics = agreement(labels[test], result.accept(probabilities), probabilities, codes)
                draws.append((metrics, result, codebook is not None, len(idx)))
            alphas = [m["alpha"] if m["alpha"] is not None else 0.0 for m, *_ in draws]
            first, first_result, with_codebook, train_answers = draws[0]
            per_method[method] = {
                "alpha_median": round(float(np.median(alphas)), 4),
                "alpha_mean": round(float(np.mean(alphas)), 4),
                "alpha_samples": alphas,
                "micro_f1_median": round(float(np.median([m["micro_f1"] for m, *_ in draws])), 4),
                "alpha_overall": first["alpha"],
                "micro_f1": first["micro_f1"],
                "relative_cut": first_result.relative_cut,
                "max_codes": first_result.max_codes,
                "codebook_texts": with_codebook,
                "train_answers": train_answers,
                "test_answers": len(test),
                "alpha_per_code": {c: e["alpha"] for c, e in first["categories"].items()},
            }
        out[item_code] = per_method
    return out


def compare_embedders(texts, labels, train, test, repeats: int, stored: StoredEmbeddings | None) -> dict:
    """Both graphs side by side on the test answers, alternating (the machine is shared: compare within
    one run): embedding alone, and coding answers never seen before (embedding + `tfidf-minilm-svm`, the
    default with all codes, fitted once on the training answers' stored vectors, uncalibrated: only the
    speed of the prediction is compared, not its quality); and the cosine between their vectors of every distinct text."""
    embedders = {name: MiniLMEmbedder(**options) for name, options in EMBEDDERS.items()}
    distinct = sorted(set(texts))
    vectors = {
        name: np.stack([stored.vectors[t] for t in distinct])
        if stored is not None and stored.key == embedder.key
        else embedder.encode(distinct)
        for name, embedder in embedders.items()
    }
    product = stored or StoredEmbeddings(dict(zip(distinct, vectors["int8"], strict=True)), embedders["int8"])
    model = CLASSIFIERS["tfidf-minilm-svm"](embedder=product).fit(
        [texts[i] for i in train], labels[train], seed=SEED
    )
    test_texts = [texts[i] for i in test]
    distinct_test = sorted(set(test_texts))
    embedding: dict[str, list[Clock]] = {name: [] for name in embedders}
    coding: dict[str, list[Clock]] = {name: [] for name in embedders}
    for repeat in range(repeats):
        order = list(embedders) if repeat % 2 == 0 else list(reversed(embedders))
        for name in order:
            with Clock() as clock:
                embedders[name].encode(distinct_test)
            embedding[name].append(clock)
            model.embedder = StoredEmbeddings({}, embedders[name])
            with Clock() as clock:
                model.decision_function(test_texts)  # predict_proba less its Platt sigmoid
            coding[name].append(clock)
    model.embedder = product

    def rates(clocks: list[Clock], count: int) -> dict:
        return {
            "per_second": round(count / statistics.median(c.wall for c in clocks), 1),
            "per_second_runs": [round(count / c.wall, 1) for c in clocks],
            "cpu_seconds_runs": [round(c.cpu, 2) for c in clocks],
            "per_cpu_second": round(count / statistics.median(c.cpu for c in clocks), 1),
        }

    out: dict = {
        "distinct_test_texts": len(distinct_test),
        "test_answers": len(test_texts),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    for name, embedder in embedders.items():
        out[name] = {
            "model": embedder.key,
            "threads": embedder.threads,
            "embedding_texts": rates(embedding[name], len(distinct_test)),
            "coding_answers_first_time": rates(coding[name], len(test_texts)),
        }
    cosine = (vectors["int8"] * vectors["shipped"]).sum(axis=1)  # both are L2-normalised
    out["cosine_int8_vs_shipped"] = {
        "texts": len(distinct),
        "min": round(float(cosine.min()), 4),
        "p01": round(float(np.quantile(cosine, 0.01)), 4),
        "median": round(float(np.median(cosine)), 4),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("CODING_BENCH_DATA", DEFAULT_DATA)))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--methods",
        default="label-match,tfidf-lr,tfidf-minilm-lr,tfidf-minilm-map-lr,tfidf-minilm-map-clauses-lr,tfidf-minilm-svm",
    )
    parser.add_argument("--sizes", default="5,10,20,all")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference items")
    parser.add_argument("--embedder", choices=sorted(EMBEDDERS), default="int8", help="the MiniLM graph")
    parser.add_argument("--compare-embedders", action="store_true", help="time both graphs side by side")
    parser.add_argument(
        "--sample", type=int, help="a seeded random sample of this many answers (quick checks of the bench)"
    )
    args = parser.parse_args()
    methods = args.methods.split(",")
    output: dict = {"benchmark": "coding", "seed": SEED, "repeats": args.repeats}
    if not args.data.exists():
        output["skipped"] = f"data not found at {args.data}"
        print(json.dumps(output, indent=2))
        return
    texts, labels, codes = load(args.data)
    sampled = bool(args.sample and args.sample < len(texts))
    if sampled:
        # Quality figures on a sample are not the target's (all the data); `data.sample` says so.
        keep = np.sort(np.random.default_rng(SEED).permutation(len(texts))[: args.sample])
        texts, labels = [texts[i] for i in keep], labels[keep]
        frequent = np.flatnonzero(labels.sum(axis=0) >= MIN_EXAMPLES)
        labels, codes = labels[:, frequent], [codes[k] for k in frequent]
    train, test = split(texts)
    if {normalise_text(texts[i]) for i in train} & {normalise_text(texts[i]) for i in test}:
        raise SystemExit("a text is in both train and test")
    specs = [CategorySpec(code=c, label=c) for c in codes]
    output["data"] = {"answers": len(texts), "codes": len(codes), "train": len(train), "test": len(test)}
    output["data"]["sample"] = args.sample if sampled else None
    output["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    stored = None
    if any(CLASSIFIERS[m].uses_embeddings for m in methods):
        stored, output["embeddings"] = stored_vectors(texts, MiniLMEmbedder(**EMBEDDERS[args.embedder]))
        print(json.dumps(output["embeddings"]), file=sys.stderr)
    if args.compare_embedders:
        output["embedding_comparison"] = compare_embedders(texts, labels, train, test, args.repeats, stored)
        print(json.dumps(output["embedding_comparison"]), file=sys.stderr)
    output["results"] = []
    sizes = [None if s == "all" else int(s) for s in args.sizes.split(",")]
    for method in methods:
        for size in sizes if CLASSIFIERS[method].trained else [None]:
            row = run_method(method, texts, labels, codes, train, test, size, args.repeats, specs, stored)
            output["results"].append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "alpha_per_code"}), file=sys.stderr)
    output["retrain_1000"] = {
        m: retrain_seconds(m, texts, labels, codes, train, args.repeats, stored, specs)
        for m in methods
        if CLASSIFIERS[m].trained
    }
    print(json.dumps(output["retrain_1000"]), file=sys.stderr)
    if not args.no_reference:
        output["reference_items_10_per_category"] = reference_items(methods)
    output["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
