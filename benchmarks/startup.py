"""Start-up: process start → first answer (console chat) and → ready (Slack HTTP app), and memory once loaded.

Run: .venv/bin/python benchmarks/startup.py [--runs 5]

Console: ``python -m bots.cli chat`` is started with a question already waiting on its stdin; the clock runs
from just before the process is spawned until the answer's "Sources:" line is read from its stdout. Its resident
memory is read from /proc while it waits for the next line.

Slack HTTP app: a child process does exactly what ``advisor slack`` does in HTTP mode (settings from the
environment, ``build_advisor``, ``start_slack`` on a port) except that its Web API client points at the loopback
fake Slack from the tests, so nothing leaves the machine. "Ready" is the first signed slash command acknowledged
with HTTP 200 (polled every 5 ms); its answer's arrival at the fake response_url is timed too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from benchmarks.common import REPO, child_pids, mib, rss_bytes

QUESTION = "what does a paralegal do"
DEADLINE = 120.0
"""Longest wait for any one start-up before it counts as failed."""


def _env(data_dir: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "SESSION_STORE"))}
    env.update(ADVISOR_DATA_DIR=data_dir, LOG_LEVEL="WARNING", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def console_once() -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bots.cli", "chat"],
            cwd=REPO, env=_env(tmp), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(f"{QUESTION}\n".encode())
            proc.stdin.flush()
            answered = _read_until(proc, b"Sources:", started)
            rss = rss_bytes(proc.pid)
            proc.stdin.write(b"quit\n")
            proc.stdin.close()
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    return answered, rss


def _read_until(proc: subprocess.Popen[bytes], marker: bytes, started: float) -> float:
    assert proc.stdout is not None
    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while marker not in seen:
            left = DEADLINE - (time.perf_counter() - started)
            if left <= 0 or not selector.select(left):
                raise TimeoutError("no answer from the console chat")
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"the console chat exited early: {seen[-500:]!r}")
            seen += chunk
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def slack_child(port: int, base_url: str) -> None:
    """The child: ``advisor slack`` in HTTP mode, its Web API client pointed at the fake."""
    from slack_sdk.web.async_client import AsyncWebClient

    from bots.launcher import matches_here
    from bots.slack.runner import start_slack
    from core.config import Settings
    from core.runtime import build_advisor, configure_logging

    settings = Settings.from_env(load_env_file=False)
    configure_logging(settings.log_level)
    advisor = build_advisor(settings, semantic=matches_here(["slack"]))  # as run_slack

    async def serve() -> None:
        client = AsyncWebClient(token=settings.slack_bot_token, base_url=base_url)
        await asyncio.wait_for(start_slack(advisor, settings, client=client, port=port, host="127.0.0.1"), DEADLINE)

    # The parent terminates this process after its measurement; DEADLINE only bounds an orphaned child.
    with contextlib.suppress(TimeoutError):
        asyncio.run(serve())


def slack_once(workers: int = 0) -> tuple[float, float, int, int]:
    """Ready and answered seconds, the Slack process's resident memory and its answer workers' (all of them)."""
    from tests.slack_fakes import BOT_TOKEN, FORM, SIGNING_SECRET, FakeSlack, form_body, sign, slash_command

    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp, FakeSlack(validate=False) as fake:
        env = _env(
            tmp,
            SLACK_MODE="http",
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_ANSWER_WORKERS=str(workers),
        )
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, __file__, "--slack-child", str(port), fake.base_url],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}/slack/events"
            response_url = fake.response_url()
            body = form_body(slash_command("/career", QUESTION, response_url))
            while True:
                if time.perf_counter() - started > DEADLINE or proc.poll() is not None:
                    raise RuntimeError("the Slack app did not become ready")
                request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": FORM, **sign(body)})
                try:
                    with urllib.request.urlopen(request, timeout=5) as response:
                        if response.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.005)
            ready = time.perf_counter() - started
            rss = rss_bytes(proc.pid)
            workers_rss = sum(rss_bytes(child) for child in child_pids(proc.pid))
            path = urllib.parse.urlparse(response_url).path
            while not any(c.path == path for c in fake.calls("response_url")):
                if time.perf_counter() - started > DEADLINE:
                    raise RuntimeError("the first answer never arrived")
                time.sleep(0.002)
            answered = time.perf_counter() - started
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    return ready, answered, rss, workers_rss


def run(runs: int) -> None:
    console = [console_once() for _ in range(runs)]
    seconds = [c[0] for c in console]
    rss = int(statistics.median(c[1] for c in console))
    print(f"Start-up, median of {runs} runs (min–max):")
    print(
        f"  console chat, process start → first answer: {statistics.median(seconds):.2f} s "
        f"({min(seconds):.2f}–{max(seconds):.2f}); resident memory then {mib(rss)}"
    )
    slack = [slack_once() for _ in range(runs)]
    ready = [s[0] for s in slack]
    answered = [s[1] for s in slack]
    print(
        f"  Slack HTTP app, process start → ready (first signed command acked): {statistics.median(ready):.2f} s "
        f"({min(ready):.2f}–{max(ready):.2f}); → its answer delivered {statistics.median(answered):.2f} s; "
        f"resident memory when ready {mib(int(statistics.median(s[2] for s in slack)))}"
    )
    slack = [slack_once(workers=1) for _ in range(runs)]
    ready = [s[0] for s in slack]
    print(
        f"  … with SLACK_ANSWER_WORKERS=1, → ready (its worker loaded too): {statistics.median(ready):.2f} s "
        f"({min(ready):.2f}–{max(ready):.2f}); → its answer delivered {statistics.median(s[1] for s in slack):.2f} s; "
        f"resident memory: Slack process {mib(int(statistics.median(s[2] for s in slack)))}, "
        f"worker {mib(int(statistics.median(s[3] for s in slack)))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--slack-child", nargs=2, metavar=("PORT", "BASE_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.slack_child:
        slack_child(int(args.slack_child[0]), args.slack_child[1])
        return
    run(args.runs)


if __name__ == "__main__":
    main()
