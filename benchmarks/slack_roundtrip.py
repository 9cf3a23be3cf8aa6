"""Round-trip time of a signed slash command through our Slack HTTP app, next to a bare bolt app that only acks.

Run: .venv/bin/python benchmarks/slack_roundtrip.py [--requests 300] [--answer-workers N] [--pin] [--pause-answers]

Everything is on loopback in one run. A child process serves three apps with aiohttp on 127.0.0.1: ours (the real
Advisor and knowledge base), a bare bolt app that only acks with bolt's defaults, and the same bare app with
``process_before_response=True`` (the setting ours uses); it also hosts the loopback fake Slack from the tests,
which receives the answers (with ``--pin``, the fake runs in its own process on the client's CPU; see
benchmarks/slack_http.py). This process only sends real HTTP POSTs signed with the signing secret and times
them. Client and apps are in different processes on purpose: in one event loop (or one GIL) the client would read
its response only after the app's background work had run, charging that work to the ack, which Slack never sees.
The apps take turns request by request, so machine noise falls on all of them alike, and every request follows a
short pause, so our answer is out before the next request arrives and each app meets an equally idle machine.

Our app's answer work starts only once the ack's bytes are written (bots/slack/runner.py), so it cannot delay
the ack; it still shares the machine's 2 CPUs with the client reading that ack.

Measured:
  * ack round trip: POST sent → HTTP response read (what Slack's 3-second rule is about);
  * answer delivered (ours only): POST sent → answer received at the fake's response_url;
  * core time (ours only): ``Advisor.handle`` inside the app, as its observer hook reports it.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere; reuses the tests' fake Slack and signing helpers

import aiohttp  # noqa: E402
from slack_bolt.async_app import AsyncAck, AsyncApp  # noqa: E402
from slack_sdk.web.async_client import AsyncWebClient  # noqa: E402

from benchmarks.common import percentile  # noqa: E402
from bots.slack.app import BUSY_TEXT, DEFAULT_MAX_BACKLOG, build_slack_app  # noqa: E402
from bots.slack.runner import EVENTS_PATH, http_server  # noqa: E402
from bots.slack.worker import API_URL_VARIABLE  # noqa: E402
from bots.slack.workers import AnswerWorkers  # noqa: E402
from core.advisor import Advisor  # noqa: E402
from core.kb_loader import load_knowledge_base  # noqa: E402
from core.reply import Reply, Request  # noqa: E402
from core.sessions import MemorySessionStore  # noqa: E402
from tests.slack_fakes import (  # noqa: E402
    BOT_TOKEN,
    FORM,
    SIGNING_SECRET,
    FakeSlack,
    app_settings,
    form_body,
    sign,
    slash_command,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Serving:
    """How the child process serves the apps: ``--answer-workers``, ``--pin`` and ``--pause-answers``."""

    workers: int = 0
    pin: bool = False
    paused_answers: bool = False
    """A diagnostic: the answer workers are stopped (SIGSTOP) as soon as they are up, so our app only acks and
    queues; it shows what the acks cost when no answer is being worked out beside them."""


QUESTIONS = (
    "what does a paralegal do?",
    "how much do legal secretaries make",
    "do I need a degree to be a legal assistant",
    "paralegal vs legal secretary",
    "what certifications can a paralegal get",
)
WARM_UP = 20
APPS = ("our app (ack; answer follows)", "bare bolt app, defaults (ack only)", "bare bolt app, process_before_response")
SETTLE_SECONDS = 0.02
"""Pause before every request: our previous answer (about 4 ms) is out before the next request arrives."""
SERVER_LIFETIME = 300.0
"""The child process stops by itself after this long, whatever happens to the parent."""


def bare_app(client: AsyncWebClient, process_before_response: bool) -> AsyncApp:
    app = AsyncApp(
        client=client,
        signing_secret=SIGNING_SECRET,
        process_before_response=process_before_response,
    )

    @app.command("/career")
    async def ack_only(ack: AsyncAck) -> None:
        await ack()

    return app


@asynccontextmanager
async def served(app: AsyncApp) -> AsyncIterator[str]:
    async with http_server(app, "127.0.0.1", 0) as port:
        yield f"http://127.0.0.1:{port}{EVENTS_PATH}"


async def answer_workers(
    stack: AsyncExitStack,
    count: int,
    fake: FakeSlack | RemoteFakeSlack,
    observer: Callable[[Request, Reply, float], None],
    paused: bool = False,
) -> AnswerWorkers | None:
    """``SLACK_ANSWER_WORKERS=count`` as ``start_slack`` sets it up, the workers posting to the fake Slack."""
    if not count:
        return None
    data = stack.enter_context(tempfile.TemporaryDirectory())
    # As the in-process Advisor below: no rate limiter, sessions in memory (the workers' own).
    settings = app_settings(session_store="memory://", rate_limit_per_minute=0, data_dir=Path(data))
    workers = AnswerWorkers(
        count,
        settings,
        max_backlog=DEFAULT_MAX_BACKLOG,
        observer=observer,
        environment={API_URL_VARIABLE: fake.base_url},
    )
    await workers.start()
    stack.push_async_callback(workers.close)
    if paused:
        workers.send_signal(signal.SIGSTOP)
        # Resumed before closing (callbacks run last first), so they can read the end of their input and exit.
        stack.callback(workers.send_signal, signal.SIGCONT)
    return workers


async def serve_apps(fake: FakeSlack | RemoteFakeSlack, conn: Connection, serving: Serving) -> None:
    kb = load_knowledge_base(REPO / "knowledge")
    core_seconds: list[tuple[str, float]] = []  # (user, seconds)

    def observer(request: Request, _reply: Reply, took: float) -> None:
        core_seconds.append((request.user, took))

    # No rate limiter: this measures the adapter, not the throttle.
    advisor = Advisor(kb, MemorySessionStore(), observer=observer)

    async with AsyncExitStack() as stack:
        # One connection pool for the Web API and response_url posts, as start_slack gives the app; without it
        # slack_sdk opens a new session, and a new connection, for every answer.
        session = await stack.enter_async_context(aiohttp.ClientSession())

        def client() -> AsyncWebClient:
            return AsyncWebClient(token=BOT_TOKEN, base_url=fake.base_url, session=session)

        answers = await answer_workers(stack, serving.workers, fake, observer, serving.paused_answers)
        ours = build_slack_app(advisor, app_settings(), client=client(), answers=answers)
        apps = (ours, bare_app(client(), False))
        urls = [await stack.enter_async_context(served(app)) for app in (*apps, bare_app(client(), True))]
        conn.send((urls, fake.port))
        # Until the parent says stop (or closes the pipe), bounded by SERVER_LIFETIME.
        await asyncio.wait_for(asyncio.to_thread(conn.recv), SERVER_LIFETIME)
    conn.send((arrivals(fake), core_seconds))


APP_CPU, LOAD_CPU = 1, 0
"""With ``--pin``: our apps and answer workers on one CPU, the load (client, fake Slack) on the other."""


def fake_slack_process(conn: Connection) -> None:
    """The loopback fake Slack in a process of its own, pinned beside the client: it stands in for Slack's servers."""
    os.sched_setaffinity(0, {LOAD_CPU})
    with FakeSlack(validate=False) as fake, suppress(EOFError, KeyboardInterrupt):
        conn.send(fake.port)
        if conn.poll(SERVER_LIFETIME + 30):
            conn.recv()
            conn.send(arrivals(fake))


