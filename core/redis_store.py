"""Sessions and delivery records in Redis, so several processes (Slack replicas, Discord shards) share state.

Layout (``P`` is the configurable prefix, ids are percent-encoded so a ``:`` in an id cannot forge a key):

- ``P s:{platform:user}:workspace`` — one session (JSON, the same document SQLite stores), with a TTL.
- ``P u:{platform:user}`` — the set of that user's session keys, so forget never has to scan the keyspace.
- ``P once:<delivery id>`` — "already handled" marker for platform retries, with a short TTL.

The ``{platform:user}`` hash tag keeps a user's keys in one cluster slot, so the Lua scripts below stay valid
if the deployment ever moves to Redis Cluster or a proxy that checks slots.

Every write sets a TTL, so nothing outlives the retention period even if ``purge_expired`` never runs.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from .once import DEFAULT_WINDOW_SECONDS
from .sessions import DEFAULT_TTL_SECONDS, Session, SessionKey, SessionStoreError, _fresh_or_expired

log = logging.getLogger("advisor.redis")

T = TypeVar("T")

# Compare-and-set: write only if the session still holds what this process read. The mutation runs in
# Python (it needs the quiz engine), so a Lua script is the way to make "check, write, index, expire" one
# atomic step without holding a connection (as WATCH would) while the mutation runs.
_CAS_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if current == false then current = '' end
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], KEYS[1])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
"""

# Atomic, so a session written by another replica between "list" and "delete" cannot survive a forget.
_FORGET_SCRIPT = """
local members = redis.call('SMEMBERS', KEYS[1])
local removed = 0
for _, key in ipairs(members) do removed = removed + redis.call('DEL', key) end
redis.call('DEL', KEYS[1])
return removed
"""

_REDIS_FAILURES = (RedisError, OSError, asyncio.TimeoutError)


def _part(value: str) -> str:
    return quote(value, safe="")


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


POOL_WAIT_SECONDS = 15.0
"""How long a request may queue for a pooled connection. Under overload a connection stays checked out while
its task waits for the busy event loop, so a short wait here turns "slow" into "error" for users; a dead Redis
still fails fast (connecting is refused at once and bounded by the connect timeout)."""


