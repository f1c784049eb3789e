"""Fine-tune only the top K transformer layers (+ a linear head) of a sentence encoder: the frozen lower
layers run once per text (their outputs are kept), so an epoch costs about K/N of a full fine-tune.
Same protocol and outputs as finetune.py (validation = grouped fold 0 of the training answers).

Usage: python bench/experiments/finetune_top.py --path DIR --name NAME --layers 2 [--epochs 6]"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from common import SEED, data, report_fine_tuned
from transformers import AutoModel, AutoTokenizer

from coding.training import agreement, grouped_folds, tune_thresholds


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--path", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--head-lr", type=float, default=3e-3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--max-tokens", type=int, default=128)
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
    encoder = AutoModel.from_pretrained(a.path, local_files_only=True, attn_implementation="eager")
    layers = encoder.encoder.layer
    start = len(layers) - a.layers
    top = torch.nn.ModuleList(layers[start:])
    head = torch.nn.Linear(encoder.config.hidden_size, labels.shape[1])
    dropout = torch.nn.Dropout(a.dropout)

    # Frozen part once per distinct text: the hidden states entering layer `start`.
    distinct = sorted(set(texts), key=lambda t: (len(t), t))
    t0, c0 = time.perf_counter(), time.process_time()
    states: dict[str, torch.Tensor] = {}
    encoder.eval()
    with torch.inference_mode():
        for s in range(0, len(distinct), 64):
            chunk = distinct[s : s + 64]
            enc = tokenizer(
                chunk, padding=True, truncation=True, max_length=a.max_tokens, return_tensors="pt"
            )
            out = encoder(**enc, output_hidden_states=True).hidden_states[start]
            for j, t in enumerate(chunk):
                n = int(enc["attention_mask"][j].sum())
                states[t] = out[j, :n].clone()
    frozen_wall, frozen_cpu = time.perf_counter() - t0, time.process_time() - c0

    def forward(batch_texts, train_mode):
        top.train(train_mode)
        dropout.train(train_mode)
        width = max(states[t].shape[0] for t in batch_texts)
        h = torch.zeros(len(batch_texts), width, encoder.config.hidden_size)
        mask = torch.zeros(len(batch_texts), width)
        for j, t in enumerate(batch_texts):
            n = states[t].shape[0]
            h[j, :n], mask[j, :n] = states[t], 1
        additive = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
        for layer in top:
            out = layer(h, additive)
            h = out[0] if isinstance(out, tuple) else out
        pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return pooled, head(dropout(pooled))

    def predict(batch_texts):
        probs, vectors = [], []
        with torch.inference_mode():
            for s in range(0, len(batch_texts), 128):
                pooled, logits = forward(batch_texts[s : s + 128], False)
                probs.append(torch.sigmoid(logits).numpy())
                vectors.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
        return np.concatenate(probs), np.concatenate(vectors)

    optimiser = torch.optim.AdamW(
        [{"params": top.parameters(), "lr": a.lr}, {"params": head.parameters(), "lr": a.head_lr}],
        weight_decay=0.01,
    )
    steps = a.epochs * ((len(fit_idx) + a.batch - 1) // a.batch)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / (0.06 * steps)) * max(0.0, (steps - s) / steps)
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    y = torch.tensor(labels, dtype=torch.float32)
    rng = np.random.default_rng(SEED)
    t0, c0 = time.perf_counter(), time.process_time()
    log = []
    for epoch in range(a.epochs):
        perm = rng.permutation(fit_idx)
        total = 0.0
        for s in range(0, len(perm), a.batch):
            idx = perm[s : s + a.batch]
            _, logits = forward([texts[i] for i in idx], True)
            loss = loss_fn(logits, y[idx])
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
            vp, _ = predict([texts[i] for i in val_idx])
            th = tune_thresholds(vp, labels[val_idx])
            entry["val_micro_tuned"] = agreement(labels[val_idx], vp >= th, vp, codes)["micro_f1"]
        log.append(entry)
        print(json.dumps(entry), flush=True)
    train_wall, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    all_probs, all_vectors = predict(texts)
    result = {
        "name": a.name,
        "args": vars(a),
        "train_answers": len(fit_idx),
        "frozen_pass_wall_s": round(frozen_wall, 1),
        "frozen_pass_cpu_s": round(frozen_cpu, 1),
        "train_wall_s": round(train_wall, 1),
        "train_cpu_s": round(train_cpu, 1),
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
