"""Assemble a ready ``Advisor`` from settings: knowledge base, session store, misses log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from .advisor import Advisor
from .config import Settings
from .kb_loader import load_knowledge_base
from .misses import MissLog
from .rate_limit import RateLimiter
from .reply import Reply, Request
from .sessions import SessionStore, SessionStoreError
from .store_factory import open_session_store


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


log = logging.getLogger("advisor.runtime")

HOUSEKEEPING_INTERVAL_SECONDS = 3600.0


def build_advisor(
    settings: Settings,
    store: SessionStore | None = None,
    log_misses: bool = True,
    observer: Callable[[Request, Reply, float], None] | None = None,
    semantic: bool = True,
) -> Advisor:
    """Raises ``KnowledgeBaseError`` (with the ``kb check`` report) when the knowledge base is broken."""
    kb = load_knowledge_base(settings.knowledge_dir)
    if store is None:
        store = open_session_store(settings.session_store_url, settings.session_ttl_seconds, settings.redis_prefix)
    misses = None
    if log_misses:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        misses = MissLog(settings.misses_path, retention_seconds=settings.session_ttl_seconds)
    # RATE_LIMIT_PER_MINUTE=0 turns rate limiting off.
    limiter = RateLimiter(settings.rate_limit_per_minute) if settings.rate_limit_per_minute > 0 else None
    return Advisor(kb, store, misses, observer=observer, rate_limiter=limiter, semantic=semantic)


async def purge_expired(advisor: Advisor) -> tuple[int, int]:
    """Delete sessions and misses-log rows (with their user ids) older than the retention period."""
    sessions = await advisor.store.purge_expired()
    misses = await asyncio.to_thread(advisor.misses.purge_expired) if advisor.misses is not None else 0
    return sessions, misses


async def housekeeping(advisor: Advisor, interval_seconds: float = HOUSEKEEPING_INTERVAL_SECONDS) -> None:
    """Enforce retention while the bot runs (the misses log is otherwise only purged when staff read it).

    Runs until cancelled; a store outage only delays the next purge, it never stops the loop.
    """
    while True:
        try:
            sessions, misses = await purge_expired(advisor)
            if sessions or misses:
                log.info("retention: deleted %d expired session(s) and %d misses-log row(s)", sessions, misses)
        except SessionStoreError as exc:
            log.warning("retention purge postponed, session store unavailable: %s", exc)
        except Exception:
            log.exception("retention purge failed")
        await asyncio.sleep(interval_seconds)
