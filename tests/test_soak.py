"""Soak test: mixed traffic from many simulated Slack users, through the real Slack HTTP app, on loopback.

Duration: ``SOAK_SECONDS`` (default 10, for CI); e.g. ``SOAK_SECONDS=600 .venv/bin/pytest tests/test_soak.py -s``
for ten minutes. Students ask questions, run slash commands, take the quiz with Back, Cancel, restarts, double
clicks and clicks on old buttons, and ask to be forgotten; one user floods. Everything is signed HTTP on
127.0.0.1 into the bolt app (``bots/slack``) around one real Advisor with a SQLite session store, the misses log
and the rate limiter; answers come back to a loopback response_url receiver owned by this test.

At the end: no error reply and no error logged, every request answered, no growth in memory beyond a bound, the
flooder slowed down and nobody else, and every quiz accounted for (each user's stored quiz is exactly what the
buttons they saw say it should be, and started = finished + cancelled + replaced + forgotten + in progress).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from benchmarks.common import child_pids, rss_bytes
from bots.slack.app import DEFAULT_MAX_BACKLOG
from bots.slack.worker import API_URL_VARIABLE
from bots.slack.workers import AnswerWorkers
from core.advisor import Advisor
from core.kb_model import KnowledgeBase
from core.misses import MissLog
from core.rate_limit import RateLimiter
from core.reply import Reply, ReplyKind, Request
from core.sessions import SessionKey, SQLiteSessionStore
from tests.slack_fakes import (
    FORM,
    TEAM,
    FakeSlack,
    actions_body,
    app_settings,
    block_actions,
    form_body,
    message_problems,
    serve_app,
    sign,
    slash_command,
)

from .conftest import QUESTIONS

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "10"))
STUDENTS = 24
ANSWER_TIMEOUT = 15.0
"""Longest wait for one answer at the response_url; a missing answer is counted, never waited on forever."""
RSS_GROWTH_LIMIT = 48 * 1024 * 1024
"""Resident memory may grow this much after warm-up (SQLite page cache, typo-correction cache, allocator slack)."""
PER_MINUTE = 600
"""Generous for the students (they never reach it), easily exceeded by the flooder's bursts."""

ODD_TEXTS = [
    "",
    "<!channel> paralegal?",
    "\u202eﬁ\u200b legal sec pay",
    "😀" * 50,
    "x" * 5000,
    "*bold* `code`",
    "<@U024BE7LH> what do paras do",
    "\x00\x07",
    "and the pay?",
    "sue my landlord",
]


def rss_with_children_bytes() -> int:
    """This process's resident memory and its children's (answer workers)."""
    return rss_bytes() + sum(rss_bytes(child) for child in child_pids(os.getpid()))


class ResponseUrls:
    """A loopback stand-in for Slack's response_url: each request gets its own path, answers are handed over once."""

    def __init__(self) -> None:
        self.port = 0
        self._waiting: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._next = 0
        self.unclaimed = 0
        self.invalid: list[str] = []

    def new(self) -> tuple[str, asyncio.Queue[dict[str, Any]]]:
        self._next += 1
        path = f"/r/{self._next}"
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._waiting[path] = queue
        return f"http://127.0.0.1:{self.port}{path}", queue

    def done(self, url: str) -> None:
        self._waiting.pop(url.split(str(self.port), 1)[1], None)

    async def receive(self, request: web.Request) -> web.Response:
        body = json.loads(await request.text() or "{}")
        if not body.get("delete_original"):
            # The same block-limit checks the tests' fake Slack applies.
            self.invalid.extend(message_problems(body))
        queue = self._waiting.get(request.path)
        if queue is None:
            self.unclaimed += 1  # a late extra page of an answer already read; fine, but counted
        else:
            queue.put_nowait(body)
        return web.Response(text="ok")

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[ResponseUrls]:
        app = web.Application()
        app.router.add_post("/r/{n}", self.receive)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        try:
            yield self
        finally:
            await runner.cleanup()


def button_values(messages: list[dict[str, Any]]) -> list[str]:
    return [
        element.get("value", "")
        for message in messages
        for block in message.get("blocks") or []
        if block.get("type") == "actions"
        for element in block.get("elements") or []
        if element.get("type") == "button"
    ]


@dataclass
class QuizView:
    """What the buttons of a quiz message say: the live quiz id and position, or that no question is showing."""

    quiz_id: str | None
    position: int | None
    answers: list[str]
    back: str | None
    cancel: str | None

    @classmethod
    def of(cls, values: list[str]) -> QuizView:
        answers = [v for v in values if v.startswith("quiz:a:")]
        back = next((v for v in values if v.startswith("quiz:back:")), None)
        cancel = next((v for v in values if v.startswith("quiz:cancel:")), None)
        if not answers:
            return cls(None, None, [], back, cancel)
        _, _, quiz_id, position, _ = answers[0].split(":")
        return cls(quiz_id, int(position), answers, back, cancel)


