"""Optional faster sentence encoder: the same all-MiniLM-L6-v2 run by ONNX Runtime instead of NumPy.

The ONNX graph is written here, node by node with ``onnx.helper``, from the same ``model.safetensors`` the NumPy
encoder reads (no PyTorch, no exported model to download). It is built once per weights file and saved under the
caller's cache directory; later starts only load it. Inputs are ``input_ids`` and ``attention_mask`` (int64,
any batch and length); the output is the pooled, unit-length sentence embedding, so nothing but tokenising is
left to Python.

Two graph flavours, chosen by ``fused``:

* standard ONNX ops only (Gather, MatMul, Softmax, Erf, LayerNormalization from opset 17, ...): runs anywhere
  ONNX runs;
* ONNX Runtime's CPU contrib ops (``com.microsoft`` Attention, SkipLayerNormalization, BiasGelu), which do the
  attention, residual + norm and bias + GELU steps in one kernel each. The default: as fast as the standard
  graph in float32 and faster in int8 (0.76 against 0.94 ms p50, one thread; ``benchmarks/encoder_backends.py``).

``quantized=True`` adds ONNX Runtime's dynamic int8 quantisation of the matrix products (weights int8, activations
quantised per call): about four times faster again, but vectors move (cosine with the float vectors: mean 0.993,
worst 0.978 on the reference texts), so it carries its own ``model_id`` and vectors cached for one are never mixed
with the other's. "Per call" is why the int8 encoder encodes one text per call: the activations' scale is taken
over the whole batch, so a text encoded beside others would get a vector that depends on its neighbours, and the
vectors in a cache (filled a few texts at a time as the knowledge base changes) would depend on its history.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from .embedding import BatchEncoder, EmbeddingModelMissing, load_tokenizer, read_safetensors, weights_fingerprint

log = logging.getLogger("advisor.semantic")

OPSET = 17
"""LayerNormalization is a standard op from opset 17."""
GRAPH_VERSION = 1
"""Part of the cache file name: raise it whenever the graph built here changes, so old files are not reused."""
MS_DOMAIN = "com.microsoft"


class _GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, value: np.ndarray) -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str = "", domain: str = "", **attrs: object) -> str:
        output = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, domain=domain or None, **attrs))
        return output


def build_graph(model_dir: Path, fused: bool = True) -> onnx.ModelProto:
    """The whole encoder, tokens to unit-length sentence vectors, as an ONNX model (weights inside)."""
    weights_path = model_dir / "model.safetensors"
    if not weights_path.is_file():
        raise EmbeddingModelMissing(f"no model.safetensors in {model_dir}")
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    heads = int(config["num_attention_heads"])
    hidden = int(config["hidden_size"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    head_size = hidden // heads
    weights = read_safetensors(weights_path)
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""

    def w(name: str) -> np.ndarray:
        return np.asarray(weights[prefix + name], dtype=np.float32)

    g = _GraphBuilder()
    f32 = np.float32

    # Embeddings: word + position + token type 0 (single-sentence input), then LayerNorm.
    words = g.op("Gather", [g.const("word_embeddings", w("embeddings.word_embeddings.weight")), "input_ids"])
    length = g.op("Shape", ["input_ids"], "length", start=1, end=2)  # [length], 1-D
    position_rows = g.op(
        "Slice",
        [
            g.const("position_embeddings", w("embeddings.position_embeddings.weight")),
            g.const("zero", np.array([0], dtype=np.int64)),
            length,
            g.const("axis0", np.array([0], dtype=np.int64)),
        ],
        "positions",
    )
    x = g.op("Add", [words, position_rows])
    x = g.op("Add", [x, g.const("token_type_0", w("embeddings.token_type_embeddings.weight")[0])])
    x = g.op(
        "LayerNormalization",
        [
            x,
            g.const("embed_ln_w", w("embeddings.LayerNorm.weight")),
            g.const("embed_ln_b", w("embeddings.LayerNorm.bias")),
        ],
        axis=-1,
        epsilon=eps,
    )

    mask = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    if fused:
        attention_mask = g.op("Cast", ["attention_mask"], "mask_i32", to=TensorProto.INT32)
    else:
        # (1 - mask) * -1e9, shaped (batch, 1, 1, length) to add to every head's scores, as the NumPy encoder does.
        blocked = g.op(
            "Mul", [g.op("Sub", [g.const("one_f", np.array(1.0, f32)), mask]), g.const("big", np.array(-1e9, f32))]
        )
        attention_mask = g.op("Unsqueeze", [blocked, g.const("axes_1_2", np.array([1, 2], dtype=np.int64))], "blocked")
        head_shape = g.const("head_shape", np.array([0, 0, heads, head_size], dtype=np.int64))
        merged_shape = g.const("merged_shape", np.array([0, 0, hidden], dtype=np.int64))
        split_sizes = g.const("qkv_split", np.array([hidden, hidden, hidden], dtype=np.int64))

    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."

        def lw(name: str, p: str = p) -> np.ndarray:
            return w(p + name)

        qkv_w = np.concatenate(
            [lw("attention.self.query.weight"), lw("attention.self.key.weight"), lw("attention.self.value.weight")]
        ).T
        qkv_b = np.concatenate(
            [lw("attention.self.query.bias"), lw("attention.self.key.bias"), lw("attention.self.value.bias")]
        )
        out_w = g.const(f"l{i}_out_w", lw("attention.output.dense.weight").T)
        ln1 = [
            g.const(f"l{i}_ln1_w", lw("attention.output.LayerNorm.weight")),
            g.const(f"l{i}_ln1_b", lw("attention.output.LayerNorm.bias")),
        ]
        up_w = g.const(f"l{i}_up_w", lw("intermediate.dense.weight").T)
        up_b = g.const(f"l{i}_up_b", lw("intermediate.dense.bias"))
        down_w = g.const(f"l{i}_down_w", lw("output.dense.weight").T)
        down_b = g.const(f"l{i}_down_b", lw("output.dense.bias"))
        ln2 = [
            g.const(f"l{i}_ln2_w", lw("output.LayerNorm.weight")),
            g.const(f"l{i}_ln2_b", lw("output.LayerNorm.bias")),
        ]
        out_b = g.const(f"l{i}_out_b", lw("attention.output.dense.bias"))

        if fused:
            context = g.op(
                "Attention",
                [x, g.const(f"l{i}_qkv_w", qkv_w), g.const(f"l{i}_qkv_b", qkv_b), attention_mask],
                f"l{i}_attention",
                domain=MS_DOMAIN,
                num_heads=heads,
            )
            x = g.op(
                "SkipLayerNormalization",
                [g.op("MatMul", [context, out_w]), x, *ln1, out_b],
                f"l{i}_ln1",
                domain=MS_DOMAIN,
                epsilon=eps,
            )
            up = g.op("BiasGelu", [g.op("MatMul", [x, up_w]), up_b], f"l{i}_gelu", domain=MS_DOMAIN)
            x = g.op(
                "SkipLayerNormalization",
                [g.op("MatMul", [up, down_w]), x, *ln2, down_b],
                f"l{i}_ln2",
                domain=MS_DOMAIN,
                epsilon=eps,
            )
            continue

        qkv = g.op("Add", [g.op("MatMul", [x, g.const(f"l{i}_qkv_w", qkv_w)]), g.const(f"l{i}_qkv_b", qkv_b)])
        split = g.name(f"l{i}_split")
        q, k, v = (f"{split}_{part}" for part in "qkv")
        g.nodes.append(helper.make_node("Split", [qkv, split_sizes], [q, k, v], name=split, axis=-1))
        query = g.op("Transpose", [g.op("Reshape", [q, head_shape])], perm=[0, 2, 1, 3])
        key_t = g.op("Transpose", [g.op("Reshape", [k, head_shape])], perm=[0, 2, 3, 1])
        value = g.op("Transpose", [g.op("Reshape", [v, head_shape])], perm=[0, 2, 1, 3])
        scale = g.const("scale", np.array(1.0 / np.sqrt(head_size), f32))
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [query, key_t]), scale]), attention_mask])
        probs = g.op("Softmax", [scores], axis=-1)
        context = g.op("Transpose", [g.op("MatMul", [probs, value])], perm=[0, 2, 1, 3])
        context = g.op("Reshape", [context, merged_shape])
        attended = g.op("Add", [g.op("MatMul", [context, out_w]), out_b])
        x = g.op("LayerNormalization", [g.op("Add", [x, attended]), *ln1], f"l{i}_ln1", axis=-1, epsilon=eps)
        up = g.op("Add", [g.op("MatMul", [x, up_w]), up_b])
        erf = g.op("Erf", [g.op("Mul", [up, g.const("inv_sqrt2", np.array(0.7071067811865476, f32))])])
        up = g.op(
            "Mul",
            [
                g.op("Mul", [up, g.const("half", np.array(0.5, f32))]),
                g.op("Add", [erf, g.const("one_f", np.array(1.0, f32))]),
            ],
        )
        down = g.op("Add", [g.op("MatMul", [up, down_w]), down_b])
        x = g.op("LayerNormalization", [g.op("Add", [x, down]), *ln2], f"l{i}_ln2", axis=-1, epsilon=eps)

    # Mean over real tokens, then unit length (sentence-transformers' Pooling + Normalize).
    axis1 = g.const("axis1", np.array([1], dtype=np.int64))
    summed = g.op(
        "ReduceSum",
        [g.op("Mul", [x, g.op("Unsqueeze", [mask, g.const("axis2", np.array([2], dtype=np.int64))])]), axis1],
        keepdims=0,
    )
    count = g.op("Max", [g.op("ReduceSum", [mask, axis1], keepdims=1), g.const("one_f", np.array(1.0, f32))])
    pooled = g.op("Div", [summed, count], "pooled")
    norm = g.op("Max", [g.op("ReduceL2", [pooled], axes=[1], keepdims=1), g.const("tiny", np.array(1e-12, f32))])
    g.nodes.append(helper.make_node("Div", [pooled, norm], ["embedding"], name="embedding"))

    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])],
        g.initializers,
    )
    opsets = [helper.make_opsetid("", OPSET)]
    if fused:
        opsets.append(helper.make_opsetid(MS_DOMAIN, 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="legal-careers-advisor")
    model.ir_version = 8  # readable by every onnxruntime since 1.10
    if not fused:
        onnx.checker.check_model(model)
    return model


def model_path(model_dir: Path, cache_dir: Path, quantized: bool = False, fused: bool = True) -> Path:
    """Where the built graph for these weights lives (it may not exist yet)."""
    fingerprint = weights_fingerprint(model_dir / "model.safetensors")
    flavour = ("fused" if fused else "std") + ("-int8" if quantized else "")
    return cache_dir / f"minilm-{fingerprint}-g{GRAPH_VERSION}-{flavour}.onnx"


def _write_atomically(target: Path, write: object) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=target.stem + ".", suffix=".onnx.tmp", dir=target.parent)
    os.close(handle)
    try:
        write(Path(temporary))  # type: ignore[operator]
        os.chmod(temporary, 0o644)  # mkstemp makes it private; other users of a shared cache may read it
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def ensure_model(model_dir: Path, cache_dir: Path, quantized: bool = False, fused: bool = True) -> Path:
    """The graph file for these weights, built (and quantised) first if the cache does not hold it yet.

    Writes go to a temporary file renamed into place, so processes starting together never read half a file.
    """
    target = model_path(model_dir, cache_dir, quantized, fused)
    if target.is_file():
        return target
    if quantized:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        source = ensure_model(model_dir, cache_dir, quantized=False, fused=fused)
        _write_atomically(
            target,
            lambda path: quantize_dynamic(
                source,
                path,
                weight_type=QuantType.QInt8,
                per_channel=True,
                # The embedding tables stay float: a lookup is cheap, and int8 rows cost accuracy for nothing.
                op_types_to_quantize=["MatMul", "Attention"],
                # ONNX shape inference knows no com.microsoft ops; every tensor here is float.
                extra_options={"DefaultTensorType": TensorProto.FLOAT},
            ),
        )
    else:
        model = build_graph(model_dir, fused)
        _write_atomically(target, lambda path: onnx.save_model(model, str(path)))
    return target


class OnnxSentenceEncoder(BatchEncoder):
    """Same interface as ``core.embedding.SentenceEncoder``: ``encode(texts)`` -> unit-length float32 rows."""

    def __init__(
        self,
        model_dir: Path,
        cache_dir: Path,
        quantized: bool = False,
        *,
        threads: int = 1,
        fused: bool = True,
        spin: bool = True,
    ) -> None:
        weights_path = model_dir / "model.safetensors"
        if not weights_path.is_file():
            raise EmbeddingModelMissing(f"no model.safetensors in {model_dir}")
        self.dimensions = int(json.loads((model_dir / "config.json").read_text(encoding="utf-8"))["hidden_size"])
        # Float graph: the NumPy encoder's id (same vectors to ~1e-6, so cached vectors are shared).
        # "-b1": int8 vectors encoded one text per call (see the module notes); caches of batched ones are not reused.
        self.model_id = weights_fingerprint(weights_path) + ("-int8-b1" if quantized else "")
        self.quantized = quantized
        self.path = ensure_model(model_dir, cache_dir, quantized, fused)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if not spin:
            # Idle worker threads sleep instead of spinning: less CPU burnt between questions, a little latency.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime raises its own exception types for a damaged file
            # A damaged cached graph (disk full, a stray copy) is rebuilt once, like the vector cache.
            log.warning("cached ONNX graph %s unreadable (%s); rebuilding it", self.path, exc)
            self.path.unlink(missing_ok=True)
            self.path = ensure_model(model_dir, cache_dir, quantized, fused)
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = load_tokenizer(model_dir)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        # int8: one text per call, so that a text's vector is a function of the text alone.
        return super().encode(texts, batch_size=1 if self.quantized else batch_size)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (vectors,) = self.session.run(["embedding"], {"input_ids": ids, "attention_mask": mask})
        return vectors
