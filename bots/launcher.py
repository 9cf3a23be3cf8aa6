"""`advisor run`: start every configured adapter in one event loop around one shared Advisor.

SIGHUP reloads the knowledge base without a restart; a broken new version is rejected with the
`kb check` report and the old one keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from typing import Any

from core.advisor import Advisor
from core.config import Settings
from core.kb_loader import KnowledgeBaseError, load_knowledge_base
from core.runtime import build_advisor

log = logging.getLogger("advisor.launcher")


def reload_knowledge(advisor: Advisor, settings: Settings) -> bool:
    """Load the knowledge base again; keep serving the old one if the new one does not validate."""
    try:
        kb = load_knowledge_base(settings.knowledge_dir)
    except KnowledgeBaseError as exc:
        log.error("knowledge base reload rejected; still serving the previous version:\n%s", exc.report())
        return False
    advisor.reload(kb)
    log.info("knowledge base reloaded (%d entries, fingerprint %s)", len(kb.entries), kb.fingerprint)
    return True


def install_reload_signal(advisor: Advisor, settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, AttributeError):
        # Parsing YAML takes a moment; do it off the event loop so users are not kept waiting.
        loop.add_signal_handler(
            signal.SIGHUP, lambda: loop.create_task(asyncio.to_thread(reload_knowledge, advisor, settings))
        )


async def serve(settings: Settings, runners: list[str]) -> None:
    advisor = build_advisor(settings)
    install_reload_signal(advisor, settings)
    tasks: list[Coroutine[Any, Any, None]] = []
    if "slack" in runners:
        from bots.slack.runner import start_slack

        tasks.append(start_slack(advisor, settings))
    if "discord" in runners:
        from bots.discord.runner import start_discord

        tasks.append(start_discord(advisor, settings))
    log.info("starting adapters: %s", ", ".join(runners))
    try:
        await asyncio.gather(*tasks)
    finally:
        await advisor.store.close()


def run_adapters(settings: Settings, runners: list[str]) -> int:
    try:
        asyncio.run(serve(settings, runners))
    except KeyboardInterrupt:
        return 130
    return 0