@dataclass
class Tally:
    requests: int = 0
    lost: int = 0
    started: int = 0
    finished: int = 0
    cancelled: int = 0
    replaced: int = 0
    forgotten: int = 0
    double_clicks: int = 0
    stale_clicks: int = 0
    mismatches: list[str] = field(default_factory=list)


@dataclass
class Student:
    """One simulated user with a model of their own quiz, updated only from what the bot showed them."""

    user: str
    rng: random.Random
    http: aiohttp.ClientSession
    app_url: str
    urls: ResponseUrls
    tally: Tally
    quiz_id: str | None = None
    position: int = 0
    finished: bool = False
    seen: list[str] = field(default_factory=list)

    @property
    def in_progress(self) -> bool:
        return self.quiz_id is not None and not self.finished

    async def _post(self, body: str) -> None:
        self.tally.requests += 1
        async with self.http.post(self.app_url, data=body.encode(), headers={"Content-Type": FORM, **sign(body)}) as r:
            await r.read()
            assert r.status == 200, r.status

    async def _exchange(self, build: Any) -> list[dict[str, Any]]:
        url, queue = self.urls.new()
        try:
            await self._post(build(url))
            try:
                first = await asyncio.wait_for(queue.get(), ANSWER_TIMEOUT)
            except TimeoutError:
                self.tally.lost += 1
                return []
            messages = [first]
            while not queue.empty():
                messages.append(queue.get_nowait())
            self.seen.extend(v for v in button_values(messages) if v.startswith("quiz:"))
            del self.seen[:-200]  # a bounded memory of old buttons to click later
            return messages
        finally:
            self.urls.done(url)

    async def command(self, name: str, text: str = "") -> list[dict[str, Any]]:
        return await self._exchange(lambda url: form_body(slash_command(name, text, url, user=self.user)))

    async def click(self, value: str) -> list[dict[str, Any]]:
        return await self._exchange(
            lambda url: actions_body(block_actions(value, "choice-0", url, user=self.user, is_ephemeral=True))
        )

    def expect(self, condition: bool, what: str) -> None:
        if not condition:
            self.tally.mismatches.append(f"{self.user}: {what}")

    # -- behaviours ------------------------------------------------------------------------------------------

    async def ask(self, questions: list[str]) -> None:
        text = self.rng.choice(ODD_TEXTS) if self.rng.random() < 0.15 else self.rng.choice(questions)
        view = QuizView.of(button_values(await self.command("/career", text)))
        if view.quiz_id is None:
            return
        # A question that asks for the quiz ("which job should i pick") shows the quiz in progress, or starts one.
        if self.in_progress:
            self.expect((view.quiz_id, view.position) == (self.quiz_id, self.position), "asking resumed elsewhere")
        else:
            self.expect(view.position == 0 and view.quiz_id != self.quiz_id, "asking did not start a new quiz at 1")
            self.tally.started += 1
            self.quiz_id, self.position, self.finished = view.quiz_id, 0, False

    async def browse(self) -> None:
        name = self.rng.choice(["/career-roles", "/career-compare", "/career"])
        await self.command(name, "paralegal legal secretary" if name == "/career-compare" else "")

    async def forget(self) -> None:
        await self.command("/career-forget")
        if self.in_progress:
            self.tally.forgotten += 1
        self.quiz_id, self.position, self.finished = None, 0, False

    async def quiz(self) -> None:
        restart = self.rng.random() < 0.25
        view = QuizView.of(button_values(await self.command("/career-quiz", "restart" if restart else "")))
        if view.quiz_id is None:
            self.expect(False, "the quiz command showed no question")
            return
        if self.in_progress and not restart:
            self.expect((view.quiz_id, view.position) == (self.quiz_id, self.position), "resume went elsewhere")
        else:
            self.expect(view.position == 0 and view.quiz_id != self.quiz_id, "a new quiz did not start at 1")
            if self.in_progress:
                self.tally.replaced += 1
            self.tally.started += 1
            self.quiz_id, self.position, self.finished = view.quiz_id, 0, False
        for _ in range(self.rng.randint(1, 14)):
            if not self.in_progress:
                return
            roll = self.rng.random()
            if roll < 0.62:
                view = await self._answer(view, double=self.rng.random() < 0.08)
            elif roll < 0.74 and view.back:
                view = await self._step(view.back, -1)
            elif roll < 0.80 and view.cancel:
                await self.click(view.cancel)
                self.tally.cancelled += 1
                self.quiz_id, self.position, self.finished = None, 0, False
                return
            else:
                view = await self._stale(view)
            await asyncio.sleep(self.rng.uniform(0.01, 0.08))

    async def _answer(self, view: QuizView, double: bool) -> QuizView:
        value = self.rng.choice(view.answers)
        if double:
            # Two clicks on the same button at once: exactly one may count.
            self.tally.double_clicks += 1
            pages = await asyncio.gather(self.click(value), self.click(value))
            values = [button_values(p) for p in pages]
        else:
            values = [button_values(await self.click(value))]
        self.position += 1
        answered = int(value.split(":")[3])
        if all("quiz:restart" in v and not any(x.startswith("quiz:a:") for x in v) for v in values):
            self.finished = True
            self.tally.finished += 1
            return QuizView(None, None, [], None, None)
        self.expect(answered + 1 == self.position, f"answered at {answered} but the model was at {self.position - 1}")
        new = QuizView.of(values[0])
        self.expect(new.position == self.position, f"after answering: shows {new.position}, expected {self.position}")
        return new

    async def _step(self, value: str, delta: int) -> QuizView:
        new = QuizView.of(button_values(await self.click(value)))
        self.position += delta
        self.expect(new.position == self.position, f"after Back: shows {new.position}, expected {self.position}")
        return new

    async def _stale(self, view: QuizView) -> QuizView:
        live = {*view.answers, view.back, view.cancel}
        old = [v for v in self.seen if v not in live and v.startswith(("quiz:a:", "quiz:back:"))]
        if not old:
            return view
        self.tally.stale_clicks += 1
        new = QuizView.of(button_values(await self.click(self.rng.choice(old))))
        # Nothing changed: the reply shows where the quiz really stands.
        self.expect(new.position == self.position, f"stale click moved the quiz to {new.position}")
        return new if new.quiz_id else view

    async def live(self, deadline: float, questions: list[str]) -> None:
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            roll = self.rng.random()
            if roll < 0.40:
                await self.ask(questions)
            elif roll < 0.80:
                await self.quiz()
            elif roll < 0.97:
                await self.browse()
            else:
                await self.forget()
            await asyncio.sleep(self.rng.uniform(0.05, 0.3))


