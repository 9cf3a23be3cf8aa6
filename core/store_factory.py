"""Open the session store named by a URL (``SESSION_STORE``)."""

from __future__ import annotations

from .once import DEFAULT_WINDOW_SECONDS, DeliveryGuard, MemoryDeliveryGuard
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


def open_delivery_guard(store: SessionStore, window_seconds: float = DEFAULT_WINDOW_SECONDS) -> DeliveryGuard:
    """Retry de-duplication that spans every process sharing ``store``: with Redis a retry landing on
    another replica is still recognised; SQLite and memory stores mean one process, so memory suffices."""
    from .redis_store import RedisSessionStore

    if isinstance(store, RedisSessionStore):
        return store.delivery_guard(window_seconds)
    return MemoryDeliveryGuard(window_seconds)
