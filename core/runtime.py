"""Assemble a ready ``Advisor`` from settings: knowledge base, session store, misses log."""

from __future__ import annotations

import logging
from pathlib import Path

from .advisor import Advisor
from .config import Settings
from .kb_loader import load_knowledge_base
from .misses import MissLog
from .rate_limit import RateLimiter
from .sessions import SessionStore
from .store_factory import open_session_store


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def build_advisor(settings: Settings, store: SessionStore | None = None, log_misses: bool = True) -> Advisor:
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
    return Advisor(kb, store, misses, rate_limiter=limiter)
