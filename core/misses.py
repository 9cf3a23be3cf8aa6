"""A log of questions the advisor could not answer, so career staff can add entries or phrasings.

Privacy: only the platform user id is kept beside the question, and rows older than the retention period
are deleted. Requests for legal advice are never logged (they may describe someone's private situation).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_RETENTION_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class MissCount:
    question: str
    count: int
    last_seen: float
    best_guess: str | None


class MissLog:
    def __init__(
        self,
        path: str | Path,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.retention_seconds = retention_seconds
        self._clock = clock
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # Forgotten and expired rows are overwritten on disk, not just unlinked (privacy: /career-forget).
        self._conn.execute("PRAGMA secure_delete=ON")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS misses (at REAL NOT NULL, platform TEXT NOT NULL, user TEXT NOT NULL,"
            " question TEXT NOT NULL, confidence REAL NOT NULL, best_guess TEXT)"
        )
        self._lock = threading.Lock()

    def record(self, platform: str, user: str, question: str, confidence: float, best_guess: str | None) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO misses VALUES (?,?,?,?,?,?)",
                (self._clock(), platform, user, question[:300], confidence, best_guess),
            )

    def report(self, limit: int = 50) -> list[MissCount]:
        self.purge_expired()
        with self._lock:
            rows = self._conn.execute(
                "SELECT question, COUNT(*) AS n, MAX(at), MAX(best_guess) FROM misses GROUP BY question"
                " ORDER BY n DESC, MAX(at) DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [MissCount(q, n, at, guess) for q, n, at, guess in rows]

    def forget_user(self, platform: str, user: str) -> int:
        with self._lock:
            return self._conn.execute("DELETE FROM misses WHERE platform=? AND user=?", (platform, user)).rowcount

    def purge_expired(self) -> int:
        with self._lock:
            cutoff = self._clock() - self.retention_seconds
            return self._conn.execute("DELETE FROM misses WHERE at < ?", (cutoff,)).rowcount

    def user_rows(self, platform: str, user: str) -> int:
        with self._lock:
            return self._conn.execute(
                "SELECT COUNT(*) FROM misses WHERE platform=? AND user=?", (platform, user)
            ).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
