"""Session stores: SQLite survives a process restart mid-quiz; sessions expire; forget deletes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from core.advisor import Advisor
from core.reply import Command, Request
from core.sessions import MemorySessionStore, SessionKey, SQLiteSessionStore

KEY = SessionKey("test", "w1", "u1")


async def test_process_restart_mid_quiz_resumes(kb, tmp_path):
    db = tmp_path / "sessions.sqlite3"
    first = Advisor(kb, SQLiteSessionStore(db))
    reply = await first.handle(Request("test", "w1", "u1", command=Command.QUIZ))
    reply = await first.handle(Request("test", "w1", "u1", action=reply.choices[0].action))
    assert reply.progress.current == 2
    next_action = reply.choices[1].action
    await first.store.close()

    # A different Python process answers the next question from the same file, as after a restart.
    script = textwrap.dedent(f"""
        import asyncio
        from core.advisor import Advisor
        from core.kb_loader import load_knowledge_base
        from core.reply import Request
        from core.sessions import SQLiteSessionStore
        async def main():
            advisor = Advisor(load_knowledge_base({str(kb_dir())!r}), SQLiteSessionStore({str(db)!r}))
            reply = await advisor.handle(Request("test", "w1", "u1", action={next_action!r}))
            print(reply.progress.current)
        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "3"

    again = Advisor(kb, SQLiteSessionStore(db))
    session = await again.store.load(KEY)
    assert session.quiz is not None and len(session.quiz.answers) == 2 and session.quiz.position == 2
    await again.store.close()


def kb_dir():
    from tests.conftest import KNOWLEDGE

    return KNOWLEDGE


async def _expiry(store, clock):
    await store.update(KEY, lambda s: setattr(s, "context", s.context))
    assert (await store.load(KEY)).updated_at > 0
    clock[0] += 61
    assert (await store.load(KEY)).updated_at == 0  # expired sessions read as fresh
    assert await store.purge_expired() == 1


async def test_sessions_expire_sqlite(tmp_path):
    clock = [1000.0]
    store = SQLiteSessionStore(tmp_path / "s.sqlite3", ttl_seconds=60, clock=lambda: clock[0])
    await _expiry(store, clock)
    assert await store.count() == 0
    await store.close()


async def test_sessions_expire_memory():
    clock = [1000.0]
    store = MemorySessionStore(ttl_seconds=60, clock=lambda: clock[0])
    await _expiry(store, clock)
    assert len(store) == 0


async def test_forget_user_removes_every_workspace(tmp_path):
    store = SQLiteSessionStore(tmp_path / "s.sqlite3")
    for workspace in ("w1", "w2"):
        await store.update(SessionKey("slack", workspace, "U1"), lambda s: None)
    await store.update(SessionKey("slack", "w1", "U2"), lambda s: None)
    assert await store.forget_user("slack", "U1") == 2
    assert await store.count() == 1
    await store.close()


async def test_concurrent_clicks_on_one_question_count_once(kb, tmp_path):
    import asyncio

    advisor = Advisor(kb, SQLiteSessionStore(tmp_path / "s.sqlite3"))
    reply = await advisor.handle(Request("test", "w1", "u1", command=Command.QUIZ))
    action = reply.choices[0].action
    replies = await asyncio.gather(*[advisor.handle(Request("test", "w1", "u1", action=action)) for _ in range(20)])
    assert sum(1 for r in replies if not r.meta.get("stale")) == 1
    session = await advisor.store.load(KEY)
    assert len(session.quiz.answers) == 1 and session.quiz.position == 1
    await advisor.store.close()
