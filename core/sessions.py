"""Per-user session state (quiz progress, conversation context) and where it is kept.

Every change goes through ``SessionStore.update``, an atomic read-modify-write: two clicks handled at once
(a double click, or two replicas) see each other's result instead of overwriting it.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from .matcher import ConversationContext
from .quiz import QuizState

T = TypeVar("T")
DEFAULT_TTL_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True, order=True)
class SessionKey:
    platform: str
    workspace: str
    user: str


@dataclass
class Session:
    key: SessionKey
    context: ConversationContext = field(default_factory=ConversationContext)
    quiz: QuizState | None = None
    updated_at: float = 0.0

    def to_json(self) -> str:
        return json.dumps(
            {
                "context": {
                    "roles": list(self.context.roles),
                    "topic": self.context.topic,
                    "after_legal_advice": self.context.after_legal_advice,
                },
                "quiz": self.quiz.to_dict() if self.quiz else None,
                "updated_at": self.updated_at,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, key: SessionKey, raw: str | bytes) -> Session:
        data = json.loads(raw)
        context = data.get("context") or {}
        quiz = data.get("quiz")
        return cls(
            key=key,
            context=ConversationContext(
                tuple(context.get("roles") or ()), context.get("topic"), bool(context.get("after_legal_advice"))
            ),
            quiz=QuizState.from_dict(quiz) if quiz else None,
            updated_at=float(data.get("updated_at", 0.0)),
        )


class SessionStoreError(RuntimeError):
    """The store cannot be reached or answered badly; the user gets a "try again" message."""


class SessionStore(Protocol):
    ttl_seconds: float

    async def load(self, key: SessionKey) -> Session: ...

    async def update(self, key: SessionKey, mutate: Callable[[Session], T]) -> T: ...

    async def forget_user(self, platform: str, user: str) -> int: ...

    async def purge_expired(self) -> int: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


def _fresh_or_expired(key: SessionKey, raw: str | bytes | None, ttl: float, now: float) -> Session:
    if raw is None:
        return Session(key)
    session = Session.from_json(key, raw)
    if now - session.updated_at > ttl:
        return Session(key)
    return session


class MemorySessionStore:
    """For tests and the console when persistence is not wanted."""

    def __init__(self, ttl_seconds: float = DEFAULT_TTL_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._data: dict[SessionKey, str] = {}
        self._lock = asyncio.Lock()

    async def load(self, key: SessionKey) -> Session:
        return _fresh_or_expired(key, self._data.get(key), self.ttl_seconds, self._clock())

    async def update(self, key: SessionKey, mutate: Callable[[Session], T]) -> T:
        async with self._lock:
            session = _fresh_or_expired(key, self._data.get(key), self.ttl_seconds, self._clock())
            result = mutate(session)
            session.updated_at = self._clock()
            self._data[key] = session.to_json()
            return result

    async def forget_user(self, platform: str, user: str) -> int:
        doomed = [k for k in self._data if k.platform == platform and k.user == user]
        for key in doomed:
            del self._data[key]
        return len(doomed)

    async def purge_expired(self) -> int:
        now = self._clock()
        doomed = [k for k, raw in self._data.items() if now - Session.from_json(k, raw).updated_at > self.ttl_seconds]
        for key in doomed:
            del self._data[key]
        return len(doomed)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class SQLiteSessionStore:
    """The default store: one file, survives restarts, safe for one process with many concurrent users."""

    def __init__(
        self, path: str | Path, ttl_seconds: float = DEFAULT_TTL_SECONDS, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = Path(path)
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # Forgotten and expired rows are overwritten on disk, not just unlinked (privacy: /career-forget).
        self._conn.execute("PRAGMA secure_delete=ON")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS sessions ("
            " platform TEXT NOT NULL, workspace TEXT NOT NULL, user TEXT NOT NULL,"
            " data TEXT NOT NULL, updated_at REAL NOT NULL,"
            " PRIMARY KEY (platform, workspace, user))"
        )
        self._conn.execute("CREATE INDEX IF NOT EXISTS sessions_updated ON sessions(updated_at)")
        self._lock = threading.Lock()

    async def _run(self, func: Callable[[], T]) -> T:
        def locked() -> T:
            with self._lock:
                try:
                    return func()
                except sqlite3.Error as exc:
                    raise SessionStoreError(f"session database error: {exc}") from exc

        return await asyncio.to_thread(locked)

    def _read(self, key: SessionKey) -> str | None:
        row = self._conn.execute(
            "SELECT data FROM sessions WHERE platform=? AND workspace=? AND user=?",
            (key.platform, key.workspace, key.user),
        ).fetchone()
        return row[0] if row else None

    async def load(self, key: SessionKey) -> Session:
        raw = await self._run(lambda: self._read(key))
        return _fresh_or_expired(key, raw, self.ttl_seconds, self._clock())

    async def update(self, key: SessionKey, mutate: Callable[[Session], T]) -> T:
        def transaction() -> T:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                session = _fresh_or_expired(key, self._read(key), self.ttl_seconds, self._clock())
                result = mutate(session)
                session.updated_at = self._clock()
                self._conn.execute(
                    "INSERT INTO sessions(platform, workspace, user, data, updated_at) VALUES (?,?,?,?,?)"
                    " ON CONFLICT(platform, workspace, user) DO UPDATE SET data=excluded.data,"
                    " updated_at=excluded.updated_at",
                    (key.platform, key.workspace, key.user, session.to_json(), session.updated_at),
                )
                self._conn.execute("COMMIT")
                return result
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

        return await self._run(transaction)

    async def forget_user(self, platform: str, user: str) -> int:
        return await self._run(
            lambda: self._conn.execute("DELETE FROM sessions WHERE platform=? AND user=?", (platform, user)).rowcount
        )

    async def purge_expired(self) -> int:
        cutoff = self._clock() - self.ttl_seconds
        return await self._run(
            lambda: self._conn.execute("DELETE FROM sessions WHERE updated_at < ?", (cutoff,)).rowcount
        )

    async def ping(self) -> bool:
        try:
            await self._run(lambda: self._conn.execute("SELECT 1").fetchone())
        except SessionStoreError:
            return False
        return True

    async def count(self) -> int:
        return await self._run(lambda: self._conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])

    async def close(self) -> None:
        await self._run(self._conn.close)
