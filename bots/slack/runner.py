"""Starting the Slack app: Socket Mode (default, no public URL needed) or HTTP mode (behind a load balancer).

The same ``build_slack_app`` serves both; only the transport in front of it differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_server import AsyncSlackAppServer
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from core.advisor import Advisor
from core.config import Settings
from core.health import ReadinessCheck
from core.once import DeliveryGuard

from .answers import count_from_environment
from .app import DEFAULT_MAX_BACKLOG, BackgroundWork, answer_after_response, build_slack_app
from .worker import API_URL_VARIABLE
from .workers import AnswerWorkers, WorkerStartError, workers_from_environment

log = logging.getLogger("advisor.slack")

EVENTS_PATH = "/slack/events"
"""Where Slack posts commands, events and interactivity in HTTP mode (the manifest's request URLs)."""
DRAIN_SECONDS = 10.0
"""On shutdown, how long answers already acknowledged may take to reach their users."""
MAX_BACKLOG_VARIABLE = "SLACK_MAX_BACKLOG"
"""Acknowledged requests that may wait for their answer before new ones are told "busy"; 0 turns the limit off."""


WORKERS_CHECK = "slack_answer_workers"
"""The ``/readyz`` check that every answer worker is running (not dead or being restarted)."""


class SlackConfigError(RuntimeError):
    pass


def configuration_problem(settings: Settings) -> str | None:
    """What is missing for the configured mode, in words an admin can act on; None when ready to start."""
    missing = ["SLACK_BOT_TOKEN"] if not settings.slack_bot_token else []
    if settings.slack_mode == "socket" and not settings.slack_app_token:
        missing.append("SLACK_APP_TOKEN (an xapp- app-level token with connections:write)")
    if settings.slack_mode == "http" and not settings.slack_signing_secret:
        missing.append("SLACK_SIGNING_SECRET")
    if not missing:
        return None
    return f"Slack {settings.slack_mode} mode needs {' and '.join(missing)}; see docs/slack.md."


def max_backlog_from_environment() -> int | None:
    """``SLACK_MAX_BACKLOG`` (default ``DEFAULT_MAX_BACKLOG``; 0 means no limit). Read here rather than in
    ``Settings`` because only the Slack adapter has a backlog."""
    try:
        return count_from_environment(MAX_BACKLOG_VARIABLE, DEFAULT_MAX_BACKLOG, "no limit") or None
    except ValueError as exc:
        raise SlackConfigError(str(exc)) from None


@web.middleware
async def _answer_after_response(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Write the ack, then let the request's answer work start (``answer_after_response`` in app.py).

    aiohttp would prepare and finish the returned response only after this returns; doing it here puts the
    ack's bytes on the socket before the answer's CPU work can take the event loop. Both calls are idempotent
    (``prepare`` returns at once on a prepared response, ``write_eof`` once EOF is sent), so aiohttp's own
    ``finish_response`` afterwards writes nothing twice. Work is released whatever happens: an error, or a
    client that hung up (aiohttp then drops the connection as it would have), must not lose acknowledged work.
    """
    with answer_after_response():  # leaving the block releases the work
        response = await handler(request)
        with contextlib.suppress(ConnectionError):
            await response.prepare(request)
            await response.write_eof()
        return response


@asynccontextmanager
async def http_server(app: AsyncApp, host: str, port: int, path: str = EVENTS_PATH) -> AsyncIterator[int]:
    """Serve ``app`` over HTTP until the block exits; yields the bound port (useful with ``port=0``)."""
    server = AsyncSlackAppServer(port=port, path=path, app=app, host=host)
    server.web_app.middlewares.append(_answer_after_response)
    runner = web.AppRunner(server.web_app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        yield bound
    finally:
        await runner.cleanup()


async def _check_bot_token(client: AsyncWebClient) -> None:
    # Fail at start with a clear message rather than on the first user's request.
    try:
        identity = await client.auth_test()
    except SlackApiError as exc:
        raise SlackConfigError(f"Slack rejected SLACK_BOT_TOKEN: {exc.response.get('error')}") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        # Slack unreachable for a moment is no reason not to start: Socket Mode reconnects by itself and bolt
        # checks the token again on the first request.
        log.warning("could not reach Slack to check the bot token (%s); starting anyway", type(exc).__name__)
        return
    log.info("Slack bot %s in workspace %s", identity.get("user_id"), identity.get("team_id"))


async def start_slack(
    advisor: Advisor,
    settings: Settings,
    guard: DeliveryGuard | None = None,
    *,
    client: AsyncWebClient | None = None,
    port: int | None = None,
    host: str = "0.0.0.0",
    readiness_checks: dict[str, ReadinessCheck] | None = None,
) -> None:
    """Run the Slack adapter until cancelled, then let acknowledged answers finish (up to ``DRAIN_SECONDS``).

    ``client`` replaces the Web API client (tests point it at a loopback fake); ``port``/``host`` apply to HTTP
    mode only. With answer workers, "are they all running" joins ``readiness_checks`` (``/readyz``) meanwhile.
    """
    problem = configuration_problem(settings)
    if problem:
        raise SlackConfigError(problem)
    max_backlog = max_backlog_from_environment()
    work = BackgroundWork(max_backlog=max_backlog)
    # One connection pool for every Web API call and response_url post, instead of one per call.
    async with aiohttp.ClientSession() as session:
        if client is None:
            client = AsyncWebClient(
                token=settings.slack_bot_token, session=session, base_url=os.environ.get(API_URL_VARIABLE) or None
            )
        workers = await _start_answer_workers(advisor, settings, client, max_backlog)
        app = build_slack_app(advisor, settings, client=client, guard=guard, work=work, answers=workers)
        forwarding = _forward_reloads(workers)
        if workers is not None and readiness_checks is not None:
            readiness_checks[WORKERS_CHECK] = workers.all_running
        try:
            await _check_bot_token(client)
            if settings.slack_mode == "socket":
                await _serve_socket_mode(app, settings, client)
            else:
                await _serve_http(app, host, settings.slack_port if port is None else port)
        finally:
            forwarding()
            if readiness_checks is not None:
                readiness_checks.pop(WORKERS_CHECK, None)
            answers = workers if workers is not None else work
            if not await answers.drain(DRAIN_SECONDS):
                log.warning("stopped with %d Slack answers still unsent", answers.pending)
            if workers is not None:
                await workers.close()


async def _start_answer_workers(
    advisor: Advisor, settings: Settings, client: AsyncWebClient, max_backlog: int | None
) -> AnswerWorkers | None:
    """The answer worker processes ``SLACK_ANSWER_WORKERS`` asks for, loaded and ready; None for none."""
    try:
        count = workers_from_environment()
    except WorkerStartError as exc:
        raise SlackConfigError(str(exc)) from None
    if count == 0:
        return None
    workers = AnswerWorkers(
        count,
        settings,
        max_backlog=max_backlog,
        observer=advisor.observer,
        # The workers talk to the same Web API as this process (a loopback fake in tests, GovSlack's own URL).
        environment={API_URL_VARIABLE: client.base_url},
    )
    try:
        await workers.start()
    except WorkerStartError as exc:
        raise SlackConfigError(str(exc)) from None
    log.info("answering Slack requests in %d worker process(es): %s", count, workers.pids)
    return workers


def _forward_reloads(workers: AnswerWorkers | None) -> Callable[[], None]:
    """While the adapter runs, a knowledge-base reload (SIGHUP) reaches the answer workers too."""
    if workers is None:
        return lambda: None
    from bots.launcher import also_on_reload

    return also_on_reload(lambda: workers.send_signal(signal.SIGHUP))


async def _serve_socket_mode(app: AsyncApp, settings: Settings, client: AsyncWebClient) -> None:
    handler = AsyncSocketModeHandler(app, app_token=settings.slack_app_token, web_client=client)
    try:
        await handler.connect_async()
        log.info("Slack adapter connected in Socket Mode")
        await asyncio.Event().wait()
    finally:
        await handler.close_async()


async def _serve_http(app: AsyncApp, host: str, port: int) -> None:
    async with http_server(app, host, port) as bound:
        log.info("Slack adapter listening on http://%s:%d%s", host, bound, EVENTS_PATH)
        await asyncio.Event().wait()


def run_slack(settings: Settings, port: int | None = None) -> int:
    """``advisor slack``: exit code 0 on a clean stop (SIGTERM), 2 when configuration is missing, 130 on Ctrl-C."""
    problem = configuration_problem(settings)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from bots.launcher import matches_here
    from core.runtime import build_advisor
    from core.store_factory import open_delivery_guard

    advisor = build_advisor(settings, semantic=matches_here(["slack"]))

    async def serve() -> None:
        task = asyncio.current_task()
        assert task is not None
        # Containers stop with SIGTERM: cancel like Ctrl-C, so acknowledged answers still go out.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # Windows; not the main thread
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            # With a Redis store, a retry that lands on another replica is still recognised.
            await start_slack(advisor, settings, open_delivery_guard(advisor.store), port=port)
        finally:
            await advisor.store.close()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        return 130
    except asyncio.CancelledError:
        log.info("Slack adapter stopped (SIGTERM)")
        return 0
    except SlackConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0
