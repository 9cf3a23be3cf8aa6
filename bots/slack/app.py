"""The Slack adapter: Slack events in, ``Advisor.handle``, Block Kit out. It decides nothing about careers.

Every listener acknowledges first and hands the real work to ``BackgroundWork``: Slack shows the user an error
(and re-sends events) when the ack takes longer than 3 seconds, and a session store or the network can be slow.
The app runs with ``process_before_response=True`` so bolt returns the HTTP response as soon as a listener
returns, instead of polling every 10 ms for the ack (see docs/slack.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from core.advisor import Advisor
from core.config import Settings
from core.once import DeliveryGuard, MemoryDeliveryGuard
from core.reply import Command, Reply, ReplyKind, Request, Section

from .answers import AnswerJob, Answers, BacklogLimit, JobKind
from .blocks import CHOICE_ACTION_PREFIX, MAX_BUTTON_VALUE, SHARE_ACTION_ID, escape, render_home, render_reply

log = logging.getLogger("advisor.slack")

PLATFORM = "slack"
SLASH_COMMANDS: dict[str, tuple[Command, str]] = {
    "/career": (Command.ASK, "ask a question about legal-support careers (empty: what I can do)"),
    "/career-quiz": (Command.QUIZ, "start or resume the career-fit quiz (`restart` starts over)"),
    "/career-compare": (Command.COMPARE, "compare two roles, e.g. `paralegal legal secretary`"),
    "/career-roles": (Command.ROLES, "the three roles in short"),
    "/career-forget": (Command.FORGET, "delete what I stored about you"),
}
RESTART_WORDS = frozenset({"restart", "new", "again", "over", "reset"})
SHAREABLE = frozenset({ReplyKind.ANSWER, ReplyKind.ROLES})
"""Worth showing a channel; quiz steps, help, declines and errors stay private."""
RATE_LIMIT_RETRIES = 2

_SLASH_COMMAND = re.compile("^(" + "|".join(re.escape(name) for name in SLASH_COMMANDS) + ")$")
_CHOICE_ACTION = re.compile(rf"^{CHOICE_ACTION_PREFIX}\d+$")


# -- where a reply goes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseUrl:
    """The interaction's ``response_url``: the only way to reach or edit an ephemeral message."""

    url: str
    replace_original: bool = False
    in_channel: bool = False
    thread_ts: str | None = None


@dataclass(frozen=True)
class Post:
    """``chat.postMessage``; a user id as ``channel`` posts into the app's DM with that user."""

    channel: str
    thread_ts: str | None = None


@dataclass(frozen=True)
class Ephemeral:
    """``chat.postEphemeral``: visible to ``user`` only, in a channel where they are."""

    channel: str
    user: str
    thread_ts: str | None = None


@dataclass(frozen=True)
class Update:
    """``chat.update`` of the bot's own message (quiz steps in a DM); extra messages follow as posts."""

    channel: str
    ts: str


Destination = ResponseUrl | Post | Ephemeral | Update


def is_private(destination: Destination) -> bool:
    return isinstance(destination, Ephemeral) or (isinstance(destination, ResponseUrl) and not destination.in_channel)


def is_direct_message(channel: str | None) -> bool:
    # Block actions carry no channel type; "D" is how Slack ids direct-message conversations.
    return channel is not None and channel.startswith("D")


@dataclass(frozen=True)
class Where:
    """Who and where, for logs. Deliberately no message text: users are students and texts may be personal."""

    team: str
    user: str
    channel: str | None
    via: str

    def __str__(self) -> str:
        return f"team={self.team} user={self.user} channel={self.channel or '-'} via={self.via}"


class DeliveryError(RuntimeError):
    """A ``response_url`` post was refused (it returns a status, not an exception)."""


DELIVERY_ERRORS = (SlackApiError, DeliveryError, aiohttp.ClientError, TimeoutError)
"""What talking to Slack can raise: logged with context, never allowed to kill the app."""


# -- the work after the ack --------------------------------------------------------------------------------


