"""Per-user rate limiting for ``Advisor.handle``: a flood from one user gets a polite "slow down", nobody else notices.

A token bucket per (platform, workspace, user) and per kind of request. Typed questions and commands share one
bucket; button clicks have their own, larger one, because a student racing through the quiz clicks faster than
anyone types. Buckets live in this process only: with several replicas each one limits on its own, which still
stops a single client hammering one replica and keeps the hot path free of a network round trip.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

LOCAL_PLATFORMS: frozenset[str] = frozenset({"console", "cli"})
"""The terminal user is the operator on their own machine; throttling them protects nothing."""


class RequestKind(StrEnum):
    MESSAGE = "message"
    """A typed question or a slash command."""
    CLICK = "click"
    """A button click."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0
    """Seconds until the next request of this kind would be allowed (0 when allowed)."""


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by user.

    ``per_minute`` is the sustained rate for messages; ``burst`` is how many may arrive at once after a quiet spell.
    Clicks get ``click_factor`` times both. Memory is bounded: buckets that have refilled completely are
    indistinguishable from new ones and are dropped, and beyond ``max_users`` the least recently seen go first.
    """

    def __init__(
        self,
        per_minute: int = 30,
        burst: int | None = None,
        click_factor: float = 3.0,
        max_users: int = 100_000,
        exempt_platforms: Iterable[str] = LOCAL_PLATFORMS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive; pass no limiter at all to disable rate limiting")
        self.per_minute = per_minute
        # A third of a minute's allowance at once: enough for a quick follow-up or two, not enough for a script.
        self.burst = max(1, burst if burst is not None else per_minute // 3)
        self.click_factor = click_factor
        self.max_users = max_users
        self.exempt_platforms = frozenset(exempt_platforms)
        self._clock = clock
        self._buckets: OrderedDict[tuple[str, str, str, RequestKind], _Bucket] = OrderedDict()
        # Adapters may call from threads (Slack's listener pool) as well as from the event loop.
        self._lock = threading.Lock()
        self._last_sweep = clock()

    def _shape(self, kind: RequestKind) -> tuple[float, float]:
        """(capacity, tokens per second) for a kind of request."""
        factor = self.click_factor if kind is RequestKind.CLICK else 1.0
        return self.burst * factor, self.per_minute * factor / 60.0

    def check(self, platform: str, workspace: str, user: str, kind: RequestKind = RequestKind.MESSAGE) -> Decision:
        """Take one token from the user's bucket if there is one; never blocks."""
        if platform in self.exempt_platforms:
            return Decision(True)
        capacity, rate = self._shape(kind)
        key = (platform, workspace, user, kind)
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = _Bucket(capacity, now)
                self._buckets[key] = bucket
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(capacity, bucket.tokens + elapsed * rate)
                bucket.updated = now
                self._buckets.move_to_end(key)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                decision = Decision(True)
            else:
                decision = Decision(False, (1.0 - bucket.tokens) / rate)
            self._sweep(now)
            return decision

    def _sweep(self, now: float) -> None:
        # Amortised: a full pass at most once per refill period, plus LRU eviction when over the cap.
        _, slowest_rate = self._shape(RequestKind.MESSAGE)
        refill_seconds = self.burst / slowest_rate
        if now - self._last_sweep >= refill_seconds:
            self._last_sweep = now
            for key in [k for k, b in self._buckets.items() if self._full_at(k[3], b, now)]:
                del self._buckets[key]
        while len(self._buckets) > self.max_users:
            self._buckets.popitem(last=False)

    def _full_at(self, kind: RequestKind, bucket: _Bucket, now: float) -> bool:
        capacity, rate = self._shape(kind)
        return bucket.tokens + (now - bucket.updated) * rate >= capacity

    def __len__(self) -> int:
        return len(self._buckets)
