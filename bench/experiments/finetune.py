"""Fine-tune a sentence encoder (mean pooling + one linear layer, binary cross-entropy per code) on the
NHS training answers, and score it.

Protocol (training answers only for every choice): the grouped fold 0 of the 5 folds of the training
answers (bench/coding.py's grouping and seed) is the validation set: the model is trained on folds 1-4,
its validation probabilities choose Platt-free thresholds per code (coding.training.tune_thresholds),
and the held-out test answers are scored once at the end. Saves validation/test probabilities and the
fine-tuned sentence vectors of every text (/tmp/q-cache/ft-NAME.npz) for ensembling with the SVM.

Usage: python bench/experiments/finetune.py --path /tmp/q-models/minilm-gt --name ft-minilm
       [--epochs 4] [--lr 5e-5] [--head-lr 2e-3] [--batch 32] [--max-tokens 64]"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from common import SEED, data, report_fine_tuned
from transformers import AutoModel, AutoTokenizer

from coding.training import agreement, grouped_folds, tune_thresholds


class Tagger(torch.nn.Module):
    def __init__(self, path: str, n_codes: int, dropout: float):
        super().__init__()
        self.encoder = AutoModel.from_pretrained(path, local_files_only=True)
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, n_codes)

    def pooled(self, enc):
        hidden = self.encoder(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1)

    def forward(self, enc):
        return self.head(self.dropout(self.pooled(enc)))


def batches(texts, size, tokenizer, max_tokens, order):
    for s in range(0, len(order), size):
        idx = order[s : s + size]
        enc = tokenizer(
            [texts[i] for i in idx], padding=True, truncation=True, max_length=max_tokens, return_tensors="pt"
        )
        enc.pop("token_type_ids", None)
        yield idx, enc


def predict(model, texts, tokenizer, max_tokens, batch=64):
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    probs = np.zeros((len(texts), model.head.out_features), dtype=np.float32)
    vectors = np.zeros((len(texts), model.head.in_features), dtype=np.float32)
    with torch.inference_mode():
        for idx, enc in batches(texts, batch, tokenizer, max_tokens, order):
            pooled = model.pooled(enc)
            probs[idx] = torch.sigmoid(model.head(pooled)).numpy()
            vectors[idx] = torch.nn.functional.normalize(pooled, dim=1).numpy()
    return probs, vectors


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--path", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--head-lr", type=float, default=2e-3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--full", action="store_true", help="train on all training answers (no validation)")
    a = p.parse_args()
    torch.manual_seed(SEED)
    torch.set_num_threads(a.threads)
    texts, labels, codes, train, test = data()
    fold_of = grouped_folds([texts[i] for i in train], folds=5, seed=SEED)
    fit_idx = train if a.full else train[fold_of != 0]
    val_idx = train[fold_of == 0]
    tokenizer = AutoTokenizer.from_pretrained(a.path, local_files_only=True)
    model = Tagger(a.path, labels.shape[1], a.dropout)
    params = [
        {"params": model.encoder.parameters(), "lr": a.lr},
        {"params": model.head.parameters(), "lr": a.head_lr},
    ]
    optimiser = torch.optim.AdamW(params, weight_decay=0.01)
    steps = a.epochs * ((len(fit_idx) + a.batch - 1) // a.batch)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / (0.06 * steps)) * max(0.0, (steps - s) / steps)
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    y = torch.tensor(labels, dtype=torch.float32)
    fit_texts = [texts[i] for i in fit_idx]
    rng = np.random.default_rng(SEED)
    t0, c0 = time.perf_counter(), time.process_time()
    log = []
    for epoch in range(a.epochs):
        model.train()
        # Shuffled, then bucketed by length in chunks of 50 batches (less padding, still random).
        perm = rng.permutation(len(fit_idx))
        chunk = a.batch * 50
        order = np.concatenate(
            [sorted(perm[s : s + chunk], key=lambda i: len(fit_texts[i])) for s in range(0, len(perm), chunk)]
        )
        batch_list = [order[s : s + a.batch] for s in range(0, len(order), a.batch)]
        rng.shuffle(batch_list)
        total = 0.0
        for idx in batch_list:
            enc = tokenizer(
                [fit_texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=a.max_tokens,
                return_tensors="pt",
            )
            enc.pop("token_type_ids", None)
            loss = loss_fn(model(enc), y[fit_idx[idx]])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(idx)
        entry = {
            "epoch": epoch + 1,
            "loss": round(total / len(fit_idx), 4),
            "wall_s": round(time.perf_counter() - t0, 1),
            "cpu_s": round(time.process_time() - c0, 1),
        }
        if not a.full:
            vp, _ = predict(model, [texts[i] for i in val_idx], tokenizer, a.max_tokens)
            th = tune_thresholds(vp, labels[val_idx])
            entry["val_micro_tuned"] = agreement(labels[val_idx], vp >= th, vp, codes)["micro_f1"]
            entry["val_micro_05"] = agreement(labels[val_idx], vp >= 0.5, vp, codes)["micro_f1"]
        log.append(entry)
        print(json.dumps(entry), flush=True)
    train_wall, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    t1 = time.perf_counter()
    all_probs, all_vectors = predict(model, texts, tokenizer, a.max_tokens)
    encode_rate = len(texts) / (time.perf_counter() - t1)
    result = {
        "name": a.name,
        "args": vars(a),
        "train_answers": len(fit_idx),
        "train_wall_s": round(train_wall, 1),
        "train_cpu_s": round(train_cpu, 1),
        "predict_texts_per_s": round(encode_rate, 1),
        "epochs": log,
    }
    report_fine_tuned(
        result,
        full=a.full,
        texts=texts,
        labels=labels,
        codes=codes,
        probs=all_probs,
        vectors=all_vectors,
        fit_idx=fit_idx,
        val_idx=val_idx,
        test=test,
    )


if __name__ == "__main__":
    main()
