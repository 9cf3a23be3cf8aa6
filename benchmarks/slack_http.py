"""Slack HTTP under concurrency: signed slash commands through our app at 1, 16 and 64 concurrent clients, next to
bare slack-bolt apps that only ack, in the same run; our overhead is reported as a ratio to that floor.

Run: .venv/bin/python benchmarks/slack_http.py [--requests 400 2000 3200] [--answer-workers N] [--pin] [--pause-answers]

``--pin`` gives our apps (and answer workers) CPU 1 and the load (this client, the fake Slack in a process of its
own) CPU 0. Unpinned, on a 2-CPU machine the load generator and the answers compete for the same two CPUs, which
production never sees (Slack's servers are elsewhere); pinned measures our app with one CPU of its own.

The apps, the loopback fake Slack and the Advisor are the ones benchmarks/slack_roundtrip.py serves (its
``server_process``, reused as is, in a child process): our real app with the real knowledge base, a bare bolt app
with bolt's defaults, and a bare one with ``process_before_response=True`` (the setting ours uses). This process
is the client: N concurrent clients, each sending its next signed ``/career <question>`` as soon as the previous
one is acknowledged (a closed loop), every request from a distinct user. Ours is measured last at each level and
then given time to send its answers, so its background work never lands on a bare app's measurement — but within
its own run, its acks share the CPUs with the answers it is still computing, as they would in production.

Our app acks first and answers after the ack is written, a few answers at a time; when more acknowledged commands
are waiting than its backlog limit (bots/slack/app.py, ``DEFAULT_MAX_BACKLOG``), it answers new ones "busy, try
again in a moment" in the ack instead of queueing them. A closed loop of 16 or 64 clients asks for more answers
than one process computes, so those levels report how many commands were answered and how many declined.

Reported per level and app: ack round trip median and p99, acks per second; for ours also commands answered and
declined as busy, the answer's arrival at the fake response_url (median, p99, over the answered ones), answers
per second, and core time (``Advisor.handle`` inside the app) median and p99. benchmarks/slack_roundtrip.py gives
the paced, one-at-a-time round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import aiohttp

from benchmarks.common import percentile
from benchmarks.slack_roundtrip import (
    APPS,
    QUESTIONS,
    Serving,
    add_serving_arguments,
    describe,
    drive_server_process,
    post_command,
    serving_from,
)
from tests.slack_fakes import form_body, slash_command

LEVELS = (1, 16, 64)
DEFAULT_REQUESTS = (400, 2000, 3200)
WARM_UP = 100
SHORT_NAMES = ("ours", "bare (defaults)", "bare (process_before_response)")
OVERHEAD_TARGET = 1.5
ANSWER_SECONDS = 0.008
"""Generous per-answer time used to wait out our app's backlog before the next measurement."""


async def closed_loop(
    session: aiohttp.ClientSession, url: str, fake_port: int, requests: int, clients: int, tag: str
) -> tuple[list[float], float, dict[str, float]]:
    """``clients`` concurrent senders until ``requests`` are acked: latencies, wall time, and send time per path of
    the commands that were accepted (not declined as busy)."""
    numbers = itertools.count()
    latencies: list[float] = []
    sent_at: dict[str, float] = {}

    async def client() -> None:
        while (number := next(numbers)) < requests:
            path = f"/response/{tag}-{number}"
            fields = slash_command(
                "/career", QUESTIONS[number % len(QUESTIONS)], f"http://127.0.0.1:{fake_port}{path}", f"U{tag}{number}"
            )
            sent = time.monotonic()
            latency, busy = await post_command(session, url, form_body(fields))
            latencies.append(latency)
            if not busy:
                sent_at[path] = sent

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, time.perf_counter() - started, sent_at