BUSY_TEXT = "I'm answering a lot of questions right now. Please try again in a moment."
"""The ack's text when too much work is already waiting: an honest no now rather than an answer much later."""
DEFAULT_MAX_BACKLOG = 256
"""Acknowledged requests allowed to wait for or be in answer work before new ones are turned away as busy. At a
few hundred answers a second per process (BENCHMARKS.md) that is about a second's worth of queue."""
DEFAULT_MAX_RUNNING = 4
TURN_SECONDS = 0.005
"""Work holds one of ``DEFAULT_MAX_RUNNING`` turns until it is done or ``TURN_SECONDS`` have passed, whichever is
first. Every step of an answer holds the event loop for its CPU time, and asyncio runs every ready task before it
reads the next request, so with hundreds of answers under way an ack would wait for all of their steps; with a
few at a time it waits for a few. An answer on a fast network (core, rendering, the POST) takes a few
milliseconds and keeps its turn to the end; one waiting longer (for Slack over the internet, a slow session
store) gives its turn up, so waiting never holds up other answers: turns allow up to 4 / 5 ms = 800 answer starts
a second, more than one process computes."""


BUSY_REPLY = Reply(ReplyKind.NOTICE, "Busy", (Section(BUSY_TEXT),), ephemeral=True, meta={"kind": "busy"})
"""What a click, share or message gets instead of an answer when it arrived over the backlog limit."""


_RESPONSE_WRITTEN: ContextVar[asyncio.Event | None] = ContextVar("slack_response_written", default=None)


@contextmanager
def answer_after_response() -> Iterator[None]:
    """Work given to ``BackgroundWork.start`` inside this block waits until the block is left (however it is
    left). The HTTP server wraps each request in it and leaves once the ack's bytes are written, so answer work
    never delays the ack it follows. Without it (Socket Mode, tests calling the app directly) work starts at once.
    """
    written = asyncio.Event()
    token = _RESPONSE_WRITTEN.set(written)
    try:
        yield
    finally:
        _RESPONSE_WRITTEN.reset(token)
        written.set()