class RemoteFakeSlack:
    """``FakeSlack``'s interface for the benchmarks (``port``, ``base_url``, arrivals) in its own process."""

    def __init__(self) -> None:
        spawn = multiprocessing.get_context("spawn")
        self._conn, child_end = spawn.Pipe()
        self._process = spawn.Process(target=fake_slack_process, args=(child_end,), daemon=True)
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def __enter__(self) -> RemoteFakeSlack:
        self._process.start()
        if not self._conn.poll(60):
            self._process.kill()
            raise RuntimeError("the fake Slack did not start within 60 s")
        self.port = self._conn.recv()
        return self

    def arrivals(self) -> list[tuple[str, float]]:
        self._conn.send("arrivals")
        if not self._conn.poll(30):
            raise RuntimeError("the fake Slack did not report")
        reported: list[tuple[str, float]] = self._conn.recv()
        return reported

    def __exit__(self, *_exc: object) -> None:
        self._conn.close()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)


def arrivals(fake: FakeSlack | RemoteFakeSlack) -> list[tuple[str, float]]:
    """When each answer reached the fake's response_url (path, CLOCK_MONOTONIC seconds)."""
    if isinstance(fake, RemoteFakeSlack):
        return fake.arrivals()
    return [(call.path, call.at) for call in fake.calls("response_url")]


def server_process(conn: Connection, serving: Serving) -> None:
    if serving.pin:
        # Slack's servers and the clients are not on the machine that serves our app: with two CPUs, the app
        # (and the answer workers it starts, which inherit this) gets one and the load generator the other.
        os.sched_setaffinity(0, {APP_CPU})
        fake: FakeSlack | RemoteFakeSlack = RemoteFakeSlack()
    else:
        # The fake Slack lives here, with the apps: in the client's process its thread would hold the GIL just
        # when the client reads an ack (the answer arrives a millisecond later) and inflate the measurement.
        # Validation is the tests' business; here it would only add work.
        fake = FakeSlack(validate=False)
    with fake, suppress(EOFError, TimeoutError, KeyboardInterrupt):
        asyncio.run(serve_apps(fake, conn, serving))


async def post_command(session: aiohttp.ClientSession, url: str, body: str) -> tuple[float, bool]:
    """The ack's round trip in seconds, and whether the ack turned the command away as busy (ours only does)."""
    headers = {"Content-Type": FORM, **sign(body)}
    started = time.perf_counter()
    async with session.post(url, data=body.encode(), headers=headers) as response:
        text = await response.text()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
    return time.perf_counter() - started, BUSY_TEXT in text


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return (
        f"{name:<46} n={len(ms):<4} median {statistics.median(ms):7.2f} ms   p95 {p95:7.2f} ms   "
        f"mean {statistics.fmean(ms):7.2f} ms"
    )


