"""Memory per 10,000 concurrent quiz sessions, with the SQLite, Redis and in-memory session stores.

Run: .venv/bin/python benchmarks/sessions_memory.py [--sessions 10000]

Each session is what the Advisor writes for a student part-way through the quiz: a real ``QuizState`` from
the quiz engine with a few answers, plus conversation context (roles and topic). Sessions are written through
the store's ``update`` (the same atomic path the Advisor uses), 200 at a time concurrently.

Measured per store:
  * where the sessions live: SQLite file size (after a WAL checkpoint); Redis ``used_memory`` growth, from
    INFO, on a private redis-server started for the run (tests/redis_server.py, appendfsync everysec as in
    docker-compose.yml) and its append-only file; the Python heap for the memory store;
  * the bot process's resident memory (RSS) growth: what holding N sessions costs the bot itself;
  * write and read rates, to show the cost of the network round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere; reuses the tests' redis-server helper

from core.kb_loader import load_knowledge_base  # noqa: E402
from core.matcher import ConversationContext  # noqa: E402
from core.quiz import QuizEngine, QuizState  # noqa: E402
from core.redis_store import RedisSessionStore  # noqa: E402
from core.sessions import MemorySessionStore, Session, SessionKey, SessionStore, SQLiteSessionStore  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

BATCH = 200
ROLES = ("legal_secretary", "paralegal", "legal_assistant")
TOPICS = ("pay", "education", "duties", "certification")


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def mid_quiz_states(engine: QuizEngine, count: int, seed: int = 7) -> list[QuizState]:
    rng = random.Random(seed)
    states = []
    for _ in range(count):
        state = engine.start(None)
        for _ in range(rng.randrange(1, engine.length)):  # part-way: 1 .. all-but-one answered
            question = engine.quiz.questions[state.position]
            engine.answer(state, state.quiz_id, state.position, rng.choice(question.choices).id)
        states.append(state)
    return states


def key(number: int) -> SessionKey:
    # Slack-shaped ids: team T + 10 characters, user U + 10 characters.
    return SessionKey("slack", f"T{number % 7:010d}", f"U{number:010d}")


async def write_all(store: SessionStore, states: list[QuizState]) -> float:
    def setter(state: QuizState, number: int) -> Callable[[Session], None]:
        def mutate(session: Session) -> None:
            session.quiz = state
            session.context = ConversationContext((ROLES[number % 3],), TOPICS[number % 4])

        return mutate

    started = time.perf_counter()
    for first in range(0, len(states), BATCH):
        batch = range(first, min(first + BATCH, len(states)))
        await asyncio.gather(*(store.update(key(n), setter(states[n], n)) for n in batch))
    return time.perf_counter() - started


async def read_all(store: SessionStore, count: int) -> float:
    started = time.perf_counter()
    for first in range(0, count, BATCH):
        sessions = await asyncio.gather(*(store.load(key(n)) for n in range(first, min(first + BATCH, count))))
        assert all(s.quiz is not None for s in sessions)
    return time.perf_counter() - started


async def measure(
    name: str, store: SessionStore, states: list[QuizState], footprint: Callable[[], Awaitable[int]]
) -> dict[str, float]:
    gc.collect()
    rss_before, stored_before = rss_bytes(), await footprint()
    wrote = await write_all(store, states)
    read = await read_all(store, len(states))
    gc.collect()
    figures = {
        "stored": await footprint() - stored_before,
        "rss": rss_bytes() - rss_before,
        "writes_per_s": len(states) / wrote,
        "reads_per_s": len(states) / read,
    }
    await store.close()
    print(
        f"{name:<8} stored {figures['stored'] / 2**20:7.2f} MiB ({figures['stored'] / len(states):6.0f} B/session)"
        f"   bot RSS +{figures['rss'] / 2**20:6.2f} MiB"
        f"   writes {figures['writes_per_s']:8.0f}/s   reads {figures['reads_per_s']:8.0f}/s"
    )
    return figures


async def run(count: int) -> None:
    kb = load_knowledge_base(REPO / "knowledge")
    engine = QuizEngine(kb)
    states = mid_quiz_states(engine, count)
    sample = Session(key(0), ConversationContext(("paralegal",), "pay"), states[0]).to_json()
    print(f"{count} sessions part-way through the {engine.length}-question quiz; one session document is")
    print(f"{len(sample)} bytes of JSON, e.g. {sample}\n")

    with tempfile.TemporaryDirectory() as tmp:
        database = Path(tmp) / "sessions.sqlite3"

        async def sqlite_size() -> int:
            if not database.exists():
                return 0
            with sqlite3.connect(database) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return sum(p.stat().st_size for p in Path(tmp).glob("sessions.sqlite3*"))

        await measure("SQLite", SQLiteSessionStore(database), states, sqlite_size)

        server = RedisServer(Path(tmp) / "redis", appendfsync="everysec").start()
        try:
            probe = RedisSessionStore(server.url)

            async def redis_used() -> int:
                return int((await probe.client.info("memory"))["used_memory"])

            await measure("Redis", RedisSessionStore(server.url), states, redis_used)
            keys = int(await probe.client.dbsize())
            aof = sum(p.stat().st_size for p in (Path(tmp) / "redis").rglob("*.aof"))
            print(f"         Redis holds {keys} keys (a session and a per-user index each); append-only file "
                  f"{aof / 2**20:.2f} MiB")
            await probe.close()
        finally:
            server.stop()

    memory = MemorySessionStore()

    async def heap() -> int:
        return 0  # the memory store's footprint is the process's own RSS growth, reported beside it

    await measure("memory", memory, states, heap)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(run(args.sessions))


if __name__ == "__main__":
    main()