class BackgroundWork:
    """Runs the part of a listener that follows its ack, and holds on to it.

    Holding the tasks matters three ways: asyncio keeps only weak references to tasks, shutdown waits for
    answers in flight instead of dropping them, and tests wait for "all work done" instead of sleeping.

    Work held back until its response is written (``answer_after_response``), or waiting for one of the
    ``max_running`` turns (see ``TURN_SECONDS``), is already a task here, so it is counted, drained and logged like
    running work. ``over_limit`` tells listeners when ``max_backlog`` tasks are waiting or under way, so they
    decline new work.
    """

    def __init__(
        self,
        max_backlog: int | None = DEFAULT_MAX_BACKLOG,
        max_running: int = DEFAULT_MAX_RUNNING,
        turn_seconds: float = TURN_SECONDS,
    ) -> None:
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        self._tasks: set[asyncio.Task[None]] = set()
        self.backlog = BacklogLimit(max_backlog)
        self.max_running = max_running
        self.turn_seconds = turn_seconds
        self._slots = asyncio.Semaphore(max_running)

    def over_limit(self, what: str) -> bool:
        """True (and counted, and logged now and then) when a new ``what`` should be declined as busy."""
        return self.backlog.reached(len(self._tasks), what)

    @property
    def declined(self) -> int:
        return self.backlog.declined

    def start(self, work: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._logged(work, what, _RESPONSE_WRITTEN.get()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _logged(self, work: Coroutine[Any, Any, None], what: str, after: asyncio.Event | None) -> None:
        try:
            if after is not None:
                await after.wait()
            async with self._turn():
                await work
        except asyncio.CancelledError:
            work.close()  # never awaited if cancelled while waiting; closing an awaited coroutine is a no-op
            raise
        except Exception:
            # Last resort: the handlers catch their own errors and tell the user; this only keeps a bug visible.
            log.exception("slack background work failed: %s", what)

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        await self._slots.acquire()
        held = True

        def give_up() -> None:
            nonlocal held
            if held:
                held = False
                self._slots.release()

        timer = asyncio.get_running_loop().call_later(self.turn_seconds, give_up)
        try:
            yield
        finally:
            timer.cancel()
            give_up()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float) -> bool:
        """Wait until no work is left (work may start more work); False if ``timeout`` ran out first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=remaining)
        return True


def enable_rate_limit_retries(client: AsyncWebClient, retries: int = RATE_LIMIT_RETRIES) -> None:
    """Let the client wait out HTTP 429 as Slack's ``Retry-After`` says (slack_sdk only retries connection
    errors by default). Idempotent, because tests and the runner may both pass the same client."""
    if not any(isinstance(h, AsyncRateLimitErrorRetryHandler) for h in client.retry_handlers):
        client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=retries))


class InProcessAnswers:
    """Answers jobs in this process, on this event loop, through ``BackgroundWork``."""

    def __init__(self, adapter: SlackAdapter, client: AsyncWebClient, work: BackgroundWork) -> None:
        self.adapter = adapter
        self.client = client
        self.work = work

    def over_limit(self, what: str) -> bool:
        return self.work.over_limit(what)

    def submit(self, job: AnswerJob) -> None:
        self.work.start(self.adapter.answer(self.client, job), job.what)

    @property
    def pending(self) -> int:
        return self.work.pending

    async def drain(self, timeout: float) -> bool:
        return await self.work.drain(timeout)


class SlackAdapter:
    """Translation both ways plus delivery. Listeners in ``build_slack_app`` stay one-liners around these."""

    def __init__(self, advisor: Advisor, guard: DeliveryGuard) -> None:
        self.advisor = advisor
        self.guard = guard

    # -- middleware --------------------------------------------------------------------------------------

    async def skip_repeated_events(
        self, body: dict[str, Any], request: AsyncBoltRequest, next_: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """Slack re-sends an event whose 2xx was late (X-Slack-Retry-Num), even while the first is still being
        answered; a repeat is acknowledged and dropped so nobody gets two answers."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if isinstance(event_id, str) and event_id:
            try:
                first = await self.guard.first_time(f"slack:event:{event_id}")
            except Exception:
                # Better a rare duplicate answer than no answer while the shared guard (Redis) is down.
                log.warning("delivery guard unavailable; handling event %s without de-duplication", event_id)
                first = True
            if not first:
                retry = request.headers.get("x-slack-retry-num", ["-"])[0]
                log.info("dropped a repeated Slack event %s (retry %s)", event_id, retry)
                return BoltResponse(status=200, body="")
        await next_()
        return None

    # -- Slack → Request -------------------------------------------------------------------------------

    async def answer(self, client: AsyncWebClient, job: AnswerJob) -> None:
        """Carry out what a listener acknowledged, here or in an answer worker process."""
        if job.kind is JobKind.COMMAND:
            await self.answer_command(client, job.body, job.workspace)
        elif job.kind is JobKind.MESSAGE:
            await self.answer_message(client, job.body, job.workspace, job.bot_user_id, job.busy)
        elif job.kind is JobKind.CLICK:
            await self.answer_click(client, job.body, job.action, job.workspace, job.busy)
        elif job.kind is JobKind.SHARE:
            await self.share(client, job.body, job.action, job.workspace, job.busy)
        elif job.kind is JobKind.HOME:
            await self.publish_home(client, job.body["user"], job.workspace)

    async def answer_command(self, client: AsyncWebClient, payload: dict[str, Any], workspace: str) -> None:
        name = payload.get("command", "")
        command = SLASH_COMMANDS[name][0]
        text = (payload.get("text") or "").strip()
        if command is Command.QUIZ and text.lower() in RESTART_WORDS:
            command = Command.QUIZ_RESTART
        user, channel = payload["user_id"], payload.get("channel_id")
        request = Request(PLATFORM, workspace, user, text=text or None, command=command, channel=channel)
        where = Where(workspace, user, channel, name)
        # Ephemeral by default: the asker decides what the channel sees, through the share button.
        destination = ResponseUrl(payload["response_url"])
        asked = text if command in (Command.ASK, Command.COMPARE) else None
        await self._answer(client, request, lambda _reply: destination, where, asked=asked)

    async def answer_message(
        self,
        client: AsyncWebClient,
        event: dict[str, Any],
        workspace: str,
        bot_user_id: str | None,
        busy: bool = False,
    ) -> None:
        user, channel = event["user"], event["channel"]
        text = _without_mention(event.get("text") or "", bot_user_id)
        request = Request(PLATFORM, workspace, user, text=text, command=Command.ASK, channel=channel)
        thread_ts = event.get("thread_ts") or event.get("ts")
        direct = event.get("channel_type") == "im"
        where = Where(workspace, user, channel, "dm" if direct else "mention")

        def destination(reply: Reply) -> Destination:
            # In a DM only the user sees anything anyway; in a channel, private replies (quiz, declines,
            # errors) are shown to the asker alone.
            if reply.ephemeral and not direct:
                return Ephemeral(channel, user, thread_ts)
            return Post(channel, thread_ts)

        await self._answer(client, request, destination, where, busy=busy)

    async def answer_click(
        self, client: AsyncWebClient, body: dict[str, Any], action: dict[str, Any], workspace: str, busy: bool = False
    ) -> None:
        user = body["user"]["id"]
        container = body.get("container") or {}
        channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
        request = Request(PLATFORM, workspace, user, action=action.get("value") or "", channel=channel)
        where = Where(workspace, user, channel, f"button:{container.get('type', '?')}")
        await self._answer(client, request, lambda reply: _click_destination(body, reply), where, busy=busy)

    async def share(
        self, client: AsyncWebClient, body: dict[str, Any], action: dict[str, Any], workspace: str, busy: bool = False
    ) -> None:
        """Re-ask what produced a private answer and post the result to the channel, crediting the sharer."""
        user = body["user"]["id"]
        channel = (body.get("container") or {}).get("channel_id")
        where = Where(workspace, user, channel, "share")
        spec = _parse_share_value(action.get("value") or "")
        url = body.get("response_url")
        if not url:
            log.warning("share button without a response_url (%s)", where)
            return
        if busy:
            await self._deliver(client, ResponseUrl(url), render_reply(BUSY_REPLY), where)
            return
        if spec is None:
            log.warning("unusable share button value (%s)", where)
            await self._deliver(client, ResponseUrl(url), self._error_messages(), where)
            return
        request = Request(PLATFORM, workspace, user, channel=channel, **spec)
        reply = await self.advisor.handle(request)
        if reply.kind not in SHAREABLE:
            await self._deliver(client, ResponseUrl(url), render_reply(reply), where)
            return
        messages = render_reply(reply, asked=spec.get("text"), shared_by=user)
        if await self._deliver(client, ResponseUrl(url, in_channel=True), messages, where):
            # The private copy (with its share button) has done its job.
            try:
                await self._send(client, ResponseUrl(url), {"text": "", "delete_original": True}, first=False)
            except DELIVERY_ERRORS as exc:
                log.info("could not remove the private copy after sharing (%s): %s", where, _describe(exc))

    async def publish_home(self, client: AsyncWebClient, user: str, workspace: str) -> None:
        where = Where(workspace, user, None, "app_home")
        reply = await self.advisor.handle(Request(PLATFORM, workspace, user, command=Command.HELP))
        commands = [(name, what) for name, (_command, what) in SLASH_COMMANDS.items()]
        try:
            await client.views_publish(user_id=user, view=render_home(reply, commands))
        except DELIVERY_ERRORS as exc:
            log.warning("could not publish the App Home tab (%s): %s", where, _describe(exc))

    # -- Reply → Slack ---------------------------------------------------------------------------------

    async def _answer(
        self,
        client: AsyncWebClient,
        request: Request,
        choose: Callable[[Reply], Destination],
        where: Where,
        asked: str | None = None,
        busy: bool = False,
    ) -> None:
        """Answer ``request``; when ``busy`` (too much work waiting when it was acknowledged), say so instead."""
        if busy:
            await self._deliver(client, choose(BUSY_REPLY), render_reply(BUSY_REPLY), where)
            return
        try:
            reply = await self.advisor.handle(request)
            destination = choose(reply)
            share = _share_value(request) if reply.kind in SHAREABLE and is_private(destination) else None
            messages = render_reply(reply, asked=asked, share_value=share)
        except Exception:
            log.exception("slack adapter could not build a reply (%s)", where)
            destination = choose(self._error_reply())
            messages = self._error_messages()
        await self._deliver(client, destination, messages, where)

    def _error_reply(self) -> Reply:
        return Reply(ReplyKind.ERROR, "Something went wrong", (Section(self.advisor.kb.texts.error),), ephemeral=True)

    def _error_messages(self) -> list[dict[str, Any]]:
        return render_reply(self._error_reply())

    async def _deliver(
        self, client: AsyncWebClient, destination: Destination, messages: list[dict[str, Any]], where: Where
    ) -> bool:
        """Send every message; on failure log it with context and tell the user in plain text if Slack lets us."""
        for number, message in enumerate(messages):
            try:
                await self._send(client, destination, message, first=number == 0)
            except DELIVERY_ERRORS as exc:
                log.warning(
                    "slack delivery failed (%s, %s, message %d of %d): %s",
                    where,
                    type(destination).__name__,
                    number + 1,
                    len(messages),
                    _describe(exc),
                )
                try:
                    await self._send(client, destination, {"text": escape(self.advisor.kb.texts.error)}, number == 0)
                except DELIVERY_ERRORS as again:
                    log.error("could not tell the user about the failure either (%s): %s", where, _describe(again))
                return False
        return True

    async def _send(self, client: AsyncWebClient, to: Destination, message: dict[str, Any], first: bool) -> None:
        if isinstance(to, ResponseUrl):
            payload = {**message, "response_type": "in_channel" if to.in_channel else "ephemeral"}
            if to.replace_original and first:
                payload["replace_original"] = True
            elif "delete_original" not in message:
                payload["replace_original"] = False
            if to.thread_ts:
                payload["thread_ts"] = to.thread_ts
            webhook = AsyncWebhookClient(
                to.url,
                session=client.session,
                timeout=10,
                retry_handlers=[
                    AsyncConnectionErrorRetryHandler(),
                    AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
                ],
            )
            response = await webhook.send_dict(payload)
            if response.status_code != 200:
                raise DeliveryError(f"response_url answered {response.status_code}: {str(response.body)[:80]}")
        elif isinstance(to, Update) and first:
            await client.chat_update(channel=to.channel, ts=to.ts, **message)
        elif isinstance(to, Update):
            await client.chat_postMessage(channel=to.channel, unfurl_links=False, unfurl_media=False, **message)
        elif isinstance(to, Ephemeral):
            await client.chat_postEphemeral(channel=to.channel, user=to.user, thread_ts=to.thread_ts, **message)
        else:
            await client.chat_postMessage(
                channel=to.channel, thread_ts=to.thread_ts, unfurl_links=False, unfurl_media=False, **message
            )


