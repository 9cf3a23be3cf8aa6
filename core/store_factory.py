"""Open the session store named by a URL (``SESSION_STORE``)."""

from __future__ import annotations

from .sessions import MemorySessionStore, SessionStore, SQLiteSessionStore


def open_session_store(url: str, ttl_seconds: float, redis_prefix: str = "advisor:") -> SessionStore:
    if url.startswith("sqlite:///"):
        return SQLiteSessionStore(url.removeprefix("sqlite:///"), ttl_seconds=ttl_seconds)
    if url.startswith("memory://"):
        return MemorySessionStore(ttl_seconds=ttl_seconds)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis_store import RedisSessionStore

        return RedisSessionStore(url, ttl_seconds=ttl_seconds, prefix=redis_prefix)
    raise SystemExit(
        f"Configuration error: SESSION_STORE must start with sqlite:///, memory:// or redis://, got {url!r}"
    )
