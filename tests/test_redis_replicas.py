"""Two Slack HTTP replicas sharing one real Redis, driven with signed requests over loopback.

Each replica is a separate bolt app behind its own aiohttp server, with its own Advisor, its own
``RedisSessionStore`` (own connection pool) and its own delivery guard: the only thing they share is the
redis-server, as two containers would. Slack itself is the loopback fake from tests/slack_fakes.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from core.advisor import Advisor
from core.kb_model import KnowledgeBase
from core.redis_store import RedisSessionStore
from core.sessions import MemorySessionStore, SessionKey
from core.store_factory import open_delivery_guard
from tests.redis_server import RedisServer, redis_server_fixture  # noqa: F401
from tests.slack_fakes import TEAM, FakeSlack, SlackHarness, app_mention, serve_app

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