def _click_destination(body: dict[str, Any], reply: Reply) -> Destination:
    user = body["user"]["id"]
    container = body.get("container") or {}
    channel = container.get("channel_id")
    url = body.get("response_url")
    thread_ts = container.get("thread_ts") or (body.get("message") or {}).get("thread_ts")
    if container.get("type") != "message" or not channel:
        # App Home buttons have no channel: carry on in the app's DM with the user.
        return Post(user)
    if container.get("is_ephemeral") and url:
        return ResponseUrl(url, replace_original=reply.replace_previous, thread_ts=thread_ts)
    if is_direct_message(channel):
        if reply.replace_previous and container.get("message_ts"):
            return Update(channel, container["message_ts"])
        return Post(channel, thread_ts)
    # A message others can see: one person's click must not rewrite it for everyone, so answer them privately.
    return ResponseUrl(url, thread_ts=thread_ts) if url else Ephemeral(channel, user, thread_ts)


def _share_value(request: Request) -> str | None:
    """What to re-ask when "Share in channel" is clicked; None (no button) if it would not fit a button value."""
    command = request.command.value if request.command else None
    spec = {"command": command, "text": request.text, "action": request.action}
    value = json.dumps({k: v for k, v in spec.items() if v}, ensure_ascii=False, separators=(",", ":"))
    return value if len(value) <= MAX_BUTTON_VALUE else None


