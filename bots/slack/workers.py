"""``SLACK_ANSWER_WORKERS``: answer Slack requests in worker processes, so this process only acknowledges.

With N > 0 the Slack process starts N ``python -m bots.slack.worker`` processes (worker.py), each with its own
Advisor built from the same settings, and sends every acknowledged job to one of them: always the same one for a
given user, so a user's quiz steps, rate limit and (with the memory store) sessions stay in one place. The
backlog limit (``SLACK_MAX_BACKLOG``) counts jobs sent and not yet reported done, across workers.

A worker that dies is started again; the jobs it held are sent once more to the new one (a job that was being
delivered at the moment of the crash may then reach its user twice, which beats never), and a job that was
already re-sent once is given up with an error in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.config import Settings
from core.reply import Command, Reply, ReplyKind, Request

from .answers import AnswerJob, BacklogLimit, count_from_environment, encode_line

log = logging.getLogger("advisor.slack.workers")

WORKERS_VARIABLE = "SLACK_ANSWER_WORKERS"
"""How many answer worker processes the Slack adapter starts; 0 (the default) answers in the Slack process."""
READY_SECONDS = 300.0
"""How long a worker may take to load the knowledge base and model (a first start also builds the caches)."""
STOP_SECONDS = 15.0
"""After its stdin closes, how long a worker may take to deliver what it holds before it is killed."""
RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
MAX_ATTEMPTS = 2

Observer = Callable[[Request, Reply, float], None]


class WorkerStartError(RuntimeError):
    pass


def workers_from_environment() -> int:
    try:
        return count_from_environment(WORKERS_VARIABLE, 0, "answer in the Slack process")
    except ValueError as exc:
        raise WorkerStartError(str(exc)) from None


@dataclass
class _Sent:
    worker: int
    job: AnswerJob
    attempts: int = 1


@dataclass
class _Worker:
    index: int
    process: asyncio.subprocess.Process | None = None
    listener: asyncio.Task[None] | None = None
    waiting: list[int] = field(default_factory=list)
    """Jobs for this worker while it is being (re)started."""

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None and self.listener is not None


class AnswerWorkers:
    """The ``Answers`` of a Slack process whose answers are worked out by worker processes."""

    def __init__(
        self,
        count: int,
        settings: Settings,
        *,
        max_backlog: int | None,
        observer: Observer | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        self.settings = settings
        self.backlog = BacklogLimit(max_backlog)
        self.observer = observer
        self.environment = {**os.environ, **(environment or {})}
        self._workers = [_Worker(i) for i in range(count)]
        self._sent: dict[int, _Sent] = {}
        self._next_id = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._restarts: set[asyncio.Task[None]] = set()
        self.restarts = 0
        self.resent = 0
        self.lost = 0

    # -- Answers -------------------------------------------------------------------------------------------

    def over_limit(self, what: str) -> bool:
        return self.backlog.reached(len(self._sent), what)

    @property
    def declined(self) -> int:
        return self.backlog.declined

    def submit(self, job: AnswerJob) -> None:
        self._next_id += 1
        job_id = self._next_id
        worker = self._workers[zlib.crc32(f"{job.workspace}:{job.user}".encode()) % len(self._workers)]
        self._sent[job_id] = _Sent(worker.index, job)
        self._idle.clear()
        self._send(worker, job_id)

    @property
    def pending(self) -> int:
        return len(self._sent)

    async def drain(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return not self._sent

    # -- lifetime ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every worker and wait until each has loaded; ``WorkerStartError`` if one cannot."""
        results = await asyncio.gather(*(self._launch(w) for w in self._workers), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            await self.close()
            raise failed[0]

    async def close(self) -> None:
        """Close every worker's job stream, let it finish what it holds, and wait for it to exit."""
        self._closing = True
        for task in list(self._restarts):
            task.cancel()
        await asyncio.gather(*(self._stop(w) for w in self._workers))

    def send_signal(self, signum: int) -> None:
        """Pass a signal on (SIGHUP: reload the knowledge base) to every live worker."""
        for worker in self._workers:
            if worker.process is not None and worker.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signum)

    def all_running(self) -> bool:
        """Every worker is up and reading jobs (a readiness check: false while one is being restarted)."""
        return not self._closing and all(worker.alive for worker in self._workers)

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process is not None and w.process.returncode is None]

    # -- one worker ----------------------------------------------------------------------------------------

    async def _launch(self, worker: _Worker) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bots.slack.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=self.environment,
            limit=1024 * 1024,
        )
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(encode_line({"settings": self.settings.to_json()}))
        try:
            ready = await asyncio.wait_for(process.stdout.readline(), READY_SECONDS)
        except TimeoutError:
            ready = b""
        if not ready.startswith(b'{"ready"'):
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise WorkerStartError(
                f"Slack answer worker {worker.index} did not start (exit code {process.returncode}); "
                "its error is in the log above"
            )
        worker.process = process
        worker.listener = asyncio.create_task(self._listen(worker, process), name=f"answer worker {worker.index}")
        log.info("Slack answer worker %d ready (pid %d)", worker.index, process.pid)
        waiting, worker.waiting = worker.waiting, []
        for job_id in waiting:
            self._send(worker, job_id)

    def _send(self, worker: _Worker, job_id: int) -> None:
        sent = self._sent.get(job_id)
        if sent is None:
            return
        if not worker.alive:
            worker.waiting.append(job_id)
            return
        assert worker.process is not None and worker.process.stdin is not None
        try:
            worker.process.stdin.write(encode_line({"id": job_id, "job": sent.job.to_json()}))
        except (ConnectionError, RuntimeError):
            # Dying right now: its end will be read in a moment, and the job re-sent with those it held.
            log.warning("Slack answer worker %d refused a job; it is being replaced", worker.index)

    async def _listen(self, worker: _Worker, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        try:
            while line := await process.stdout.readline():
                self._receive(line)
        except (ValueError, ConnectionError) as exc:
            log.error("unreadable report from Slack answer worker %d: %s", worker.index, exc)
        worker.listener = None
        code = await process.wait()
        if self._closing:
            return
        self._schedule_restart(worker, code)

    def _receive(self, line: bytes) -> None:
        try:
            message: dict[str, Any] = json.loads(line)
        except ValueError:
            log.error("unreadable report from a Slack answer worker: %r", line[:80])
            return
        if "done" in message:
            self._finished(message["done"])
        elif "observed" in message and self.observer is not None:
            try:
                self.observer(*_observed(message["observed"]))
            except Exception:
                log.exception("observer failed")

    def _finished(self, job_id: int) -> None:
        self._sent.pop(job_id, None)
        if not self._sent:
            self._idle.set()

    def _schedule_restart(self, worker: _Worker, code: int) -> None:
        # Jobs submitted after it died and before its end was read are already waiting; the rest it held.
        waiting = set(worker.waiting)
        held = [job_id for job_id, sent in self._sent.items() if sent.worker == worker.index and job_id not in waiting]
        log.error(
            "Slack answer worker %d stopped (exit code %d) holding %d answers; starting it again",
            worker.index,
            code,
            len(held),
        )
        for job_id in held:
            sent = self._sent[job_id]
            if sent.attempts >= MAX_ATTEMPTS:
                log.error("gave up on a %s answer that was in two workers that stopped", sent.job.what)
                self.lost += 1
                self._finished(job_id)
            else:
                sent.attempts += 1
                self.resent += 1
                worker.waiting.append(job_id)
        task = asyncio.create_task(self._restart(worker))
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _restart(self, worker: _Worker) -> None:
        for delay in itertools.chain(RESTART_DELAYS, itertools.repeat(RESTART_DELAYS[-1])):
            await asyncio.sleep(delay)
            try:
                await self._launch(worker)
            except (WorkerStartError, OSError) as exc:
                log.error("%s; trying again in a moment", exc)
                continue
            self.restarts += 1
            return

    async def _stop(self, worker: _Worker) -> None:
        process = worker.process
        if process is None:
            return
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), STOP_SECONDS)
        except TimeoutError:
            log.warning("Slack answer worker %d did not stop in %.0f s; killed", worker.index, STOP_SECONDS)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        if worker.listener is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await worker.listener


def _observed(raw: dict[str, Any]) -> tuple[Request, Reply, float]:
    """The Request and Reply that ``Metrics.observe`` looks at, rebuilt from a worker's report."""
    command = Command(raw["command"]) if raw.get("command") else None
    request = Request(
        str(raw["platform"]),
        str(raw.get("workspace", "")),
        str(raw.get("user", "")),
        action="button" if raw.get("button") else None,
        command=command,
    )
    reply = Reply(
        ReplyKind(raw["kind"]), "", replace_previous=bool(raw.get("replace_previous")), meta=dict(raw.get("meta") or {})
    )
    return request, reply, float(raw.get("seconds", 0.0))
