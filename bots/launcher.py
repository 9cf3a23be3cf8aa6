"""`advisor run`: start every configured adapter in one event loop around one shared Advisor.

SIGHUP reloads the knowledge base without a restart; a broken new version is rejected with the
`kb check` report and the old one keeps serving. `advisor reload` validates the knowledge base and then
sends SIGHUP to every running `advisor run` of the same user on this machine (or container).

Around the adapters the launcher also runs: Prometheus metrics (via the Advisor's observer hook), the
health/metrics HTTP server on HEALTH_PORT, the retention purge, and the shared retry de-duplicator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.advisor import Advisor
from core.config import Settings
from core.health import HealthServer, ReadinessCheck, start_health_server
from core.kb_loader import KnowledgeBaseError, load_knowledge_base
from core.metrics import Metrics
from core.once import DeliveryGuard
from core.runtime import build_advisor, housekeeping
from core.store_factory import open_delivery_guard

log = logging.getLogger("advisor.launcher")


def reload_knowledge(
    advisor: Advisor, settings: Settings, on_done: Callable[[bool, int | None], None] | None = None
) -> bool:
    """Load the knowledge base again; keep serving the old one if the new one does not validate."""
    try:
        kb = load_knowledge_base(settings.knowledge_dir)
    except KnowledgeBaseError as exc:
        log.error("knowledge base reload rejected; still serving the previous version:\n%s", exc.report())
        if on_done is not None:
            on_done(False, None)
        return False
    except OSError as exc:
        # The directory may be mid-copy or on an unmounted volume: same rule, the old version keeps serving.
        log.error("knowledge base reload failed (%s); still serving the previous version", exc)
        if on_done is not None:
            on_done(False, None)
        return False
    advisor.reload(kb)
    log.info("knowledge base reloaded (%d entries, fingerprint %s)", len(kb.entries), kb.fingerprint)
    if on_done is not None:
        on_done(True, len(kb.entries))
    return True


_reloads_in_flight: set[asyncio.Task[bool]] = set()
_also_on_reload: list[Callable[[], None]] = []


def also_on_reload(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` on every SIGHUP as well (the Slack adapter passes it on to its answer workers);
    returns the function that stops that."""
    _also_on_reload.append(callback)
    return lambda: _also_on_reload.remove(callback) if callback in _also_on_reload else None


def install_reload_signal(
    advisor: Advisor, settings: Settings, on_done: Callable[[bool, int | None], None] | None = None
) -> bool:
    """Reload on SIGHUP. Returns False where signals cannot be handled by the loop (Windows)."""
    loop = asyncio.get_running_loop()

    def on_sighup() -> None:
        for callback in list(_also_on_reload):
            try:
                callback()
            except Exception:
                log.exception("passing the reload on failed")
        # Parsing YAML and building the matcher takes a moment; do it off the event loop so users are not
        # kept waiting. The set keeps a reference so the task is not garbage-collected mid-reload.
        task = loop.create_task(asyncio.to_thread(reload_knowledge, advisor, settings, on_done))
        _reloads_in_flight.add(task)
        task.add_done_callback(_reloads_in_flight.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, on_sighup)
    except (NotImplementedError, AttributeError, RuntimeError):
        return False
    return True


# -- finding running processes for `advisor reload` --------------------------------------------------------


def _run_dir() -> Path:
    # Per user and per machine/container: `docker compose exec slack advisor reload` reaches that container's
    # process only; `docker compose kill -s HUP slack` reaches every replica (docs/deploy.md).
    return Path(tempfile.gettempdir()) / f"legal-careers-advisor-{os.getuid()}"


