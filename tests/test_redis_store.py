"""Redis session store and delivery guard against a real redis-server on loopback (tests/redis_server.py)."""

from __future__ import annotations

import asyncio
import time

from core.advisor import Advisor
from core.kb_model import KnowledgeBase
from core.quiz import QuizState
from core.redis_store import RedisSessionStore
from core.reply import Command, ReplyKind, Request
from core.sessions import Session, SessionKey, SessionStoreError
from tests.redis_server import RedisServer, free_port, redis_server_fixture  # noqa: F401

KEY = SessionKey("slack", "T1", "U1")


async def all_keys(store: RedisSessionStore) -> list[str]:
    return sorted([k.decode() async for k in store.client.scan_iter(match="*", count=1000)])


def quiz_request(user: str = "U1", **kwargs: object) -> Request:
    return Request("slack", "T1", user, **kwargs)  # type: ignore[arg-type]


async def test_round_trip_and_ttl_on_every_key(redis_server: RedisServer, kb: KnowledgeBase) -> None:
    store = RedisSessionStore(redis_server.url, ttl_seconds=3600, prefix="lca:")
    advisor = Advisor(kb, store)
    try:
        reply = await advisor.handle(quiz_request(command=Command.QUIZ))
        await advisor.handle(quiz_request(action=reply.choices[0].action))
        await advisor.handle(quiz_request(text="what does a paralegal do?"))
        assert await store.delivery_guard(window_seconds=60).first_time("Ev1")

        session = await store.load(KEY)
        assert session.quiz is not None and session.quiz.position == 1
        assert session.context.roles == ("paralegal",)

        keys = await all_keys(store)
        assert keys, "nothing was written"
        for name in keys:
            assert name.startswith("lca:"), name
            ttl_ms = await store.client.pttl(name)
            assert 0 < ttl_ms <= 3600 * 1000, (name, ttl_ms)
    finally:
        await store.close()


async def test_prefixes_keep_deployments_apart(redis_server: RedisServer) -> None:
    a = RedisSessionStore(redis_server.url, prefix="blue:")
    b = RedisSessionStore(redis_server.url, prefix="green:")
    try:
        await a.update(KEY, lambda s: setattr(s, "quiz", QuizState("q-blue")))
        assert (await b.load(KEY)).quiz is None
        assert await b.forget_user("slack", "U1") == 0
        assert (await a.load(KEY)).quiz is not None
        assert all(k.startswith("blue:") for k in await all_keys(a))
    finally:
        await a.close()
        await b.close()


async def test_quiz_started_on_one_replica_continues_on_another(redis_server: RedisServer, kb: KnowledgeBase) -> None:
    replica_a = Advisor(kb, RedisSessionStore(redis_server.url))
    replica_b = Advisor(kb, RedisSessionStore(redis_server.url))
    try:
        reply = await replica_a.handle(quiz_request(command=Command.QUIZ))
        replicas = [replica_b, replica_a]
        steps = 0
        while reply.kind is ReplyKind.QUIZ_QUESTION:
            reply = await replicas[steps % 2].handle(quiz_request(action=reply.choices[0].action))
            steps += 1
            assert not reply.meta.get("stale"), reply.meta
        assert reply.kind is ReplyKind.QUIZ_RESULT
        assert steps == len(kb.quiz.questions)
    finally:
        await replica_a.store.close()
        await replica_b.store.close()


async def test_fifty_concurrent_clicks_across_two_stores_count_once(
    redis_server: RedisServer, kb: KnowledgeBase
) -> None:
    replica_a = Advisor(kb, RedisSessionStore(redis_server.url))
    replica_b = Advisor(kb, RedisSessionStore(redis_server.url))
    try:
        first = await replica_a.handle(quiz_request(command=Command.QUIZ))
        click = first.choices[0].action
        replies = await asyncio.gather(
            *(replica.handle(quiz_request(action=click)) for replica in [replica_a, replica_b] * 25)
        )
        counted = [r for r in replies if r.kind is ReplyKind.QUIZ_QUESTION and not r.meta.get("stale")]
        assert len(counted) == 1, [r.meta for r in replies]
        assert all(r.kind is not ReplyKind.ERROR for r in replies)
        session = await replica_b.store.load(KEY)
        assert session.quiz is not None
        assert session.quiz.position == 1 and len(session.quiz.answers) == 1
    finally:
        await replica_a.store.close()
        await replica_b.store.close()


async def test_no_lost_updates_under_contention(redis_server: RedisServer) -> None:
    stores = [RedisSessionStore(redis_server.url), RedisSessionStore(redis_server.url)]

    def add(i: int):  # type: ignore[no-untyped-def]
        def mutate(s: Session) -> None:
            s.quiz = s.quiz or QuizState("q")
            s.quiz.answers[f"k{i}"] = "x"

        return mutate

    try:
        await asyncio.gather(*(stores[i % 2].update(KEY, add(i)) for i in range(100)))
        session = await stores[0].load(KEY)
        assert session.quiz is not None and len(session.quiz.answers) == 100
    finally:
        for store in stores:
            await store.close()


