"""Two Slack HTTP replicas sharing one real Redis, driven with signed requests over loopback.

First as two app instances in this process: each a separate bolt app behind its own aiohttp server, with its
own Advisor, its own ``RedisSessionStore`` (own connection pool) and its own delivery guard; the only thing
they share is the redis-server. Then as two separate processes started the way ``advisor run`` starts them
(``bots.launcher.services``: health server, metrics, shared guard), as two containers would run.
Slack itself is the loopback fake from tests/slack_fakes.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.advisor import Advisor
from core.kb_model import KnowledgeBase
from core.redis_store import RedisSessionStore
from core.sessions import MemorySessionStore, SessionKey
from core.store_factory import open_delivery_guard
from tests.redis_server import RedisServer, free_port, redis_server_fixture  # noqa: F401
from tests.slack_fakes import (
    BOT_TOKEN,
    FORM,
    JSON,
    SIGNING_SECRET,
    TEAM,
    FakeSlack,
    SlackHarness,
    actions_body,
    app_mention,
    block_actions,
    event_callback,
    form_body,
    serve_app,
    sign,
    slash_command,
)

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(60)

STUDENT = "U0STUDENT1"


@pytest.fixture(scope="module")
def replica_advisors(kb: KnowledgeBase) -> tuple[Advisor, Advisor]:
    # Building an Advisor trains the matcher (a second or two); each test gives both fresh Redis stores.
    return Advisor(kb, MemorySessionStore()), Advisor(kb, MemorySessionStore())


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def replicas(
    replica_advisors: tuple[Advisor, Advisor], redis_server: RedisServer, fake_slack: FakeSlack
) -> AsyncIterator[tuple[SlackHarness, SlackHarness]]:
    async with AsyncExitStack() as stack:
        harnesses = []
        for advisor in replica_advisors:
            advisor.store = RedisSessionStore(redis_server.url)
            stack.push_async_callback(advisor.store.close)
            guard = open_delivery_guard(advisor.store)
            harnesses.append(await stack.enter_async_context(serve_app(advisor, fake_slack, guard=guard)))
        yield harnesses[0], harnesses[1]


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


def texts(message: dict[str, Any]) -> str:
    found = []
    for block in message.get("blocks") or []:
        if block["type"] == "section":
            found.append(block["text"]["text"])
        elif block["type"] == "context":
            found.extend(e["text"] for e in block["elements"])
    return "\n".join(found)


def one(items: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(items) == 1, items
    return items[0]


async def test_quiz_started_on_replica_a_continues_on_replica_b(
    replicas: tuple[SlackHarness, SlackHarness], kb: KnowledgeBase
) -> None:
    a, b = replicas
    total = len(kb.quiz.questions)
    _, url = await a.command("/career-quiz")
    message = one(await a.answers(url))
    for number in range(1, total + 1):
        assert f"*Question {number} of {total}*" in texts(message)
        replica = (b, a)[number % 2]  # B answers question 1, A question 2, ...
        _, url = await replica.click(buttons(message)[0]["value"], action_id=buttons(message)[0]["action_id"])
        message = one(await replica.answers(url))
        assert kb.texts.quiz_stale not in texts(message)
    assert "results" in (message["blocks"][0]["text"]["text"]).lower()


async def test_fifty_concurrent_clicks_on_one_question_count_once(
    replicas: tuple[SlackHarness, SlackHarness], replica_advisors: tuple[Advisor, Advisor], kb: KnowledgeBase
) -> None:
    a, b = replicas
    total = len(kb.quiz.questions)
    _, url = await a.command("/career-quiz")
    first = one(await a.answers(url))
    choice = buttons(first)[0]
    clicks = await asyncio.gather(
        *(replica.click(choice["value"], action_id=choice["action_id"]) for replica in [a, b] * 25)
    )
    assert {response.status for response, _ in clicks} == {200}
    await asyncio.gather(a.settle(), b.settle())
    messages = [one(await (a if i % 2 == 0 else b).answers(url)) for i, (_, url) in enumerate(clicks)]
    advanced = [m for m in messages if kb.texts.quiz_stale not in texts(m)]
    assert len(advanced) == 1, "exactly one click may count"
    assert f"*Question 2 of {total}*" in texts(advanced[0])
    # The other 49 see where the quiz really stands: question 2, marked as out of date, never question 3.
    assert all(f"*Question 2 of {total}*" in texts(m) for m in messages)

    # And in Redis, as read through the other replica's store: one answer recorded, on to question 2.
    session = await replica_advisors[1].store.load(SessionKey("slack", TEAM, STUDENT))
    assert session.quiz is not None and session.quiz.position == 1 and len(session.quiz.answers) == 1


async def test_retried_event_across_replicas_gets_one_answer(
    replicas: tuple[SlackHarness, SlackHarness], fake_slack: FakeSlack
) -> None:
    a, b = replicas
    event = app_mention("what does a legal assistant do?")
    # The first delivery reaches A; Slack's retries (it thought A was too slow) reach B, even concurrently.
    first, *retries = await asyncio.gather(
        a.event(event, event_id="Ev0REPLICA1"),
        b.event(event, event_id="Ev0REPLICA1", retry=1),
        b.event(event, event_id="Ev0REPLICA1", retry=2),
    )
    assert {first.status, *(r.status for r in retries)} == {200}
    await asyncio.gather(a.settle(), b.settle())
    assert len(fake_slack.calls("chat.postMessage")) == 1


# -- two processes ------------------------------------------------------------------------------------------

REPLICA = textwrap.dedent("""
    import asyncio, sys
    from slack_sdk.web.async_client import AsyncWebClient
    from bots.launcher import services
    from bots.slack.runner import start_slack
    from core.config import Settings

    async def main() -> None:
        settings = Settings.from_env(load_env_file=False)
        async with services(settings) as running:
            # Only the Web API address differs from `advisor run --adapter slack`: it is the fake Slack.
            client = AsyncWebClient(token=settings.slack_bot_token, base_url=sys.argv[1])
            await start_slack(running.advisor, settings, running.guard, client=client, host="127.0.0.1")

    asyncio.run(main())
