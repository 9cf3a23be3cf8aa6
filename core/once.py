"""Remember which deliveries were already handled, so a platform's retry never produces a second answer.

Slack re-sends an event when our 2xx is late (X-Slack-Retry-Num); with several replicas the retry may land
on another process, which is why the Redis store offers the same interface across processes.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

DEFAULT_WINDOW_SECONDS = 3600.0


class DeliveryGuard(Protocol):
    async def first_time(self, delivery_id: str) -> bool:
        """True exactly once per id within the window; False for every repeat."""
        ...


class MemoryDeliveryGuard:
    """One process. Bounded: the oldest ids are dropped first, so a flood cannot grow memory."""

    def __init__(
        self,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        max_ids: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_seconds = window_seconds
        self.max_ids = max_ids
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = asyncio.Lock()

    async def first_time(self, delivery_id: str) -> bool:
        async with self._lock:
            now = self._clock()
            while self._seen:
                oldest_id, seen_at = next(iter(self._seen.items()))
                if now - seen_at <= self.window_seconds and len(self._seen) < self.max_ids:
                    break
                del self._seen[oldest_id]
            if delivery_id in self._seen:
                return False
            self._seen[delivery_id] = now
            return True