async def test_redis_killed_mid_quiz_then_back(redis_server: RedisServer, kb: KnowledgeBase) -> None:
    store = RedisSessionStore(redis_server.url, timeout=0.5)
    advisor = Advisor(kb, store)
    try:
        reply = await advisor.handle(quiz_request(command=Command.QUIZ))
        reply = await advisor.handle(quiz_request(action=reply.choices[0].action))
        assert reply.progress is not None and reply.progress.current == 2
        next_click = reply.choices[1].action

        redis_server.kill()
        started = time.monotonic()
        failed = await advisor.handle(quiz_request(action=next_click))
        assert time.monotonic() - started < 5, "a dead Redis must fail fast"
        assert failed.kind is ReplyKind.ERROR and failed.meta == {"error": "store_error"}
        assert failed.sections[0].text == kb.texts.error
        assert failed.ephemeral
        assert not await store.ping()

        redis_server.restart()
        assert await store.ping()
        resumed = await advisor.handle(quiz_request(action=next_click))
        assert resumed.kind is ReplyKind.QUIZ_QUESTION and not resumed.meta.get("stale")
        assert resumed.progress is not None and resumed.progress.current == 3
    finally:
        await store.close()


async def test_unreachable_redis_gives_friendly_error(kb: KnowledgeBase) -> None:
    store = RedisSessionStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.3)
    advisor = Advisor(kb, store)
    try:
        assert not await store.ping()
        reply = await advisor.handle(quiz_request(command=Command.QUIZ))
        assert reply.kind is ReplyKind.ERROR and reply.meta["error"] == "store_error"
        try:
            await store.load(KEY)
        except SessionStoreError as exc:
            assert "redis" in str(exc)
        else:
            raise AssertionError("load should raise SessionStoreError")
    finally:
        await store.close()
        await store.close()  # closing twice is harmless


async def test_forget_deletes_every_key_of_the_user(redis_server: RedisServer, kb: KnowledgeBase) -> None:
    store = RedisSessionStore(redis_server.url)
    advisor = Advisor(kb, store)
    # Ids with key syntax in them must neither escape their key nor match a neighbour's.
    doomed, neighbour = "U1:x*", "U1:xy"
    try:
        for workspace in ("T1", "T2", "T3"):
            for user in (doomed, neighbour):
                await advisor.handle(Request("slack", workspace, user, command=Command.QUIZ))
        await advisor.handle(Request("discord", "G1", doomed, command=Command.QUIZ))
        before = await all_keys(store)

        reply = await advisor.handle(Request("slack", "T1", doomed, command=Command.FORGET))
        assert reply.meta["removed"] == 3

        after = await all_keys(store)
        removed = set(before) - set(after)
        assert removed == {store.session_key(SessionKey("slack", w, doomed)) for w in ("T1", "T2", "T3")} | {
            store.user_index_key("slack", doomed)
        }
        for workspace in ("T1", "T2", "T3"):
            assert (await store.load(SessionKey("slack", workspace, doomed))).quiz is None
            assert (await store.load(SessionKey("slack", workspace, neighbour))).quiz is not None
        # Forget is per platform (ids are only unique within one); the Discord session is a different person.
        assert (await store.load(SessionKey("discord", "G1", doomed))).quiz is not None
    finally:
        await store.close()


async def test_expired_sessions_vanish(redis_server: RedisServer) -> None:
    store = RedisSessionStore(redis_server.url, ttl_seconds=0.5)
    try:
        await store.update(KEY, lambda s: setattr(s, "quiz", QuizState("q")))
        assert await all_keys(store)
        deadline = time.monotonic() + 5
        while await all_keys(store) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert await all_keys(store) == []
        assert (await store.load(KEY)).quiz is None
    finally:
        await store.close()


async def test_purge_applies_a_lowered_retention_at_once(redis_server: RedisServer) -> None:
    clock = [time.time()]
    long_retention = RedisSessionStore(redis_server.url, ttl_seconds=3600, clock=lambda: clock[0])
    short_retention = RedisSessionStore(redis_server.url, ttl_seconds=60, clock=lambda: clock[0] + 120)
    try:
        await long_retention.update(KEY, lambda s: None)
        await long_retention.update(SessionKey("slack", "T1", "U2"), lambda s: None)
        assert await long_retention.purge_expired() == 0
        assert await short_retention.purge_expired() == 2
        assert [k for k in await all_keys(long_retention) if ":s:" in k] == []
    finally:
        await long_retention.close()
        await short_retention.close()


async def test_delivery_guard_once_across_replicas_and_expires(redis_server: RedisServer) -> None:
    stores = [RedisSessionStore(redis_server.url), RedisSessionStore(redis_server.url)]
    guards = [store.delivery_guard(window_seconds=0.3) for store in stores]
    try:
        results = await asyncio.gather(*(guards[i % 2].first_time("Ev123") for i in range(20)))
        assert results.count(True) == 1
        assert await guards[1].first_time("Ev456")
        await asyncio.sleep(0.5)
        assert await guards[0].first_time("Ev123"), "the record must expire after the window"
    finally:
        for store in stores:
            await store.close()


async def test_delivery_guard_fails_open_when_redis_is_down(redis_server: RedisServer) -> None:
    store = RedisSessionStore(redis_server.url, timeout=0.3)
    guard = store.delivery_guard()
    try:
        redis_server.kill()
        # Better to answer a retry twice than to drop the user's message.
        assert await guard.first_time("Ev1")
    finally:
        await store.close()
