"""How answering scales with the knowledge base: the 1,000-question mix at 1×, 10× and 100× the entries.

Run: .venv/bin/python benchmarks/kb_scale.py [--scales 1 10 100] [--size 1000]

The larger knowledge bases are the real one plus synthetic entries, generated into a temporary copy and loaded
with ``core.kb_loader.load_knowledge_base`` like any other (so they pass the same validation: at least two
phrasings, real source ids, answers of 20-900 characters). Synthetic phrasings are built from the real phrasings'
own words, so they compete in the same TF-IDF features as real questions do — a harder case than unrelated text,
where most postings lists would stay short. Each scale runs in its own process, so resident memory is its own.

Reported per scale: load and index time, resident memory, questions per second and p50/p95/p99 of
``Advisor.handle`` (in-memory store), how latency grew against the growth in entries, and how many mix questions
got the same kind of reply and entry as at 1×.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import yaml

from benchmarks.common import MIX_SIZE, REPO, mib, question_mix, rss_bytes, run_mix
from core.kb_model import Topic

ENTRIES_PER_FILE = 400
"""Keeps every generated file far below the loader's 2 MB limit per file."""
SEED = 7


def _vocabulary(knowledge: Path) -> list[str]:
    words: list[str] = []
    for path in sorted((knowledge / "entries").glob("*.yaml")):
        for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["entries"]:
            for phrasing in entry["phrasings"]:
                words.extend(re.findall(r"[a-z']+", phrasing.lower()))
    return words  # with repetitions: common words stay common in the synthetic text


def synthetic_entries(count: int, knowledge: Path, phrasings: int, seed: int = SEED) -> list[dict[str, object]]:
    rng = random.Random(seed)
    words = _vocabulary(knowledge)
    roles = [r["id"] for r in yaml.safe_load((knowledge / "roles.yaml").read_text(encoding="utf-8"))["roles"]]
    sources = [s["id"] for s in yaml.safe_load((knowledge / "sources.yaml").read_text(encoding="utf-8"))["sources"]]
    topics = [t.value for t in Topic]
    entries = []
    for number in range(count):
        # A made-up but pronounceable specialty name keeps each entry's question distinct, as real ones are.
        tag = "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(3)) + f"{number}"
        how_many = max(2, phrasings + rng.randint(-3, 3))
        texts = [" ".join(rng.choices(words, k=rng.randint(3, 8))) + f" {tag}" for _ in range(how_many)]
        answer = " ".join(rng.choices(words, k=rng.randint(30, 120)))[:880].strip() + "."
        entries.append(
            {
                "id": f"synthetic_{number:06d}",
                "roles": rng.sample(roles, rng.randint(1, len(roles))),
                "topic": rng.choice(topics),
                "question": f"What about {tag} work?",
                "phrasings": texts,
                "answer": answer if len(answer) >= 20 else answer + " (synthetic entry for benchmarks)",
                "sources": rng.sample(sources, rng.randint(1, 3)),
            }
        )
    return entries


def scaled_copy(scale: int, target: Path) -> Path:
    knowledge = target / "knowledge"
    shutil.copytree(REPO / "knowledge", knowledge, ignore=shutil.ignore_patterns("*.md"))
    files = (knowledge / "entries").glob("*.yaml")
    real = [e for path in files for e in yaml.safe_load(path.read_text(encoding="utf-8"))["entries"]]
    # As many phrasings per entry as the real entries have on average, so the index grows with the entries.
    per_entry = round(sum(len(e["phrasings"]) for e in real) / len(real))
    extra = synthetic_entries(len(real) * (scale - 1), knowledge, per_entry)
    for first in range(0, len(extra), ENTRIES_PER_FILE):
        chunk = extra[first : first + ENTRIES_PER_FILE]
        path = knowledge / "entries" / f"synthetic_{first // ENTRIES_PER_FILE:04d}.yaml"
        path.write_text(yaml.safe_dump({"entries": chunk}, sort_keys=False, width=120), encoding="utf-8")
    return knowledge


async def child(scale: int, size: int) -> dict[str, object]:
    """One scale, in this process: returns the figures as a dict (printed as JSON for the parent)."""
    from core.advisor import Advisor
    from core.kb_loader import load_knowledge_base
    from core.sessions import MemorySessionStore

    with tempfile.TemporaryDirectory() as tmp:
        knowledge = scaled_copy(scale, Path(tmp))
        rss_before = rss_bytes()
        started = time.perf_counter()
        kb = load_knowledge_base(knowledge)
        loaded = time.perf_counter()
        advisor = Advisor(kb, MemorySessionStore())
        indexed = time.perf_counter()
    mix = question_mix(size)
    await run_mix(advisor, mix, "warm")
    latencies, outcomes = await run_mix(advisor, mix, "timed")
    return {
        "scale": scale,
        "entries": len(kb.entries),
        "phrasings": sum(len(e.phrasings) for e in kb.entries),
        "load_s": loaded - started,
        "index_s": indexed - loaded,
        "rss_growth": rss_bytes() - rss_before,
        "rss": rss_bytes(),
        **latencies.summary(),
        "outcomes": outcomes,
    }


def run(scales: list[int], size: int) -> None:
    results = []
    for scale in scales:
        # Synthetic phrasings' vectors go to a throwaway cache, not the user's (they would be ~120 MB at 100×);
        # every scale pays for encoding its phrasings, which shows in "index".
        with tempfile.TemporaryDirectory() as cache:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(scale), "--size", str(size)],
                capture_output=True, text=True, timeout=3600, check=True,
                env={**os.environ, "ADVISOR_CACHE_DIR": cache},
            )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = results[0]
    sizes = ", ".join(f"{s}×" for s in scales)
    print(f"Advisor.handle over the same {size} dev-split questions, knowledge base at {sizes}:")
    for r in results:
        same = sum(a == b for a, b in zip(r["outcomes"], base["outcomes"], strict=True)) / len(base["outcomes"])
        print(
            f"  {r['scale']:>3}× {r['entries']:>6} entries {r['phrasings']:>6} phrasings: load {r['load_s']:6.2f} s, "
            f"index {r['index_s']:6.2f} s, RSS {mib(r['rss'])} (+{mib(r['rss_growth'])} for the KB);"
        )
        print(
            f"       {r['per_second']:7.0f}/s  p50 {r['p50_ms']:6.2f} ms  p95 {r['p95_ms']:6.2f} ms  "
            f"p99 {r['p99_ms']:6.2f} ms;  same reply as 1×: {same:.1%}"
        )
    for r in results[1:]:
        growth = r["entries"] / base["entries"]
        for key in ("p50_ms", "p99_ms"):
            ratio = r[key] / base[key]
            exponent = math.log(ratio) / math.log(growth) if ratio > 0 else float("nan")
            # "Sublinear" only when clearly so: an exponent near 1 is linear growth whatever the noise says.
            verdict = "sublinear" if exponent < 0.9 else "about linear" if exponent <= 1.1 else "SUPERLINEAR"
            print(
                f"  {key[:3]} at {r['scale']}×: {ratio:5.2f}× the 1× time for {growth:5.1f}× the entries "
                f"(grows like entries^{exponent:.2f}: {verdict})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--size", type=int, default=MIX_SIZE)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child(args.child, args.size))))
        return
    run(args.scales, args.size)


if __name__ == "__main__":
    main()