async def flood(http: aiohttp.ClientSession, app_url: str, urls: ResponseUrls, deadline: float) -> int:
    """One user firing bursts of commands far faster than anyone types."""
    sent = 0
    loop = asyncio.get_running_loop()

    async def post(body: str) -> None:
        async with http.post(app_url, data=body.encode(), headers={"Content-Type": FORM, **sign(body)}) as r:
            await r.read()

    while loop.time() < deadline:
        burst = []
        for _ in range(40):
            url, _queue = urls.new()
            body = form_body(slash_command("/career", "what does a paralegal do", url, user="UFLOODER01"))
            burst.append((url, body))
        # The whole burst at once, so the flood outpaces the limit however fast the app acknowledges.
        await asyncio.gather(*(post(body) for _url, body in burst))
        sent += len(burst)
        await asyncio.sleep(0.5)
        for url, _ in burst:
            urls.done(url)
    return sent


def dev_questions() -> list[str]:
    items = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))["questions"]
    return [item["q"] for item in items if item.get("split") == "dev"]


@asynccontextmanager
async def answer_workers(count: int, tmp_path: Path, fake: FakeSlack, observe: Any) -> AsyncIterator[Any]:
    """``SLACK_ANSWER_WORKERS=count`` on the same SQLite store, misses log and rate limit as the in-process run."""
    if not count:
        yield None
        return
    settings = app_settings(
        session_store=f"sqlite:///{tmp_path / 'sessions.sqlite3'}", data_dir=tmp_path, rate_limit_per_minute=PER_MINUTE
    )
    environment = {API_URL_VARIABLE: fake.base_url}
    pool = AnswerWorkers(count, settings, max_backlog=DEFAULT_MAX_BACKLOG, observer=observe, environment=environment)
    await pool.start()
    try:
        yield pool
    finally:
        await pool.close()


