"""Core speed: questions answered per second and latency over a fixed 1,000-question mix.

Run: .venv/bin/python benchmarks/core_mix.py [--size 1000]

``Advisor.handle`` is timed directly, one question at a time, with the real knowledge base: the time a Slack or
Discord adapter spends in our own code for a typed question ("core time"). The mix is the dev split of
tests/data/questions.yaml, cycled and shuffled with a fixed seed (benchmarks/common.py). Measured after one
untimed warm-up pass (the matcher caches typo corrections, as it does in a running bot), with the in-memory
session store (the core alone) and with the SQLite store on a temporary file (the default deployment: every
answer also writes the conversation context).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from benchmarks.common import MIX_SIZE, REPO, format_summary, question_mix, run_mix
from core.advisor import Advisor
from core.kb_loader import load_knowledge_base
from core.sessions import MemorySessionStore, SessionStore, SQLiteSessionStore

CORE_P99_TARGET_MS = 5.0


async def measure(size: int) -> None:
    kb = load_knowledge_base(REPO / "knowledge")
    mix = question_mix(size)
    print(f"Advisor.handle over {len(mix)} dev-split questions ({len(kb.entries)} entries), one at a time:")
    with tempfile.TemporaryDirectory() as tmp:
        stores: list[tuple[str, SessionStore]] = [
            ("memory store (core only)", MemorySessionStore()),
            ("SQLite store (default deployment)", SQLiteSessionStore(Path(tmp) / "sessions.sqlite3")),
        ]
        for label, store in stores:
            advisor = Advisor(kb, store)
            await run_mix(advisor, mix, "warm")
            latencies, _ = await run_mix(advisor, mix, "timed")
            stats = latencies.summary()
            print("  " + format_summary(label, stats))
            verdict = "within" if stats["p99_ms"] < CORE_P99_TARGET_MS else "OVER"
            print(f"    core time p99 {stats['p99_ms']:.2f} ms: {verdict} the {CORE_P99_TARGET_MS:.0f} ms target")
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=MIX_SIZE, help="questions in the mix")
    args = parser.parse_args()
    asyncio.run(measure(args.size))


if __name__ == "__main__":
    main()
