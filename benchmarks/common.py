"""Shared pieces of the benchmark suite: the fixed question mix, percentiles, resident memory, timing a mix."""

from __future__ import annotations

import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # every benchmark runs as a script from anywhere

import yaml  # noqa: E402

from core.advisor import Advisor  # noqa: E402
from core.reply import Request  # noqa: E402

QUESTIONS = REPO / "tests" / "data" / "questions.yaml"
MIX_SIZE = 1000
MIX_SEED = 20261123


@dataclass(frozen=True)
class MixItem:
    text: str
    context: tuple[str, ...] = ()


def question_mix(size: int = MIX_SIZE, seed: int = MIX_SEED) -> list[MixItem]:
    """``size`` questions from the dev split only (the test split is never used for anything here), cycled and
    shuffled with a fixed seed, so every run and every machine sees the same mix in the same order."""
    items = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))["questions"]
    dev = [MixItem(item["q"], tuple(item.get("context") or ())) for item in items if item.get("split") == "dev"]
    mix = [dev[i % len(dev)] for i in range(size)]
    random.Random(seed).shuffle(mix)
    return mix


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))]


@dataclass(frozen=True)
class Latencies:
    seconds: list[float]

    @property
    def ms(self) -> list[float]:
        return sorted(s * 1000 for s in self.seconds)

    def summary(self) -> dict[str, float]:
        ms = self.ms
        return {
            "n": len(ms),
            "per_second": len(ms) / sum(self.seconds) if self.seconds else 0.0,
            "p50_ms": statistics.median(ms),
            "p95_ms": percentile(ms, 0.95),
            "p99_ms": percentile(ms, 0.99),
            "max_ms": ms[-1],
        }


def format_summary(label: str, stats: dict[str, float]) -> str:
    return (
        f"{label:<44} {stats['per_second']:8.0f}/s   p50 {stats['p50_ms']:6.2f} ms   p95 {stats['p95_ms']:6.2f} ms   "
        f"p99 {stats['p99_ms']:6.2f} ms   max {stats['max_ms']:7.2f} ms   (n={int(stats['n'])})"
    )


async def run_mix(advisor: Advisor, mix: list[MixItem], user_prefix: str) -> tuple[Latencies, list[tuple[str, str]]]:
    """Each question from a fresh user, one at a time; a follow-up's earlier messages are sent first, untimed.

    Returns the time of each ``Advisor.handle`` call for the mix questions and what each was answered with
    (kind, entry), so different runs can be compared answer by answer.
    """
    times: list[float] = []
    outcomes: list[tuple[str, str]] = []
    for number, item in enumerate(mix):
        user = f"{user_prefix}-{number}"
        for earlier in item.context:
            await advisor.handle(Request("bench", "w", user, text=earlier))
        started = time.perf_counter()
        reply = await advisor.handle(Request("bench", "w", user, text=item.text))
        times.append(time.perf_counter() - started)
        outcomes.append((str(reply.meta.get("kind", reply.kind.value)), str(reply.meta.get("entry"))))
    return Latencies(times), outcomes


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size from /proc (Linux); 0 where unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def child_pids(pid: int) -> list[int]:
    """The pids of ``pid``'s children, from /proc (Linux; empty elsewhere): the Slack app's answer workers."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[-1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"