@pytest.mark.timeout(SOAK_SECONDS + 120)
@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "answer-workers"])
async def test_soak(
    kb: KnowledgeBase,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    workers: int,
) -> None:
    caplog.set_level(logging.WARNING)
    store = SQLiteSessionStore(tmp_path / "sessions.sqlite3")
    misses = MissLog(tmp_path / "misses.sqlite3")
    limiter = RateLimiter(PER_MINUTE)
    replies: Counter[str] = Counter()
    throttled: Counter[str] = Counter()
    latencies: list[float] = []

    def observe(request: Request, reply: Reply, seconds: float) -> None:
        replies[reply.kind.value] += 1
        if reply.meta.get("kind") == "rate_limited":
            throttled[request.user] += 1
        if len(latencies) < 200_000:
            latencies.append(seconds)

    advisor = Advisor(kb, store, misses, observer=observe, rate_limiter=limiter)
    tally = Tally()
    questions = dev_questions()
    rng = random.Random(20261123)
    with FakeSlack() as fake:
        async with (
            answer_workers(workers, tmp_path, fake, observe) as pool,
            serve_app(advisor, fake, answers=pool) as slack,
            ResponseUrls().serving() as urls,
        ):
            connector = aiohttp.TCPConnector(limit=STUDENTS + 8)
            async with aiohttp.ClientSession(connector=connector) as http:
                loop = asyncio.get_running_loop()
                students = [
                    Student(f"U{n:09d}S", random.Random(rng.random()), http, slack.url, urls, tally)
                    for n in range(STUDENTS)
                ]
                started = loop.time()
                deadline = started + SOAK_SECONDS
                warm = asyncio.gather(*(s.live(started + min(2.0, SOAK_SECONDS / 5), questions) for s in students))
                await warm
                gc.collect()
                rss_warm = rss_with_children_bytes()
                flooded = asyncio.create_task(flood(http, slack.url, urls, deadline))
                await asyncio.gather(*(s.live(deadline, questions) for s in students))
                flood_sent = await flooded
                await slack.settle(30.0)
                elapsed = loop.time() - started
            gc.collect()
            rss_end = rss_with_children_bytes()

            # Every quiz accounted for: what each student's buttons said is exactly what the store holds.
            for student in students:
                state = (await store.load(SessionKey("slack", TEAM, student.user))).quiz
                if student.quiz_id is None:
                    student.expect(state is None, f"store has quiz {state} but the user saw none")
                    continue
                assert state is not None, student.user
                student.expect(state.quiz_id == student.quiz_id, "store holds another quiz")
                student.expect(state.finished == student.finished, "finished flag differs")
                student.expect(state.position == len(state.answers), "position != number of answers")
                if not student.finished:
                    student.expect(state.position == student.position, f"stored {state.position} != {student.position}")
            in_progress = sum(s.in_progress for s in students)
            await store.close()
            misses.close()

    lat = sorted(latencies)
    p99 = lat[int(0.99 * (len(lat) - 1))] * 1000 if lat else 0.0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    # Workers log to their stderr, which pytest captures at the file descriptor.
    errors += [line for line in capfd.readouterr().err.splitlines() if " ERROR " in line or "Traceback" in line]
    with capfd.disabled():  # the summary shows with -s
        print(
            f"\nsoak ({f'answers in {workers} worker process' if workers else 'answers in-process'}) "
            f"{elapsed:.1f} s: {tally.requests} student requests + {flood_sent} flood requests, "
            f"{sum(replies.values())} replies {dict(replies)}; Advisor.handle p99 {p99:.2f} ms; quizzes started "
            f"{tally.started}, finished {tally.finished}, cancelled {tally.cancelled}, replaced {tally.replaced}, "
            f"forgotten {tally.forgotten}, in progress {in_progress}; double clicks {tally.double_clicks}, "
            f"stale clicks {tally.stale_clicks}; flooder slowed down {throttled['UFLOODER01']}×; RSS after warm-up "
            f"{rss_warm / 2**20:.1f} MiB, at end {rss_end / 2**20:.1f} MiB; rate-limiter buckets {len(limiter)}"
        )
    assert not errors, errors[:5]
    assert replies[ReplyKind.ERROR.value] == 0
    assert tally.lost == 0, f"{tally.lost} requests got no answer"
    assert not urls.invalid, urls.invalid[:5]
    assert not tally.mismatches, tally.mismatches[:10]
    assert tally.started == tally.finished + tally.cancelled + tally.replaced + tally.forgotten + in_progress
    assert tally.started > 0 and tally.finished > 0 and tally.stale_clicks > 0
    assert throttled["UFLOODER01"] > 0 and set(throttled) == {"UFLOODER01"}, throttled
    assert rss_end - rss_warm < RSS_GROWTH_LIMIT, (rss_warm, rss_end)
    if not workers:  # with workers the limiter in use is theirs
        assert len(limiter) <= STUDENTS * 2 + 2
