"""Stand-ins for a session database that misbehaves: the external dependency, never our own code."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from core.sessions import MemorySessionStore, Session, SessionKey

T = TypeVar("T")


class FlakySessionStore(MemorySessionStore):
    """Breaks on its next ``failures`` calls, like Redis mid-restart or a dropped connection."""

    def __init__(self, failures: int = 1, message: str = "connection reset by peer") -> None:
        super().__init__()
        self.failures = failures
        self.message = message

    def _maybe_fail(self) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError(self.message)

    async def load(self, key: SessionKey) -> Session:
        self._maybe_fail()
        return await super().load(key)

    async def update(self, key: SessionKey, mutate: Callable[[Session], T]) -> T:
        self._maybe_fail()
        return await super().update(key, mutate)


class SlowSessionStore(MemorySessionStore):
    """Answers, but every read (and write, if asked) takes ``delay`` seconds (a busy Redis, a locked SQLite file)."""

    def __init__(self, delay: float, slow_updates: bool = False) -> None:
        super().__init__()
        self.delay = delay
        self.slow_updates = slow_updates

    async def load(self, key: SessionKey) -> Session:
        await asyncio.sleep(self.delay)
        return await super().load(key)

    async def update(self, key: SessionKey, mutate: Callable[[Session], T]) -> T:
        if self.slow_updates:
            await asyncio.sleep(self.delay)
        return await super().update(key, mutate)