def connect(url: str, max_connections: int = 128, timeout: float = 2.0) -> Redis:
    """A client whose every call is bounded in time: a dead Redis fails fast instead of hanging a user."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        # A burst queues for a connection (bounded) rather than opening ever more sockets to Redis.
        timeout=POOL_WAIT_SECONDS,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # Two quick retries ride out a Redis restart or a dropped pooled connection without bothering users.
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=2),
        health_check_interval=30,
    )
    return Redis(connection_pool=pool)


class RedisSessionStore:
    """``SessionStore`` over Redis. Safe for many processes: updates are compare-and-set with retries."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        prefix: str = "advisor:",
        clock: Callable[[], float] = time.time,
        client: Redis | None = None,
        max_attempts: int = 100,
        timeout: float = 2.0,
    ) -> None:
        self.url = url
        self.ttl_seconds = ttl_seconds
        self.prefix = prefix
        self.max_attempts = max_attempts
        self.timeout = timeout
        self._clock = clock
        self._owns_client = client is None
        self._client: Redis = client if client is not None else connect(url, timeout=timeout)
        self._cas = self._client.register_script(_CAS_SCRIPT)
        self._forget = self._client.register_script(_FORGET_SCRIPT)
        self._closed = False

    @property
    def client(self) -> Redis:
        return self._client

    # -- keys --------------------------------------------------------------------------------------------

    def session_key(self, key: SessionKey) -> str:
        return f"{self.prefix}s:{{{_part(key.platform)}:{_part(key.user)}}}:{_part(key.workspace)}"

    def user_index_key(self, platform: str, user: str) -> str:
        return f"{self.prefix}u:{{{_part(platform)}:{_part(user)}}}"

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl_seconds * 1000))

    async def _call(self, operation: Awaitable[T]) -> T:
        try:
            return await operation
        except _REDIS_FAILURES as exc:
            raise SessionStoreError(f"session store (redis) error: {type(exc).__name__}: {exc}") from exc

    # -- SessionStore ------------------------------------------------------------------------------------

    async def load(self, key: SessionKey) -> Session:
        raw = await self._call(self._client.get(self.session_key(key)))
        return _fresh_or_expired(key, raw, self.ttl_seconds, self._clock())

    async def update(self, key: SessionKey, mutate: Callable[[Session], T]) -> T:
        skey, ikey = self.session_key(key), self.user_index_key(key.platform, key.user)
        for attempt in range(self.max_attempts):
            raw: bytes | None = await self._call(self._client.get(skey))
            session = _fresh_or_expired(key, raw, self.ttl_seconds, self._clock())
            # The mutation may run more than once under contention; Advisor's mutations only touch the
            # session they are given, so re-running them on fresher state is exactly what we want.
            result = mutate(session)
            session.updated_at = self._clock()
            written = await self._call(self._cas(keys=[skey, ikey], args=[raw or b"", session.to_json(), self._ttl_ms]))
            if written:
                return result
            # Another writer got there first. Jittered back-off spreads a burst of clicks out; at least one
            # contender wins each round, so ``max_attempts`` bounds the loop well above any real burst.
            await asyncio.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
        raise SessionStoreError(f"session update gave up after {self.max_attempts} conflicting attempts")

    async def forget_user(self, platform: str, user: str) -> int:
        removed = await self._call(self._forget(keys=[self.user_index_key(platform, user)]))
        return int(removed)

    async def purge_expired(self) -> int:
        """Redis drops keys at their TTL; this also catches sessions written under a longer retention period
        (RETENTION_DAYS lowered since), so lowering retention takes effect at once."""
        cutoff = self._clock() - self.ttl_seconds
        removed = 0
        pattern = _glob_escape(self.prefix) + "s:*"
        batch: list[bytes] = []

        async def flush() -> int:
            values = await self._client.mget(batch)
            doomed = []
            for name, raw in zip(batch, values, strict=True):
                if raw is None:
                    continue
                try:
                    updated_at = float(Session.from_json(SessionKey("", "", ""), raw).updated_at)
                except (ValueError, KeyError, TypeError):
                    updated_at = 0.0  # unreadable: nobody can resume it, so it only holds ids
                if updated_at < cutoff:
                    doomed.append(name)
            return int(await self._client.delete(*doomed)) if doomed else 0

        async def scan_all() -> int:
            nonlocal batch
            count = 0
            async for name in self._client.scan_iter(match=pattern, count=500):
                batch.append(name)
                if len(batch) >= 500:
                    count += await flush()
                    batch = []
            if batch:
                count += await flush()
            return count

        removed = await self._call(scan_all())
        return removed

    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self._client.ping(), timeout=self.timeout + 1))
        except _REDIS_FAILURES:
            return False

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            try:
                await self._client.aclose(close_connection_pool=True)
            except _REDIS_FAILURES:
                log.debug("ignoring an error while closing the redis client", exc_info=True)

    # -- shared with the adapters ------------------------------------------------------------------------

    def delivery_guard(self, window_seconds: float = DEFAULT_WINDOW_SECONDS) -> RedisDeliveryGuard:
        """A retry de-duplicator on the same connection pool, shared by every replica using this Redis."""
        return RedisDeliveryGuard(self._client, prefix=self.prefix, window_seconds=window_seconds)

    async def keys_for_user(self, platform: str, user: str) -> list[str]:
        """Session keys listed in the user's index (for ``advisor forget`` reports and tests)."""
        members: Any = await self._call(self._client.smembers(self.user_index_key(platform, user)))
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)


class RedisDeliveryGuard:
    """``core.once.DeliveryGuard`` across processes: SET NX with an expiry, one round trip per delivery."""

    def __init__(self, client: Redis, prefix: str = "advisor:", window_seconds: float = DEFAULT_WINDOW_SECONDS) -> None:
        self._client = client
        self.prefix = prefix
        self.window_seconds = window_seconds

    def key(self, delivery_id: str) -> str:
        # Ids are platform event ids (no personal data); bounded length keeps a hostile id from bloating Redis.
        return f"{self.prefix}once:{_part(delivery_id[:200])}"

    async def first_time(self, delivery_id: str) -> bool:
        try:
            created = await self._client.set(
                self.key(delivery_id), b"1", nx=True, px=max(1, int(self.window_seconds * 1000))
            )
        except _REDIS_FAILURES as exc:
            # Fail open: if Redis is down, answering a retry twice is better than never answering at all.
            log.warning("delivery guard unavailable (%s); handling delivery %s anyway", exc, delivery_id[:40])
            return True
        return bool(created)
