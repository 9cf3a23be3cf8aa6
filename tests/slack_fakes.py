"""A loopback fake of Slack for the adapter tests and the benchmark: Web API, response_url and Socket Mode.

It runs an aiohttp server on 127.0.0.1 (port 0) in its own thread and event loop, so the app under test talks to
it over real sockets exactly as it would to slack.com, and the fake's work never competes with the app's loop.
It records every call and answers as Slack documents: ``{"ok": true, ...}`` bodies, ``invalid_blocks`` for
Block Kit over the limits, HTTP 429 with ``Retry-After`` when a test scripts it. Also here: request signing
and payload builders shaped like the ones Slack sends.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack.answers import Answers
from bots.slack.app import BackgroundWork, build_slack_app
from bots.slack.runner import EVENTS_PATH, http_server
from core.advisor import Advisor
from core.config import Settings
from core.once import DeliveryGuard

SIGNING_SECRET = "8f2b0c3e5d7a9b1c4e6f8a0b2c4d6e8f"
BOT_TOKEN = "xoxb-000000000000-000000000000-testtokentesttokentest"
APP_TOKEN = "xapp-1-A000TEST-000000000000-testapptoken"
TEAM = "T0TESTTEAM"
BOT_USER = "U0BOTUSER"
BOT_ID = "B0BOTID"
APP_ID = "A0TESTAPP"
START_TIMEOUT = 5.0

# -- Block Kit validation, as Slack applies it -------------------------------------------------------------


def block_problems(blocks: list[dict[str, Any]], max_blocks: int = 50) -> list[str]:
    """Why Slack would answer ``invalid_blocks``; empty when the blocks are valid.

    slack_sdk's block models carry Slack's per-element limits; the block count is checked here.
    """
    problems = [] if len(blocks) <= max_blocks else [f"{len(blocks)} blocks (at most {max_blocks})"]
    for index, raw in enumerate(blocks):
        try:
            block = Block.parse(raw)
            if block is None:
                raise SlackObjectFormationError(f"unknown block type {raw.get('type')!r}")
            block.to_dict()  # runs the validators
        except SlackObjectFormationError as exc:
            problems.append(f"block {index}: {exc}")
    return problems


def message_problems(message: dict[str, Any], max_blocks: int = 50) -> list[str]:
    problems = block_problems(message.get("blocks") or [], max_blocks)
    if message.get("blocks") and not message.get("text"):
        problems.append("blocks without a top-level text fallback")
    if len(message.get("text") or "") > 4000:
        problems.append("fallback text over 4,000 characters")
    return problems


# -- the fake ----------------------------------------------------------------------------------------------


@dataclass
class Call:
    method: str
    """A Web API method ("chat.postMessage") or "response_url"."""
    body: dict[str, Any]
    token: str | None = None
    path: str = ""
    at: float = field(default_factory=time.monotonic)


@dataclass
class Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlack:
    """Start with ``start()`` (or ``with FakeSlack() as fake:``); every wait is bounded."""

    def __init__(self, validate: bool = True) -> None:
        self.validate = validate
        self.port = 0
        self._calls: list[Call] = []
        self._lock = threading.Lock()
        self._scripted: dict[str, deque[Scripted]] = {}
        self._ts = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._response_ids = itertools.count(1)

    # -- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> FakeSlack:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self, timeout: float = START_TIMEOUT) -> None:
        self._thread = threading.Thread(target=self._run, name="fake-slack", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("fake Slack did not start in time")

    def stop(self, timeout: float = START_TIMEOUT) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError("fake Slack did not stop in time")

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        app = web.Application()
        app.router.add_post("/api/{method}", self._web_api)
        app.router.add_post("/response/{id}", self._response_url)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._ready.set()
        try:
            await self._stopped.wait()
        finally:
            for ws in list(self._sockets):
                await ws.close()
            await self._runner.cleanup()

    # -- addresses ---------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        # The trailing slash matters: slack_sdk joins method names with urljoin.
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/response/{next(self._response_ids)}"

    # -- scripting and inspection ------------------------------------------------------------------------

    def fail_next(self, method: str, status: int = 200, error: str = "", retry_after: int | None = None) -> None:
        """Make the next call of ``method`` fail: ``status=429, retry_after=1`` or ``error="invalid_blocks"``."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = {"ok": False, "error": error or ("ratelimited" if status == 429 else "fatal_error")}
        with self._lock:
            self._scripted.setdefault(method, deque()).append(Scripted(status, body, headers))

    def calls(self, *methods: str) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if not methods or c.method in methods]

    def replies(self) -> list[Call]:
        """Every call that shows the user something."""
        return self.calls("chat.postMessage", "chat.postEphemeral", "chat.update", "response_url", "views.publish")

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    async def wait_for(self, *methods: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Poll (from the test's loop, without blocking it) until ``count`` matching calls were recorded."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.calls(*methods)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} call(s) of {methods or 'anything'}, got {found}")
            await asyncio.sleep(0.005)

    # -- Web API ------------------------------------------------------------------------------------------

    async def _parse(self, request: web.Request) -> dict[str, Any]:
        raw = await request.text()
        if request.content_type == "application/json":
            return json.loads(raw or "{}")
        parsed = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
        for key in ("blocks", "view"):
            if isinstance(parsed.get(key), str):
                parsed[key] = json.loads(parsed[key])
        return parsed

    def _record(self, call: Call) -> Scripted | None:
        with self._lock:
            self._calls.append(call)
            queue = self._scripted.get(call.method)
            return queue.popleft() if queue else None

    async def _web_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await self._parse(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else body.get("token")
        scripted = self._record(Call(method, body, token, request.path))
        if scripted is not None:
            return web.json_response(scripted.body, status=scripted.status, headers=scripted.headers)
        expected = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if token != expected:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        return web.json_response(self._answer(method, body))

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://fake-school.slack.com/",
                "team": "Fake School",
                "user": "legal-careers",
                "team_id": TEAM,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            channel = body.get("channel")
            if not channel or (method == "chat.update" and not body.get("ts")):
                return {"ok": False, "error": "channel_not_found" if not channel else "message_not_found"}
            if method == "chat.postEphemeral" and not body.get("user"):
                return {"ok": False, "error": "user_not_in_channel"}
            if not body.get("text") and not body.get("blocks"):
                return {"ok": False, "error": "no_text"}
            if self.validate and message_problems(body):
                return {"ok": False, "error": "invalid_blocks", "errors": message_problems(body)}
            if method == "chat.postEphemeral":
                return {"ok": True, "message_ts": ts}
            # Posting to a user id lands in the app's DM with that user, which has a D… id.
            real_channel = "D" + channel[1:] if channel.startswith(("U", "W")) else channel
            ts = body["ts"] if method == "chat.update" else ts
            message = {"type": "message", "text": body.get("text"), "user": BOT_USER, "bot_id": BOT_ID, "ts": ts}
            return {"ok": True, "channel": real_channel, "ts": ts, "message": message}
        if method == "views.publish":
            view = body.get("view") or {}
            if self.validate and block_problems(view.get("blocks") or [], max_blocks=100):
                return {"ok": False, "error": "invalid_arguments"}
            return {"ok": True, "view": {"id": "V0TEST", "type": view.get("type"), "blocks": view.get("blocks")}}
        return {"ok": False, "error": "unknown_method"}

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await self._parse(request)
        scripted = self._record(Call("response_url", body, None, request.path))
        if scripted is not None:
            return web.json_response(scripted.body, status=scripted.status, headers=scripted.headers)
        if self.validate and not body.get("delete_original") and message_problems(body):
            return web.Response(status=400, text="invalid_blocks")
        return web.Response(text="ok")

    # -- Socket Mode -------------------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}})
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                ack = json.loads(message.data)
                waiter = self._acks.pop(ack.get("envelope_id", ""), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(ack)
        self._sockets.remove(ws)
        return ws

    @property
    def socket_connections(self) -> int:
        return len(self._sockets)

    async def push_envelope(self, envelope: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Send a Socket Mode envelope to the connected app; returns its ack (``{"envelope_id", "payload"?}``)."""

        async def send() -> dict[str, Any]:
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[dict[str, Any]] = loop.create_future()
            self._acks[envelope["envelope_id"]] = waiter
            await self._sockets[-1].send_json(envelope)
            return await asyncio.wait_for(waiter, timeout)

        assert self._loop is not None, "start the fake first"
        future = asyncio.run_coroutine_threadsafe(send(), self._loop)
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout + 1)


# -- requests as Slack sends them --------------------------------------------------------------------------


def sign(body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """The two headers Slack adds: a timestamp and ``v0=HMAC-SHA256(secret, "v0:{ts}:{raw body}")``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body),
    }


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def slash_command(
    command: str, text: str, response_url: str, user: str = "U0STUDENT1", channel: str = "C0GENERAL"
) -> dict[str, str]:
    """The form fields of a slash command POST (also the Socket Mode ``slash_commands`` payload)."""
    return {
        "token": "legacy-verification-token-unused",
        "team_id": TEAM,
        "team_domain": "fake-school",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": "student",
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"{int(time.time())}.000.{user}",
    }


def form_body(fields: dict[str, str]) -> str:
    return urllib.parse.urlencode(fields)


def block_actions(
    value: str,
    action_id: str,
    response_url: str | None,
    user: str = "U0STUDENT1",
    channel: str | None = "C0GENERAL",
    message_ts: str = "1700000000.000100",
    is_ephemeral: bool = True,
    container_type: str = "message",
    thread_ts: str | None = None,
) -> dict[str, Any]:
    """A ``block_actions`` payload for one clicked button."""
    container: dict[str, Any] = {"type": container_type}
    if container_type == "message":
        container.update({"message_ts": message_ts, "channel_id": channel, "is_ephemeral": is_ephemeral})
        if thread_ts:
            container["thread_ts"] = thread_ts
    else:
        container.update({"view_id": "V0TEST"})
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": "student", "name": "student", "team_id": TEAM},
        "api_app_id": APP_ID,
        "token": "legacy-verification-token-unused",
        "container": container,
        "trigger_id": f"{int(time.time())}.000.{user}",
        "team": {"id": TEAM, "domain": "fake-school"},
        "enterprise": None,
        "is_enterprise_install": False,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b1",
                "text": {"type": "plain_text", "text": "button", "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    if channel:
        payload["channel"] = {"id": channel, "name": "general"}
    if response_url:
        payload["response_url"] = response_url
    if container_type == "message" and not is_ephemeral:
        payload["message"] = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "ts": message_ts}
        if thread_ts:
            payload["message"]["thread_ts"] = thread_ts
    if container_type == "view":
        payload["view"] = {"id": "V0TEST", "type": "home", "blocks": []}
    return payload


def actions_body(payload: dict[str, Any]) -> str:
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


_event_ids = itertools.count(1)


def event_callback(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """An Events API envelope (HTTP body, or the Socket Mode ``events_api`` payload)."""
    return {
        "token": "legacy-verification-token-unused",
        "team_id": TEAM,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_event_ids):08d}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True, "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
    }


def app_mention(
    text: str, user: str = "U0STUDENT1", channel: str = "C0GENERAL", ts: str = "1700000001.000200"
) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "team": TEAM,
    }


def direct_message(
    text: str, user: str = "U0STUDENT1", channel: str = "D0STUDENT1", ts: str = "1700000002.000300"
) -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "team": TEAM,
    }