""")


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


async def test_two_replica_processes_share_the_quiz_and_the_retry_record(
    redis_server: RedisServer, fake_slack: FakeSlack, kb: KnowledgeBase, tmp_path: Path
) -> None:
    replicas = []
    for _ in range(2):
        slack_port, health_port = free_port(), free_port()
        env = {
            **os.environ,
            "SESSION_STORE": redis_server.url,
            "SLACK_MODE": "http",
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_PORT": str(slack_port),
            "HEALTH_PORT": str(health_port),
            "ADVISOR_DATA_DIR": str(tmp_path / "data"),  # shared, as the /data volume in compose
            "TMPDIR": str(tmp_path),
            "LOG_LEVEL": "WARNING",
        }
        process = subprocess.Popen(
            [sys.executable, "-c", REPLICA, fake_slack.base_url],
            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        replicas.append((process, f"http://127.0.0.1:{slack_port}/slack/events", health_port))
    try:
        for process, _, health_port in replicas:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                try:
                    if get_json(f"http://127.0.0.1:{health_port}/readyz")["ready"]:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "replica not ready in time"
                await asyncio.sleep(0.1)
        (_, url_a, health_a), (_, url_b, health_b) = replicas

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:

            async def post(url: str, body: str, content_type: str, **extra: str) -> None:
                headers = {"Content-Type": content_type, **sign(body), **extra}
                async with http.post(url, data=body.encode(), headers=headers) as response:
                    assert response.status == 200

            async def answer_at(response_url: str) -> dict[str, Any]:
                path = response_url.split(str(fake_slack.port), 1)[1]
                deadline = time.monotonic() + 10
                while not (found := [c.body for c in fake_slack.calls("response_url") if c.path == path]):
                    assert time.monotonic() < deadline, f"no answer at {path}"
                    await asyncio.sleep(0.02)
                return found[0]

            start_url = fake_slack.response_url()
            await post(url_a, form_body(slash_command("/career-quiz", "", start_url, user=STUDENT)), FORM)
            message = await answer_at(start_url)
            for number, url in ((1, url_b), (2, url_a), (3, url_b)):
                assert f"*Question {number} of {len(kb.quiz.questions)}*" in texts(message)
                choice = buttons(message)[0]
                click_url = fake_slack.response_url()
                body = actions_body(block_actions(choice["value"], choice["action_id"], click_url, user=STUDENT))
                await post(url, body, FORM)
                message = await answer_at(click_url)
                assert kb.texts.quiz_stale not in texts(message)
            assert f"*Question 4 of {len(kb.quiz.questions)}*" in texts(message)

            event = json.dumps(event_callback(app_mention("what does a paralegal do?"), event_id="Ev0PROCESS1"))
            await asyncio.gather(
                post(url_a, event, JSON),
                post(url_b, event, JSON, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}),
            )
            await fake_slack.wait_for("chat.postMessage", count=1)
            await asyncio.sleep(1.0)  # time for a second answer, if there were going to be one
            assert len(fake_slack.calls("chat.postMessage")) == 1

        assert [get_json(f"http://127.0.0.1:{port}/readyz")["ready"] for port in (health_a, health_b)] == [True, True]
        with urllib.request.urlopen(f"http://127.0.0.1:{health_a}/metrics", timeout=5) as response:
            assert 'advisor_quiz_starts_total{platform="slack"} 1.0' in response.read().decode()
    finally:
        for process, _, _ in replicas:
            process.terminate()
        for process, _, _ in replicas:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