async def measure(urls: list[str], fake_port: int, requests: int) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Ack round trips per app, and when each of our app's commands was sent (keyed by response_url path)."""
    acks: dict[str, list[float]] = {name: [] for name in APPS}
    sent_at: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:
        for number in range(WARM_UP + requests):
            question = QUESTIONS[number % len(QUESTIONS)]
            for index, (name, url) in enumerate(zip(APPS, urls, strict=True)):
                path = f"/response/{number}-{index}"
                fields = slash_command("/career", question, f"http://127.0.0.1:{fake_port}{path}", f"U{number:08d}")
                # Every request, to every app, meets an idle server: our previous answer is out, and no app
                # gains from following another's request while the CPUs are still awake.
                await asyncio.sleep(SETTLE_SECONDS)
                sent = time.monotonic()
                ack, busy = await post_command(session, url, form_body(fields))
                if busy:
                    raise RuntimeError("our app declined a paced command as busy")
                if number >= WARM_UP:
                    acks[name].append(ack)
                    if index == 0:
                        sent_at[path] = sent
    return acks, sent_at


def drive_server_process(
    measure: Callable[[list[str], int], Awaitable[T]],
    measure_seconds: float,
    report_seconds: float,
    serving: Serving = Serving(),
) -> tuple[T, dict[str, float], list[tuple[str, float]]]:
    """Serve the apps in a child process, run ``measure(urls, fake_port)`` against them, then collect when each
    answer arrived at the fake response_url and our Advisor's core time per request (user, seconds). The child
    is always stopped, even when measuring fails."""
    spawn = multiprocessing.get_context("spawn")
    parent_end, child_end = spawn.Pipe()
    server = spawn.Process(target=server_process, args=(child_end, serving))
    server.start()
    if serving.pin:
        os.sched_setaffinity(0, {LOAD_CPU})
    try:
        if not parent_end.poll(60):
            raise RuntimeError("the apps did not start within 60 s")
        urls, fake_port = parent_end.recv()
        result = asyncio.run(asyncio.wait_for(measure(urls, fake_port), measure_seconds))
        parent_end.send("stop")
        if not parent_end.poll(report_seconds):
            raise RuntimeError("the apps did not report their answers")
        arrivals, core_seconds = parent_end.recv()
        arrived = dict(arrivals)
    finally:
        server.join(10)
        if server.is_alive():
            server.terminate()
            server.join(5)
    return result, arrived, core_seconds


def add_serving_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--answer-workers", type=int, default=0, help="SLACK_ANSWER_WORKERS for our app [0]")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="our apps and answer workers on CPU 1, the client and the fake Slack on CPU 0 (Linux, 2+ CPUs)",
    )
    parser.add_argument(
        "--pause-answers",
        action="store_true",
        help="diagnostic: stop the answer workers once started, so our app only acks (needs --answer-workers)",
    )


def serving_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Serving:
    if args.pin and not {APP_CPU, LOAD_CPU} <= set(getattr(os, "sched_getaffinity", lambda _pid: set())(0)):
        parser.error(f"--pin needs CPUs {LOAD_CPU} and {APP_CPU} (Linux CPU affinity)")
    if args.pause_answers and not args.answer_workers:
        parser.error("--pause-answers needs --answer-workers")
    return Serving(args.answer_workers, args.pin, args.pause_answers)


def describe(serving: Serving) -> None:
    if serving.pin:
        print("Pinned: our apps and answer workers on CPU 1; this client and the fake Slack on CPU 0.")
    if serving.workers:
        count = serving.workers
        print(f"Our app with SLACK_ANSWER_WORKERS={count}: answers worked out in {count} worker process(es).")
    if serving.paused_answers:
        print("Diagnostic: the answer workers are stopped, so no answer is worked out (ours only acks and queues).")


def run(requests: int, serving: Serving) -> None:
    (acks, sent_at), arrived, core_seconds = drive_server_process(
        lambda urls, fake_port: measure(urls, fake_port, requests), SERVER_LIFETIME - 60, 10, serving
    )
    describe(serving)
    # CLOCK_MONOTONIC is system-wide on Linux, so the two processes' timestamps compare.
    answered = [arrived[path] - sent for path, sent in sent_at.items()]
    measured_users = {f"U{number:08d}" for number in range(WARM_UP, WARM_UP + requests)}

    print(f"Signed /career slash commands over HTTP on 127.0.0.1, {requests} per app after {WARM_UP} warm-up.")
    print("Ack round trip (POST sent → HTTP response read):")
    for name, seconds in acks.items():
        print("  " + summary(name, seconds))
    print("Answer delivered (POST sent → answer at the response_url):")
    print("  " + summary("our app", answered))
    core = [took for user, took in core_seconds if user in measured_users]
    print("Core time inside our app (Advisor.handle, from its observer hook):")
    print("  " + summary("our app", core) + f"   p99 {percentile(sorted(core), 0.99) * 1000:7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="measured requests per app (at least 200)")
    add_serving_arguments(parser)
    args = parser.parse_args()
    run(max(200, args.requests), serving_from(args, parser))


if __name__ == "__main__":
    main()