def _start_time(pid: int) -> str:
    """The process start time from /proc, so a recycled pid is never mistaken for our process ("" elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def register_process() -> Path:
    directory = _run_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{os.getpid()}.pid"
    path.write_text(f"{os.getpid()} {_start_time(os.getpid())}\n")
    return path


def running_processes() -> list[int]:
    """Pids of live `advisor run` processes registered by this user; stale records are removed."""
    directory = _run_dir()
    found = []
    for record in sorted(directory.glob("*.pid")) if directory.is_dir() else []:
        try:
            pid_text, _, started = record.read_text().strip().partition(" ")
            pid = int(pid_text)
            os.kill(pid, 0)
            alive = _start_time(pid) == started
        except (OSError, ValueError):
            alive = False
        if alive:
            found.append(pid)
        else:
            record.unlink(missing_ok=True)
    return found


def request_reload(pids: list[int] | None = None) -> list[int]:
    """Send SIGHUP to ``pids`` (default: every registered running process); returns those signalled."""
    signalled = []
    for pid in pids if pids is not None else running_processes():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGHUP)
            signalled.append(pid)
    return signalled


# -- the running process -----------------------------------------------------------------------------------


@dataclass
class Services:
    advisor: Advisor
    metrics: Metrics
    guard: DeliveryGuard
    health: HealthServer | None
    checks: dict[str, ReadinessCheck]
    """Extra readiness checks for ``/readyz``; adapters add theirs while they run (read at every request)."""


@contextlib.asynccontextmanager
async def services(
    settings: Settings, advisor: Advisor | None = None, semantic: bool = True
) -> AsyncIterator[Services]:
    """Everything an adapter process needs besides the adapters; torn down in reverse order on exit."""
    metrics = Metrics()
    if advisor is None:
        advisor = build_advisor(settings, observer=metrics.observe, semantic=semantic)
    metrics.knowledge_served(len(advisor.kb.entries))
    install_reload_signal(advisor, settings, on_done=metrics.knowledge_reloaded)
    pid_record = register_process()
    purge = asyncio.create_task(housekeeping(advisor), name="retention purge")
    health = None
    checks: dict[str, ReadinessCheck] = {}
    try:
        if settings.health_port:
            health = await start_health_server(advisor, settings.health_port, metrics=metrics, checks=checks)
        yield Services(advisor, metrics, open_delivery_guard(advisor.store), health, checks)
    finally:
        purge.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purge
        if health is not None:
            await health.close()
        pid_record.unlink(missing_ok=True)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        await advisor.store.close()


async def serve(settings: Settings, runners: list[str]) -> None:
    # `docker stop` sends SIGTERM: stop like Ctrl-C (adapters drain acknowledged answers, the store closes)
    # instead of dying mid-answer, which is Python's default for SIGTERM.
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    terminated = False

    def on_sigterm() -> None:
        nonlocal terminated
        terminated = True
        if main is not None:
            main.cancel()

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        await _serve(settings, runners)
    except asyncio.CancelledError:
        if not terminated:
            raise
        log.info("stopped (SIGTERM)")


def matches_here(runners: list[str]) -> bool:
    """False when this process will match no question itself: only the Slack adapter runs and its answer
    workers do all the matching, so the embedding model (about 190 MiB) need not be loaded here."""
    if sorted(set(runners)) != ["slack"]:
        return True
    from bots.slack.workers import WorkerStartError, workers_from_environment

    try:
        return workers_from_environment() == 0
    except WorkerStartError:
        return True  # start_slack reports the mistake


async def _serve(settings: Settings, runners: list[str]) -> None:
    async with services(settings, semantic=matches_here(runners)) as running:
        advisor = running.advisor
        tasks: list[Coroutine[Any, Any, None]] = []
        if "slack" in runners:
            from bots.slack.runner import start_slack

            # With Redis, a Slack retry that lands on another replica is still recognised as a repeat.
            tasks.append(start_slack(advisor, settings, running.guard, readiness_checks=running.checks))
        if "discord" in runners:
            from bots.discord.runner import start_discord

            tasks.append(start_discord(advisor, settings))
        log.info("starting adapters: %s", ", ".join(runners))
        await asyncio.gather(*tasks)


def run_adapters(settings: Settings, runners: list[str]) -> int:
    try:
        asyncio.run(serve(settings, runners))
    except KeyboardInterrupt:
        return 130
    return 0