async def measure(urls: list[str], fake_port: int, requests: dict[int, int]) -> dict[str, object]:
    results: dict[str, object] = {}
    ours_sent: dict[str, float] = {}
    connector = aiohttp.TCPConnector(limit=max(LEVELS) + 8)
    async with aiohttp.ClientSession(connector=connector) as session:
        for index, url in enumerate(urls):
            await closed_loop(session, url, fake_port, WARM_UP, 1, f"W{index}x")
        await asyncio.sleep(WARM_UP * ANSWER_SECONDS)
        for level in LEVELS:
            # Bare apps first, ours last (see the module docstring).
            for index in (1, 2, 0):
                tag = f"L{level}A{index}x"
                latencies, wall, sent = await closed_loop(session, urls[index], fake_port, requests[level], level, tag)
                results[f"{level}:{index}"] = (latencies, wall)
                if index == 0:
                    ours_sent.update(sent)
                    await asyncio.sleep(1.0 + requests[level] * ANSWER_SECONDS)
    results["ours_sent"] = ours_sent
    return results


def ms_stats(seconds: list[float]) -> tuple[float, float]:
    ms = sorted(s * 1000 for s in seconds)
    return statistics.median(ms), percentile(ms, 0.99)


def run(requests: dict[int, int], serving: Serving) -> None:
    results, arrived, core_seconds = drive_server_process(
        lambda urls, fake_port: measure(urls, fake_port, requests), 280, 30, serving
    )
    describe(serving)

    assert APPS[0].startswith("our app")
    ours_sent: dict[str, float] = results.pop("ours_sent")  # type: ignore[assignment]
    print("Signed /career slash commands over HTTP on 127.0.0.1, closed-loop clients, each request a new user:")
    for level in LEVELS:
        print(f"  {level} concurrent client{'s' if level > 1 else ''}, {requests[level]} requests per app:")
        medians = {}
        for index, name in enumerate(SHORT_NAMES):
            latencies, wall = results[f"{level}:{index}"]  # type: ignore[misc]
            median, p99 = ms_stats(latencies)
            medians[index] = median
            rate = len(latencies) / wall
            print(f"    {name:<32} ack median {median:7.2f} ms   p99 {p99:7.2f} ms   {rate:7.0f} acks/s")
        prefix = f"/response/L{level}A0x-"
        accepted = {p: sent for p, sent in ours_sent.items() if p.startswith(prefix)}
        pairs = [(sent, arrived[p]) for p, sent in accepted.items() if p in arrived]
        declined = requests[level] - len(accepted)
        lost = len(accepted) - len(pairs)
        print(
            f"    {'ours, commands':<32} {len(accepted)} answered, {declined} declined as busy"
            + (f", {lost} accepted but never answered" if lost else "")
        )
        if pairs:
            answer_median, answer_p99 = ms_stats([at - sent for sent, at in pairs])
            span = max(at for _, at in pairs) - min(sent for sent, _ in pairs)
            print(
                f"    {'ours, answer delivered':<32} median {answer_median:7.2f} ms   p99 {answer_p99:7.2f} ms   "
                f"{len(pairs) / span:7.0f} answers/s"
            )
        core = [took for user, took in core_seconds if user.startswith(f"UL{level}A0x")]
        if core:
            core_median, core_p99 = ms_stats(core)
            print(f"    {'ours, core time':<32} median {core_median:7.2f} ms   p99 {core_p99:7.2f} ms")
        for floor in (1, 2):
            ratio = medians[0] / medians[floor]
            verdict = "within" if ratio <= OVERHEAD_TARGET else "OVER"
            print(
                f"    overhead vs {SHORT_NAMES[floor]}: {ratio:.2f}× the floor's median ack "
                f"({verdict} the {OVERHEAD_TARGET}× target)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, nargs=3, default=DEFAULT_REQUESTS, metavar=("AT_1", "AT_16", "AT_64"))
    add_serving_arguments(parser)
    args = parser.parse_args()
    run(dict(zip(LEVELS, args.requests, strict=True)), serving_from(args, parser))


if __name__ == "__main__":
    main()
