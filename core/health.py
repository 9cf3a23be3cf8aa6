"""Health and metrics over HTTP, for container healthchecks, load balancers and Prometheus.

- ``GET /healthz`` — liveness: the process and its event loop respond (restart the container if not).
- ``GET /readyz``  — readiness: 200 only when a knowledge base is loaded and the session store answers
  (and any extra check, e.g. "the Discord gateway is connected"); 503 with the reason otherwise, so a
  load balancer stops sending users to a replica that can only apologise.
- ``GET /metrics`` — Prometheus text format.

``health_routes`` lets an existing aiohttp app (the Slack HTTP server) mount the same endpoints;
``start_health_server`` runs them on their own port (``HEALTH_PORT``) for processes without one.
Nothing here reveals user data: the answers hold counts, a knowledge-base fingerprint and booleans.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from .advisor import Advisor
from .metrics import CONTENT_TYPE, Metrics

log = logging.getLogger("advisor.health")

ReadinessCheck = Callable[[], Awaitable[bool] | bool]
CHECK_TIMEOUT = 2.0
"""A check slower than this counts as failed: a healthcheck must answer before the orchestrator's timeout."""


async def _run_check(check: ReadinessCheck) -> bool:
    try:
        outcome = check()
        if inspect.isawaitable(outcome):
            outcome = await asyncio.wait_for(outcome, timeout=CHECK_TIMEOUT)
        return bool(outcome)
    except Exception:
        log.warning("readiness check failed", exc_info=True)
        return False


async def readiness(
    advisor: Advisor, metrics: Metrics | None = None, checks: Mapping[str, ReadinessCheck] | None = None
) -> tuple[bool, dict[str, object]]:
    kb = advisor.kb
    knowledge_ok = len(kb.entries) > 0
    store_ok = await _run_check(advisor.store.ping)
    if metrics is not None:
        metrics.store_up.set(1 if store_ok else 0)
        metrics.knowledge_served(len(kb.entries))
    extra = {name: await _run_check(check) for name, check in (checks or {}).items()}
    ready = knowledge_ok and store_ok and all(extra.values())
    body: dict[str, object] = {
        "ready": ready,
        "knowledge": {"loaded": knowledge_ok, "entries": len(kb.entries), "fingerprint": kb.fingerprint},
        "store": store_ok,
        **({"checks": extra} if extra else {}),
    }
    return ready, body


def health_routes(
    advisor: Advisor, metrics: Metrics | None = None, checks: Mapping[str, ReadinessCheck] | None = None
) -> list[web.RouteDef]:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    async def readyz(_: web.Request) -> web.Response:
        ready, body = await readiness(advisor, metrics, checks)
        return web.json_response(body, status=200 if ready else 503)

    async def metrics_endpoint(_: web.Request) -> web.Response:
        if metrics is None:
            raise web.HTTPNotFound(text="metrics are not enabled in this process")
        # Refresh the gauges so a scrape sees the store's state even if no healthcheck ran recently.
        await readiness(advisor, metrics, None)
        response = web.Response(body=metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    return [web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics_endpoint)]


@dataclass
class HealthServer:
    runner: web.AppRunner
    host: str
    port: int
    """The bound port (useful when started with port 0)."""

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_health_server(
    advisor: Advisor,
    port: int,
    host: str = "0.0.0.0",
    metrics: Metrics | None = None,
    checks: Mapping[str, ReadinessCheck] | None = None,
) -> HealthServer:
    app = web.Application()
    app.add_routes(health_routes(advisor, metrics, checks))
    # No access log: healthchecks every few seconds would drown the useful lines.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = int(runner.addresses[0][1])
    log.info("health and metrics on http://%s:%d (/healthz, /readyz, /metrics)", host, bound)
    return HealthServer(runner, host, bound)