def _parse_share_value(value: str) -> dict[str, Any] | None:
    try:
        raw = json.loads(value)
        command = Command(raw["command"]) if raw.get("command") else None
    except (ValueError, TypeError, AttributeError):
        return None
    text, action = raw.get("text"), raw.get("action")
    if not (isinstance(text, str | None) and isinstance(action, str | None)) or not (text or action or command):
        return None
    return {"command": command, "text": text, "action": action}


def _without_mention(text: str, bot_user_id: str | None) -> str:
    if not bot_user_id:
        return text.strip()
    return re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", " ", text).strip()


def _written_by_a_person(event: dict[str, Any]) -> bool:
    # Edits, deletions, joins and bots' posts (ours included: no reply loops) carry a subtype or a bot_id.
    return bool(event.get("user")) and not event.get("subtype") and not event.get("bot_id")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return f"Slack API error {exc.response.get('error')!r} (HTTP {exc.response.status_code})"
    return f"{type(exc).__name__}: {exc}"


def _workspace(context: AsyncBoltContext) -> str:
    return context.team_id or context.enterprise_id or "unknown"


class _WithholdRejectedBodies(logging.Filter):
    """Bolt logs the full body of a request whose signature fails, at INFO. Bodies hold what users typed, and a
    wrong signing secret would fail every request, so keep the line and drop the body."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Invalid request signature detected"):
            record.msg, record.args = "Invalid request signature detected (body withheld)", ()
        return True


def _install_log_filter() -> None:
    # The async middleware logs under its base class's name; both are covered in case that changes.
    for name in ("slack_bolt.RequestVerification", "slack_bolt.AsyncRequestVerification"):
        target = logging.getLogger(name)
        if not any(isinstance(f, _WithholdRejectedBodies) for f in target.filters):
            target.addFilter(_WithholdRejectedBodies())


# -- the app -----------------------------------------------------------------------------------------------


def build_slack_app(
    advisor: Advisor,
    settings: Settings,
    client: AsyncWebClient | None = None,
    guard: DeliveryGuard | None = None,
    work: BackgroundWork | None = None,
    answers: Answers | None = None,
) -> AsyncApp:
    """The bolt app for both Socket Mode and HTTP mode: only the handler in front of it differs.

    Answers are worked out in this process with ``work`` unless ``answers`` sends them elsewhere (the answer
    worker processes of ``SLACK_ANSWER_WORKERS``, see workers.py)."""
    if client is None:
        client = AsyncWebClient(token=settings.slack_bot_token or None)
    enable_rate_limit_retries(client)
    _install_log_filter()
    adapter = SlackAdapter(advisor, guard if guard is not None else MemoryDeliveryGuard())
    if answers is None:
        answers = InProcessAnswers(adapter, client, work if work is not None else BackgroundWork())
    app = AsyncApp(
        name="legal-careers-advisor",
        client=client,
        # Socket Mode never checks signatures; an unguessable stand-in makes sure no HTTP request could ever be
        # accepted with an empty key if the app is served over HTTP by mistake.
        signing_secret=settings.slack_signing_secret or secrets.token_hex(32),
        process_before_response=True,
    )

    # Only events are re-sent by Slack: commands and clicks do not pay for the check.
    async def skip_repeated_events(
        body: dict[str, Any], request: AsyncBoltRequest, next_: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        return await adapter.skip_repeated_events(body, request, next_)

    once = [skip_repeated_events]

    @app.command(_SLASH_COMMAND)
    async def slash_command(ack: AsyncAck, command: dict[str, Any], context: AsyncBoltContext) -> None:
        if answers.over_limit("slash command"):
            # The ack itself can carry the message: nothing queued, nothing to deliver later.
            await ack(text=BUSY_TEXT)
            return
        await ack()
        answers.submit(AnswerJob(JobKind.COMMAND, _workspace(context), command))

    @app.action(_CHOICE_ACTION)
    async def choice_clicked(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        busy = answers.over_limit("button")
        answers.submit(AnswerJob(JobKind.CLICK, _workspace(context), body, action, busy=busy))

    @app.action(SHARE_ACTION_ID)
    async def share_clicked(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        busy = answers.over_limit("share")
        answers.submit(AnswerJob(JobKind.SHARE, _workspace(context), body, action, busy=busy))

    @app.event("app_mention", middleware=once)
    async def mentioned(event: dict[str, Any], context: AsyncBoltContext) -> None:
        if _written_by_a_person(event):
            busy = answers.over_limit("mention")
            answers.submit(
                AnswerJob(JobKind.MESSAGE, _workspace(context), event, bot_user_id=context.bot_user_id, busy=busy)
            )

    @app.event("message", middleware=once)
    async def direct_message(event: dict[str, Any], context: AsyncBoltContext) -> None:
        if event.get("channel_type") == "im" and _written_by_a_person(event):
            busy = answers.over_limit("dm")
            answers.submit(
                AnswerJob(JobKind.MESSAGE, _workspace(context), event, bot_user_id=context.bot_user_id, busy=busy)
            )

    @app.event("app_home_opened", middleware=once)
    async def home_opened(event: dict[str, Any], context: AsyncBoltContext) -> None:
        if event.get("tab") == "home" and event.get("user") and not answers.over_limit("app home"):
            # Busy: the tab keeps what it showed last; it is published again the next time it is opened.
            answers.submit(AnswerJob(JobKind.HOME, _workspace(context), event))

    @app.error
    async def listener_failed(error: Exception, body: dict[str, Any]) -> None:
        # The body is not logged: it holds user text. Type, team and user are enough to find the request.
        team = (body.get("team") or {}).get("id") if isinstance(body.get("team"), dict) else body.get("team_id")
        log.error("slack listener failed (type=%s team=%s): %r", body.get("type"), team, error)

    return app
