"""``make bench`` / ``python -m benchmarks``: every benchmark in this directory, one after another, all figures printed.

Each benchmark runs as its own process (``python benchmarks/<name>.py``), so memory figures are its own and a
failure in one does not stop the others; each section is headed by the exact command that produced it, so any
figure can be reproduced alone. Nothing is asserted: the figures are printed for BENCHMARKS.md.

Options: ``--quick`` for smaller runs (a smoke test of the suite), ``--only NAME ...`` for some sections.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SECTION_TIMEOUT = 1800.0
"""No single benchmark may run longer than this (every loop inside is bounded too)."""


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    script: str
    args: tuple[str, ...] = ()
    quick_args: tuple[str, ...] = ()


SECTIONS = (
    Section("core", "Core: 1,000-question mix, questions/s and latency", "core_mix.py", (), ("--size", "300")),
    Section("encoder", "Sentence encoder backends: NumPy, ONNX Runtime float32 and int8", "encoder_backends.py", (),
            ("--rounds", "1")),
    Section("scale", "Core at 1×, 10×, 100× the knowledge base", "kb_scale.py", (),
            ("--scales", "1", "10", "--size", "300")),
    Section("startup", "Start-up time and resident memory", "startup.py", (), ("--runs", "2")),
    Section("slack-roundtrip", "Slack HTTP: paced round trip vs bare bolt apps", "slack_roundtrip.py", (),
            ("--requests", "200")),
    Section("slack-concurrency", "Slack HTTP: 1, 16 and 64 concurrent clients vs bare bolt apps", "slack_http.py", (),
            ("--requests", "200", "500", "800")),
    Section("slack-workers", "Slack HTTP with one answer worker (SLACK_ANSWER_WORKERS=1)", "slack_http.py",
            ("--answer-workers", "1"), ("--requests", "200", "500", "800", "--answer-workers", "1")),
    Section("slack-workers-pinned", "Slack HTTP with one answer worker, our app on a CPU of its own", "slack_http.py",
            ("--answer-workers", "1", "--pin"), ("--requests", "200", "500", "800", "--answer-workers", "1", "--pin")),
    Section("sessions", "Quiz: memory and time per 10,000 concurrent quiz sessions", "sessions_memory.py", (),
            ("--sessions", "2000")),
    Section("replicas", "Slack HTTP: one and two replicas on one Redis", "slack_replicas.py", (),
            ("--requests", "500")),
)


def describe_machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        total_kib = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal"))
                        .split()[1])
        memory = f", {total_kib / 2**20:.1f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    load = ", load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    return (
        f"{os.cpu_count()} CPUs ({cpu}){memory}; Python {platform.python_version()} on {platform.system()} "
        f"{platform.release()}{load}"
    )


def run_section(section: Section, quick: bool) -> bool:
    command = [sys.executable, str(HERE / section.script), *(section.quick_args if quick else section.args)]
    shown = shlex.join([".venv/bin/python", f"benchmarks/{section.script}", *command[2:]])
    print(f"\n== {section.title}\n$ {shown}", flush=True)
    if not (HERE / section.script).exists():
        print(f"(pending: benchmarks/{section.script} has not landed yet)", flush=True)
        return True
    started = time.perf_counter()
    try:
        # Output streams straight through, so long sections show progress as they go.
        done = subprocess.run(command, cwd=REPO, timeout=SECTION_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        print(f"!! {section.name} did not finish within {SECTION_TIMEOUT:.0f} s", flush=True)
        return False
    print(f"({section.name}: {time.perf_counter() - started:.0f} s)", flush=True)
    if done.returncode != 0:
        print(f"!! {section.name} failed with exit code {done.returncode}", flush=True)
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs: checks the suite works, not for figures")
    parser.add_argument("--only", nargs="+", choices=[s.name for s in SECTIONS], help="run only these sections")
    args = parser.parse_args()
    print(f"Legal Careers Advisor benchmarks{' (quick)' if args.quick else ''}")
    print(f"Machine: {describe_machine()}", flush=True)
    chosen = [s for s in SECTIONS if not args.only or s.name in args.only]
    failed = [s.name for s in chosen if not run_section(s, args.quick)]
    if failed:
        print(f"\nFailed: {', '.join(failed)}")
        return 1
    print("\nAll benchmarks finished.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