def app_home_opened(user: str = "U0STUDENT1") -> dict[str, Any]:
    return {"type": "app_home_opened", "user": user, "channel": "D0STUDENT1", "tab": "home", "event_ts": "1.2"}


# -- the app under test, served over real HTTP on loopback --------------------------------------------------


def app_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_mode": "http",
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_app_token": APP_TOKEN,
    }
    return Settings(**{**values, **overrides})


@dataclass
class Reply:
    status: int
    text: str


@dataclass
class SlackHarness:
    """Our bolt app behind a real aiohttp server on 127.0.0.1, its Web API client pointed at ``fake``."""

    fake: FakeSlack
    app: AsyncApp
    work: Answers
    url: str
    session: aiohttp.ClientSession

    async def post(self, body: str, content_type: str, headers: dict[str, str] | None = None) -> Reply:
        all_headers = {"Content-Type": content_type, **sign(body), **(headers or {})}
        async with self.session.post(self.url, data=body.encode(), headers=all_headers) as response:
            return Reply(response.status, await response.text())

    async def command(self, command: str, text: str = "", **fields: str) -> tuple[Reply, str]:
        """Send a signed slash command; returns the HTTP answer and the command's response_url."""
        response_url = self.fake.response_url()
        body = form_body(slash_command(command, text, response_url, **fields))
        return await self.post(body, FORM), response_url

    async def click(self, value: str, action_id: str = "choice-0", **kwargs: Any) -> tuple[Reply, str]:
        response_url = kwargs.pop("response_url", None) or self.fake.response_url()
        payload = block_actions(value, action_id, response_url, **kwargs)
        return await self.post(actions_body(payload), FORM), response_url

    async def event(self, event: dict[str, Any], event_id: str | None = None, retry: int | None = None) -> Reply:
        body = json.dumps(event_callback(event, event_id))
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        return await self.post(body, JSON, headers)

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every acknowledged request has been answered."""
        assert await self.work.drain(timeout), "the app did not finish its work in time"

    async def answers(self, response_url: str) -> list[dict[str, Any]]:
        await self.settle()
        path = urllib.parse.urlparse(response_url).path
        return [c.body for c in self.fake.calls("response_url") if c.path == path]


@asynccontextmanager
async def serve_app(
    advisor: Advisor,
    fake: FakeSlack,
    guard: DeliveryGuard | None = None,
    settings: Settings | None = None,
    work: BackgroundWork | None = None,
    answers: Answers | None = None,
) -> AsyncIterator[SlackHarness]:
    """``answers`` sends answers elsewhere (answer worker processes); by default they are worked out in-process."""
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.base_url)
    work = work if work is not None else BackgroundWork()
    app = build_slack_app(advisor, settings or app_settings(), client=client, guard=guard, work=work, answers=answers)
    async with http_server(app, "127.0.0.1", 0) as port, aiohttp.ClientSession() as session:
        harness = SlackHarness(fake, app, answers or work, f"http://127.0.0.1:{port}{EVENTS_PATH}", session)
        try:
            yield harness
        finally:
            await (answers or work).drain(10.0)
