"""Privacy (docs/privacy.md): only ids, quiz progress and conversation context are stored; forget deletes
everything about a user in every store; nothing with a user id outlives the retention period."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.advisor import Advisor
from core.config import Settings
from core.kb_model import KnowledgeBase
from core.misses import MissLog
from core.redis_store import RedisSessionStore
from core.reply import Command, Request
from core.runtime import housekeeping
from core.sessions import SQLiteSessionStore
from tests.redis_server import RedisServer, redis_server_fixture  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
OFF_TOPIC = "whats the weather like in paris tomorrow"
PRIVATE = "my landlord kept my deposit, should I sue him?"
DAY = 24 * 3600


async def leave_traces(advisor: Advisor, platform: str, workspace: str, user: str) -> None:
    """Everything a user can make the bot store: context, quiz progress, a missed question, legal advice."""
    await advisor.handle(Request(platform, workspace, user, text="what does a paralegal do?"))
    reply = await advisor.handle(Request(platform, workspace, user, command=Command.QUIZ))
    await advisor.handle(Request(platform, workspace, user, action=reply.choices[0].action))
    await advisor.handle(Request(platform, workspace, user, text=OFF_TOPIC))
    await advisor.handle(Request(platform, workspace, user, text=PRIVATE))


async def redis_keys(store: RedisSessionStore) -> list[str]:
    return [k.decode() async for k in store.client.scan_iter(match="*", count=1000)]


async def test_stored_documents_hold_only_ids_progress_and_context(
    redis_server: RedisServer, kb: KnowledgeBase, tmp_path: Path
) -> None:
    redis_store = RedisSessionStore(redis_server.url)
    sqlite_store = SQLiteSessionStore(tmp_path / "sessions.sqlite3")
    misses = MissLog(tmp_path / "misses.sqlite3")
    try:
        for store in (redis_store, sqlite_store):
            await leave_traces(Advisor(kb, store, misses), "slack", "T1", "U1")

        session_keys = [name for name in await redis_keys(redis_store) if ":s:" in name]
        documents = [json.loads(await redis_store.client.get(name)) for name in session_keys]
        with sqlite3.connect(tmp_path / "sessions.sqlite3") as db:
            documents += [json.loads(row[0]) for row in db.execute("SELECT data FROM sessions")]
        assert len(documents) == 2
        for document in documents:
            assert set(document) == {"context", "quiz", "updated_at"}
            assert set(document["context"]) == {"roles", "topic", "after_legal_advice"}
            assert set(document["quiz"]) == {"quiz_id", "position", "answers", "finished"}
            assert "weather" not in json.dumps(document) and "landlord" not in json.dumps(document)

        # The misses log keeps the unanswered question, never the legal-advice one (it may be personal).
        with sqlite3.connect(tmp_path / "misses.sqlite3") as db:
            questions = [row[0] for row in db.execute("SELECT question FROM misses")]
        assert questions and all("weather" in q for q in questions)
    finally:
        misses.close()
        await redis_store.close()
        await sqlite_store.close()


async def test_career_forget_deletes_everything_in_every_store(
    redis_server: RedisServer, kb: KnowledgeBase, tmp_path: Path
) -> None:
    redis_store = RedisSessionStore(redis_server.url)
    misses = MissLog(tmp_path / "misses.sqlite3")
    advisor = Advisor(kb, redis_store, misses)
    try:
        for workspace in ("T1", "T2"):
            await leave_traces(advisor, "slack", workspace, "U1")
            await leave_traces(advisor, "slack", workspace, "U2")
        assert misses.user_rows("slack", "U1") == 2

        reply = await advisor.handle(Request("slack", "T1", "U1", command=Command.FORGET))
        assert reply.meta["removed"] == 2 + 2  # two sessions, two misses-log rows
        assert reply.ephemeral

        # Scan the whole store: no key, and no value, mentions the user any more.
        for name in await redis_keys(redis_store):
            assert "U1" not in name
            value = await redis_store.client.type(name)
            if value == b"string":
                assert b"U1" not in await redis_store.client.get(name)
            elif value == b"set":
                assert not any(b"U1" in m for m in await redis_store.client.smembers(name))
        assert misses.user_rows("slack", "U1") == 0
        assert misses.user_rows("slack", "U2") == 2
        assert sum(1 for k in await redis_keys(redis_store) if ":s:" in k) == 2  # U2's two sessions
    finally:
        misses.close()
        await redis_store.close()


async def test_advisor_forget_command_with_redis_and_sqlite(
    redis_server: RedisServer, kb: KnowledgeBase, tmp_path: Path
) -> None:
    """`advisor forget --user` as an operator runs it, once against Redis and once against SQLite."""
    for store_url in (redis_server.url, f"sqlite:///{tmp_path / 'sqlite-data' / 'sessions.sqlite3'}"):
        data_dir = tmp_path / ("redis-data" if store_url.startswith("redis") else "sqlite-data")
        data_dir.mkdir(exist_ok=True)
        store = (
            RedisSessionStore(store_url)
            if store_url.startswith("redis")
            else SQLiteSessionStore(store_url.removeprefix("sqlite:///"))
        )
        misses = MissLog(data_dir / "misses.sqlite3")
        try:
            advisor = Advisor(kb, store, misses)
            await leave_traces(advisor, "slack", "T1", "U1")
            await leave_traces(advisor, "discord", "G1", "U1")
            await leave_traces(advisor, "slack", "T1", "U2")
        finally:
            misses.close()
            await store.close()

        env = {**os.environ, "SESSION_STORE": store_url, "ADVISOR_DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
        out = subprocess.run(
            [sys.executable, "-m", "bots.cli", "forget", "--user", "U1"],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "Deleted 4 stored record(s) for user U1" in out.stdout  # 2 sessions + 2 misses rows

        misses = MissLog(data_dir / "misses.sqlite3")
        assert misses.user_rows("slack", "U1") == misses.user_rows("discord", "U1") == 0
        assert misses.user_rows("slack", "U2") == 1
        misses.close()
        if store_url.startswith("redis"):
            check = RedisSessionStore(store_url)
            assert not [k for k in await redis_keys(check) if "U1" in k]
            await check.client.flushdb()
            await check.close()
        else:
            with sqlite3.connect(store_url.removeprefix("sqlite:///")) as db:
                assert db.execute("SELECT user FROM sessions").fetchall() == [("U2",)]


async def test_misses_log_keeps_no_user_id_past_retention(kb: KnowledgeBase, tmp_path: Path) -> None:
    clock = [time.time()]
    misses = MissLog(tmp_path / "misses.sqlite3", retention_seconds=30 * DAY, clock=lambda: clock[0])
    sessions = SQLiteSessionStore(tmp_path / "sessions.sqlite3", ttl_seconds=30 * DAY, clock=lambda: clock[0])
    advisor = Advisor(kb, sessions, misses)
    try:
        await leave_traces(advisor, "slack", "T1", "U1")
        assert misses.user_rows("slack", "U1") == 1
        clock[0] += 31 * DAY

        # The running bot purges on its own (bots/launcher.py starts this loop); no one has to read the log.
        loop_task = asyncio.create_task(housekeeping(advisor, interval_seconds=3600))
        deadline = time.monotonic() + 10
        while misses.user_rows("slack", "U1") or await sessions.count():
            assert time.monotonic() < deadline, "retention purge did not run"
            await asyncio.sleep(0.02)
        loop_task.cancel()
        with sqlite3.connect(tmp_path / "misses.sqlite3") as db:
            assert db.execute("SELECT COUNT(*) FROM misses").fetchone() == (0,)
    finally:
        misses.close()
        await sessions.close()


async def test_retention_is_configurable_and_applied_to_redis_ttls(
    redis_server: RedisServer, kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETENTION_DAYS", "7")
    settings = Settings.from_env(load_env_file=False)
    assert settings.retention_days == 7 and settings.session_ttl_seconds == 7 * DAY
    store = RedisSessionStore(redis_server.url, ttl_seconds=settings.session_ttl_seconds)
    try:
        await leave_traces(Advisor(kb, store), "slack", "T1", "U1")
        for name in await redis_keys(store):
            assert 6 * DAY < await store.client.pttl(name) / 1000 <= 7 * DAY
    finally:
        await store.close()
