"""An answer worker process (``python -m bots.slack.worker``), started and fed by ``AnswerWorkers`` (workers.py).

Why a process: working out an answer takes a few milliseconds of CPU (matching, the embedding model,
rendering), and in the process that acknowledges Slack's requests that time holds up every ack behind it. Here
it runs on another CPU, at idle priority, so acks stay as fast as a bare app's.

The protocol is one line of JSON per message. In on stdin: the settings first, then ``{"id": n, "job": …}``
(an ``AnswerJob``). Out on stdout: ``{"ready": pid}`` once the knowledge base and model are loaded, then
``{"done": n}`` per finished job and ``{"observed": …}`` per request answered (for the Slack process's
metrics). The worker answers with the same ``SlackAdapter`` as in-process answering, and ends when stdin
closes, after finishing the answers it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from typing import IO, Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from core.config import Settings
from core.once import MemoryDeliveryGuard
from core.reply import Reply, Request
from core.runtime import build_advisor, configure_logging, housekeeping

from .answers import AnswerJob, encode_line
from .app import BackgroundWork, SlackAdapter, enable_rate_limit_retries

log = logging.getLogger("advisor.slack.worker")

MAX_LINE_BYTES = 16 * 1024 * 1024
"""Longest job line accepted; Slack payloads are a few KB, bolt's HTTP server accepts bodies up to 1 MiB."""
DRAIN_SECONDS = 10.0
"""After stdin closes (or on SIGTERM), how long answers in hand may take to be delivered."""
NICENESS = 10
"""Where ``SCHED_IDLE`` is not available, how much lower than the Slack process this process runs."""


def observation(request: Request, reply: Reply, seconds: float) -> dict[str, Any]:
    """What the Slack process's observer (``Metrics.observe``) needs of one answered request; no user text."""
    meta = {k: v for k, v in reply.meta.items() if isinstance(v, str | int | float | bool) or v is None}
    return {
        "platform": request.platform,
        "workspace": request.workspace,
        "user": request.user,
        "command": request.command.value if request.command else None,
        "button": bool(request.action),
        "kind": reply.kind.value,
        "replace_previous": reply.replace_previous,
        "meta": meta,
        "seconds": seconds,
    }


class _Reports:
    """Lines to the Slack process, on a private copy of stdout (fd 1 itself is pointed at stderr, so a stray
    print from any library cannot corrupt the protocol)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def send(self, message: dict[str, Any]) -> None:
        try:
            self._stream.write(encode_line(message))
            self._stream.flush()
        except (BrokenPipeError, ValueError):
            pass  # the Slack process is gone; stdin's end will stop this process


async def serve(settings: Settings, reports: _Reports, reader: asyncio.StreamReader) -> None:
    advisor = build_advisor(settings, observer=lambda q, r, s: reports.send({"observed": observation(q, r, s)}))
    from bots.launcher import install_reload_signal

    install_reload_signal(advisor, settings)
    # The Slack process decides; the per-user limits and backlog are checked there before a job is sent.
    work = BackgroundWork(max_backlog=None)
    purge = asyncio.create_task(housekeeping(advisor), name="retention purge")
    api_url = os.environ.get(API_URL_VARIABLE) or AsyncWebClient.BASE_URL
    try:
        async with aiohttp.ClientSession() as session:
            client = AsyncWebClient(token=settings.slack_bot_token or None, base_url=api_url, session=session)
            enable_rate_limit_retries(client)
            adapter = SlackAdapter(advisor, MemoryDeliveryGuard())
            reports.send({"ready": os.getpid()})
            await _answer_jobs(reader, adapter, client, work, reports)
            if not await work.drain(DRAIN_SECONDS):
                log.warning("answer worker stopped with %d answers still unsent", work.pending)
    finally:
        purge.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purge
        await advisor.store.close()


async def _answer_jobs(
    reader: asyncio.StreamReader,
    adapter: SlackAdapter,
    client: AsyncWebClient,
    work: BackgroundWork,
    reports: _Reports,
) -> None:
    while True:
        try:
            line = await reader.readline()
        except ValueError:
            log.error("a job longer than %d bytes; stopping so the Slack process starts a fresh worker", MAX_LINE_BYTES)
            return
        if not line:
            return
        try:
            message = json.loads(line)
            job_id = message["id"]
            job = AnswerJob.from_json(message["job"])
        except (ValueError, KeyError, TypeError) as exc:
            log.error("unreadable job from the Slack process (%s); skipped", type(exc).__name__)
            continue
        task = work.start(adapter.answer(client, job), job.what)
        task.add_done_callback(lambda _task, job_id=job_id: reports.send({"done": job_id}))


API_URL_VARIABLE = "SLACK_API_URL"
"""The Slack Web API's base URL (default https://slack.com/api/); GovSlack workspaces use https://slack-gov.com/api/."""


async def _run(reports: _Reports) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE_BYTES)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    first = await reader.readline()
    if not first:
        return
    settings = Settings.from_json(json.loads(first)["settings"])
    configure_logging(settings.log_level)
    with contextlib.suppress(NotImplementedError, RuntimeError):
        # Stopping the container signals every process: the Slack process drains and then closes our stdin.
        # Signalled alone, stop within the drain time anyway.
        loop.add_signal_handler(signal.SIGTERM, lambda: loop.call_later(DRAIN_SECONDS, reader.feed_eof))
    await serve(settings, reports, reader)


def main() -> int:
    # Ctrl-C reaches the whole process group; the Slack process decides when this one stops (by closing stdin).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reports = _Reports(os.fdopen(os.dup(1), "wb"))
    os.dup2(2, 1)
    # Acks first: this process gets a CPU only when the Slack process (and the rest of the container) does not
    # want it. A lower nice value alone is not enough: Linux's scheduler (EEVDF) then still lets a woken process
    # wait for the worker's whole time slice, which put a 3 ms answer in front of every paced ack
    # (BENCHMARKS.md); SCHED_IDLE is preempted at once.
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: not Linux
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    try:
        asyncio.run(_run(reports))
    except Exception:
        logging.getLogger("advisor.slack.worker").exception("answer worker failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
