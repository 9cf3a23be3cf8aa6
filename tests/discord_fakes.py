"""A loopback fake of the Discord REST API, and raw gateway/interaction payloads shaped as Discord documents them.

The bot under test is the real one (``build_discord_bot``) with discord.py's real HTTP client: the only thing
that changes is where ``discord.http.Route.BASE`` points. Events go in through the real parsers
(``ConnectionState.parse_interaction_create`` / ``parse_message_create``), the same entry points the gateway
uses, so commands, autocomplete, buttons and messages travel discord.py's own code paths.

The fake behaves like Discord where the adapter could get it wrong: it rejects (400, code 50035) payloads over
Discord's documented limits, a second response to one interaction (40060), a response after the 3-second
deadline (10062), and it keeps the messages it created so that a test can click a button on them later.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import discord
import discord.http
from aiohttp import web

from bots.discord.bot import AdvisorBot, build_discord_bot
from core.advisor import Advisor
from core.config import Settings

APP_ID = 1_300_000_000_000_000_001
BOT_ID = APP_ID
BOT_NAME = "Legal Careers Advisor"
OWNER_ID = 1_300_000_000_000_000_002
GUILD_ID = 1_300_000_000_000_000_100
CHANNEL_ID = 1_300_000_000_000_000_200
ALICE = 1_300_000_000_000_000_301
BOB = 1_300_000_000_000_000_302
DM_CHANNELS = {ALICE: 1_300_000_000_000_000_401, BOB: 1_300_000_000_000_000_402}

EPHEMERAL = 1 << 6
LOADING = 1 << 7
DEADLINE_SECONDS = 3.0
COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")

_ids = itertools.count(1_400_000_000_000_000_000)


def snowflake() -> str:
    return str(next(_ids))


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())


# -- payload builders (shapes from discord-api-docs: resources/user, resources/message, interactions) ---------


def user_payload(user_id: int, name: str | None = None, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name or f"user{str(user_id)[-3:]}",
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


def member_payload(user_id: int) -> dict[str, Any]:
    return {
        "user": user_payload(user_id),
        "roles": [],
        "joined_at": now_iso(),
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "nick": None,
        "avatar": None,
        "permissions": "2248473465835073",
    }


def channel_payload(guild_id: int | None, user_id: int) -> dict[str, Any]:
    if guild_id is None:
        return {"id": str(DM_CHANNELS[user_id]), "type": 1, "recipients": [user_payload(user_id)], "flags": 0}
    return {
        "id": str(CHANNEL_ID),
        "type": 0,
        "guild_id": str(guild_id),
        "name": "career-centre",
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "flags": 0,
        "permissions": "2248473465835073",
    }


def interaction_payload(
    kind: int, data: dict[str, Any], user_id: int, guild_id: int | None, message: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload: kind 2 command, 3 component, 4 autocomplete. No guild means a bot DM."""
    payload: dict[str, Any] = {
        "id": snowflake(),
        "application_id": str(APP_ID),
        "type": kind,
        "data": data,
        "token": f"itoken-{snowflake()}",
        "version": 1,
        "locale": "en-US",
        "app_permissions": "2248473465835073",
        "entitlements": [],
        "attachment_size_limit": 10 * 1024 * 1024,
        "channel": channel_payload(guild_id, user_id),
        "channel_id": channel_payload(guild_id, user_id)["id"],
    }
    if guild_id is None:
        payload.update(user=user_payload(user_id), context=1, authorizing_integration_owners={"0": "0"})
    else:
        payload.update(
            guild_id=str(guild_id),
            guild_locale="en-US",
            member=member_payload(user_id),
            context=0,
            authorizing_integration_owners={"0": str(guild_id)},
        )
    if message is not None:
        payload["message"] = message
    return payload


def command_data(name: str, options: dict[str, Any] | None = None, focused: str | None = None) -> dict[str, Any]:
    """``data`` of a CHAT_INPUT command (or its autocomplete, with ``focused`` naming the option being typed)."""
    option_list = []
    for option_name, value in (options or {}).items():
        option: dict[str, Any] = {
            "name": option_name,
            "type": 5 if isinstance(value, bool) else 3,
            "value": value,
        }
        if option_name == focused:
            option["focused"] = True
        option_list.append(option)
    data: dict[str, Any] = {"id": snowflake(), "name": name, "type": 1}
    if option_list:
        data["options"] = option_list
    return data


def message_create_payload(
    content: str, author_id: int, guild_id: int | None, mention_bot: bool = False, mention_everyone: bool = False
) -> dict[str, Any]:
    """A MESSAGE_CREATE gateway event as a bot without MESSAGE_CONTENT receives it for a mention or a DM."""
    payload: dict[str, Any] = {
        "id": snowflake(),
        "channel_id": channel_payload(guild_id, author_id)["id"],
        "author": user_payload(author_id),
        "content": content,
        "timestamp": now_iso(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": mention_everyone,
        "mentions": [user_payload(BOT_ID, BOT_NAME, bot=True)] if mention_bot else [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
        "components": [],
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
        payload["member"] = {k: v for k, v in member_payload(author_id).items() if k != "user"}
    return payload


def buttons_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message.get("components", []) for c in row.get("components", []) if c.get("type") == 2]


def button(message: dict[str, Any], label: str | None = None, action_prefix: str | None = None) -> dict[str, Any]:
    """The first button with this label, or whose action (after ``lca:<owner>:``) starts with ``action_prefix``."""
    for candidate in buttons_of(message):
        action = candidate["custom_id"].split(":", 2)[2]
        if (label is None or candidate.get("label") == label) and (
            action_prefix is None or action.startswith(action_prefix)
        ):
            return candidate
    raise AssertionError(f"no button {label or action_prefix!r} in {[b.get('label') for b in buttons_of(message)]}")


# -- recorded traffic ---------------------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    status: int
    at: float
    query: dict[str, str] = field(default_factory=dict)

    @property
    def callback_type(self) -> int | None:
        return self.body.get("type") if self.path.endswith("/callback") else None

    @property
    def message_body(self) -> dict[str, Any]:
        """The message part of a request that carries one (callback ``data`` or a webhook/channel body)."""
        if self.path.endswith("/callback"):
            return self.body.get("data") or {}
        return self.body if isinstance(self.body, dict) else {}


class LimitError(ValueError):
    pass


def check_message_limits(body: dict[str, Any]) -> None:
    """Discord's documented limits for a message body (resources/message.mdx, components/reference.mdx)."""
    if len((body.get("content") or "").strip()) > 2000:
        raise LimitError("content over 2000")
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        raise LimitError("more than 10 embeds")
    total = 0
    for embed in embeds:
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise LimitError("more than 25 fields")
        parts = {
            "title": (embed.get("title") or "", 256),
            "description": (embed.get("description") or "", 4096),
            "footer": ((embed.get("footer") or {}).get("text") or "", 2048),
            "author": ((embed.get("author") or {}).get("name") or "", 256),
        }
        for name, (text, limit) in parts.items():
            if len(text.strip()) > limit:
                raise LimitError(f"embed {name} over {limit}")
            total += len(text.strip())
        for f in fields:
            if not f.get("name") or not f.get("value"):
                raise LimitError("empty field name or value")
            if len(f["name"]) > 256 or len(f["value"]) > 1024:
                raise LimitError("field over 256/1024")
            total += len(f["name"].strip()) + len(f["value"].strip())
    if total > 6000:
        raise LimitError(f"embeds total {total} over 6000")
    rows = body.get("components") or []
    if len(rows) > 5:
        raise LimitError("more than 5 action rows")
    seen: set[str] = set()
    for row in rows:
        if row.get("type") != 1 or not 1 <= len(row.get("components") or []) <= 5:
            raise LimitError("an action row needs 1-5 buttons")
        for item in row["components"]:
            if len(item.get("label") or "") > 80:
                raise LimitError("button label over 80")
            custom_id = item.get("custom_id")
            if item.get("style") != 5 and (not custom_id or len(custom_id) > 100):
                raise LimitError("custom_id missing or over 100")
            if custom_id in seen:
                raise LimitError("duplicate custom_id")
            seen.add(custom_id)
    mentions = body.get("allowed_mentions")
    if mentions is not None and set(mentions.get("parse", [])) - {"users", "roles", "everyone"}:
        raise LimitError("bad allowed_mentions")


def check_command_limits(commands: list[dict[str, Any]]) -> None:
    """application-commands.mdx: <=100 commands, names, descriptions 1-100, <=25 options, <=8000 chars each."""
    if len(commands) > 100:
        raise LimitError("more than 100 commands")
    for command in commands:
        if not COMMAND_NAME.match(command["name"]) or command["name"] != command["name"].lower():
            raise LimitError(f"bad command name {command['name']!r}")
        if not 1 <= len(command.get("description", "")) <= 100:
            raise LimitError(f"description of {command['name']} not 1-100")
        options = command.get("options") or []
        if len(options) > 25:
            raise LimitError("more than 25 options")
        size = len(command["name"]) + len(command.get("description", ""))
        for option in options:
            if not COMMAND_NAME.match(option["name"]) or not 1 <= len(option.get("description", "")) <= 100:
                raise LimitError(f"bad option {option['name']!r}")
            if option.get("autocomplete") and option.get("choices"):
                raise LimitError("autocomplete together with choices")
            size += len(option["name"]) + len(option["description"])
            size += sum(len(c["name"]) + len(str(c["value"])) for c in option.get("choices") or [])
        if size > 8000:
            raise LimitError("command over 8000 characters")


def check_autocomplete_limits(choices: list[dict[str, Any]]) -> None:
    if len(choices) > 25:
        raise LimitError("more than 25 autocomplete choices")
    for choice in choices:
        if not 1 <= len(choice["name"]) <= 100 or len(str(choice["value"])) > 100:
            raise LimitError("autocomplete choice name/value length")


# -- the fake server ----------------------------------------------------------------------------------------


class FakeDiscord:
    """``async with FakeDiscord() as fake:`` serves 127.0.0.1 and points discord.py at it until exit."""

    def __init__(self, deadline: float = DEADLINE_SECONDS) -> None:
        self.deadline = deadline
        self.requests: list[Recorded] = []
        self.messages: dict[str, dict[str, Any]] = {}
        self.rejected: list[tuple[Recorded, str]] = []
        self._originals: dict[str, str] = {}
        self._issued: dict[str, float] = {}
        self._answered: set[str] = set()
        self._fail_next: list[tuple[re.Pattern[str], int, dict[str, Any]]] = []
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._saved_base = discord.http.Route.BASE
        self.port = 0

    # lifecycle

    async def __aenter__(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_route("*", "/api/v10/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        # Route computes its URL from BASE when constructed, so every later request comes here.
        discord.http.Route.BASE = f"http://127.0.0.1:{self.port}/api/v10"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        discord.http.Route.BASE = self._saved_base
        if self._runner is not None:
            await asyncio.wait_for(self._runner.cleanup(), timeout=5)

    # making events

    def _issue(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._issued[payload["token"]] = time.monotonic()
        return payload

    def slash(self, name: str, user_id: int = ALICE, guild_id: int | None = GUILD_ID, **options: Any) -> dict[str, Any]:
        return self._issue(interaction_payload(2, command_data(name, options), user_id, guild_id))

    def autocomplete(
        self, name: str, focused: str, user_id: int = ALICE, guild_id: int | None = GUILD_ID, **options: Any
    ) -> dict[str, Any]:
        return self._issue(interaction_payload(4, command_data(name, options, focused), user_id, guild_id))

    def click(
        self, message: dict[str, Any], custom_id: str, user_id: int = ALICE, guild_id: int | None = GUILD_ID
    ) -> dict[str, Any]:
        """A button press on a message this fake created (so its components are what the bot really sent)."""
        data = {"custom_id": custom_id, "component_type": 2}
        payload = interaction_payload(3, data, user_id, guild_id, message=dict(message))
        self._originals[payload["token"]] = message["id"]
        return self._issue(payload)

    # waiting for what the bot sent

    async def wait_for(self, predicate: Callable[[Recorded], bool], after: int = 0, timeout: float = 5.0) -> Recorded:
        """The first request from index ``after`` on that matches; fails the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            # Clear before scanning: no await in between, so a request cannot slip past unnoticed.
            self._changed.clear()
            for recorded in self.requests[after:]:
                if predicate(recorded):
                    return recorded
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [(r.method, r.path, r.status) for r in self.requests[after:]]
                raise AssertionError(f"no matching request within {timeout}s; saw {seen}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=remaining)

    async def response_to(self, payload: dict[str, Any], after: int = 0, timeout: float = 5.0) -> Recorded:
        """The interaction callback for this interaction payload."""
        token = payload["token"]
        return await self.wait_for(lambda r: r.path.endswith(f"/{token}/callback"), after, timeout)

    async def settle(self, quiet: float = 0.15, timeout: float = 5.0) -> None:
        """Wait until no request has arrived for ``quiet`` seconds (for asserting that nothing more is sent)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            count = len(self.requests)
            await asyncio.sleep(quiet)
            if len(self.requests) == count:
                return
        raise AssertionError("the bot kept sending requests")

    def outgoing_messages(self, after: int = 0) -> list[Recorded]:
        """Every request that sends or edits message content (callbacks 4/7, follow-ups, edits, channel posts)."""
        return [
            r
            for r in self.requests[after:]
            if (r.callback_type in (4, 7))
            or (
                r.method in ("POST", "PATCH")
                and "/callback" not in r.path
                and r.path.startswith(("/webhooks/", "/channels/"))
            )
        ]

    def message(self, message_id: str) -> dict[str, Any]:
        return self.messages[message_id]

    def original(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The message an interaction's response created or edited (``@original``)."""
        return self.messages[self._originals[payload["token"]]]

    def fail_next(self, path_pattern: str, status: int = 500, body: dict[str, Any] | None = None) -> None:
        """Make the next request whose path matches fail, as Discord does on an outage or a rejected payload."""
        self._fail_next.append(
            (re.compile(path_pattern), status, body or {"message": "Internal Server Error", "code": 0})
        )

    # the server

    async def _handle(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body: Any = None
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
            else:
                body = await request.text()
        recorded = Recorded(request.method, path, body, 200, time.monotonic(), dict(request.query))
        self.requests.append(recorded)
        try:
            for index, (pattern, status, error) in enumerate(self._fail_next):
                if pattern.search(path):
                    del self._fail_next[index]
                    recorded.status = status
                    return _json(error, status)
            result = self._route(request.method, path, body)
        except LimitError as exc:
            recorded.status = 400
            self.rejected.append((recorded, str(exc)))
            return _json({"message": "Invalid Form Body", "code": 50035, "errors": {"detail": str(exc)}}, 400)
        except _Refused as exc:
            recorded.status = exc.status
            self.rejected.append((recorded, exc.message))
            return _json({"message": exc.message, "code": exc.code}, exc.status)
        finally:
            self._changed.set()
        if result is None:
            recorded.status = 204
            return web.Response(status=204)
        return _json(result, 200)

    def _route(self, method: str, path: str, body: Any) -> Any:
        parts = path.strip("/").split("/")
        if method == "GET" and path == "/users/@me":
            return user_payload(BOT_ID, BOT_NAME, bot=True)
        if method == "GET" and path == "/oauth2/applications/@me":
            return {
                "id": str(APP_ID),
                "name": BOT_NAME,
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": user_payload(OWNER_ID),
                "flags": 0,
                "team": None,
            }
        if method == "POST" and parts[0] == "interactions" and parts[-1] == "callback":
            return self._callback(parts[1], parts[2], body)
        if parts[0] == "webhooks" and len(parts) >= 3:
            return self._webhook(method, parts[2], parts[4] if len(parts) >= 5 else None, body)
        if method == "POST" and parts[0] == "channels" and parts[-1] == "messages":
            check_message_limits(body)
            return self._new_message(parts[1], body)
        if method == "PUT" and parts[0] == "applications" and parts[-1] == "commands":
            check_command_limits(body)
            guild_id = parts[3] if len(parts) == 5 else None
            return [
                {
                    **command,
                    "id": snowflake(),
                    "application_id": str(APP_ID),
                    "version": snowflake(),
                    **({"guild_id": guild_id} if guild_id else {}),
                }
                for command in body
            ]
        raise _Refused(404, 0, f"fake Discord has no route {method} {path}")

    def _callback(self, interaction_id: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        issued = self._issued.get(token)
        if issued is None or time.monotonic() - issued > self.deadline:
            raise _Refused(404, 10062, "Unknown interaction")
        if interaction_id in self._answered:
            raise _Refused(400, 40060, "Interaction has already been acknowledged.")
        kind = body["type"]
        data = body.get("data") or {}
        reply: dict[str, Any] = {"interaction": {"id": interaction_id, "type": 2}}
        message: dict[str, Any] | None = None
        if kind == 4:
            check_message_limits(data)
            message = self._new_message(self._channel_of(token), data)
            self._originals[token] = message["id"]
        elif kind == 5:
            message = self._new_message(self._channel_of(token), {"flags": (data.get("flags") or 0) | LOADING})
            self._originals[token] = message["id"]
        elif kind == 7:
            check_message_limits(data)
            message = self._edit(self._originals[token], data)
        elif kind == 8:
            check_autocomplete_limits(data.get("choices") or [])
        elif kind != 6:
            raise _Refused(400, 50035, f"unexpected callback type {kind}")
        self._answered.add(interaction_id)
        if message is not None:
            reply["interaction"].update(
                response_message_id=message["id"],
                response_message_loading=bool(message["flags"] & LOADING),
                response_message_ephemeral=bool(message["flags"] & EPHEMERAL),
            )
            reply["resource"] = {"type": kind, "message": message}
        return reply

    def _webhook(self, method: str, token: str, target: str | None, body: Any) -> Any:
        if token not in self._issued or time.monotonic() - self._issued[token] > 15 * 60:
            raise _Refused(401, 50027, "Invalid Webhook Token")
        if method == "POST" and target is None:
            check_message_limits(body)
            original = self.messages.get(self._originals.get(token, ""))
            if original is not None and original["flags"] & LOADING:
                # Discord: the first follow-up after a "thinking" defer edits the loading message instead.
                return self._edit(original["id"], {k: v for k, v in body.items() if k != "flags"})
            return self._new_message(self._channel_of(token), body)
        message_id = self._originals.get(token) if target == "@original" else target
        if message_id is None or message_id not in self.messages:
            raise _Refused(404, 10008, "Unknown Message")
        if method == "PATCH":
            check_message_limits(body)
            return self._edit(message_id, body)
        if method == "DELETE":
            del self.messages[message_id]
            return None
        return self.messages[message_id]

    def _channel_of(self, token: str) -> str:
        # Interactions here come from the test channel or a DM; the channel only matters for display.
        return str(CHANNEL_ID)

    def _new_message(self, channel_id: str, body: dict[str, Any]) -> dict[str, Any]:
        message = {
            "id": snowflake(),
            "channel_id": channel_id,
            "author": user_payload(BOT_ID, BOT_NAME, bot=True),
            "content": body.get("content") or "",
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "pinned": False,
            "type": 0,
            "flags": body.get("flags") or 0,
            "components": body.get("components") or [],
        }
        self.messages[message["id"]] = message
        return message

    def _edit(self, message_id: str, body: dict[str, Any]) -> dict[str, Any]:
        message = self.messages[message_id]
        for key in ("content", "embeds", "components"):
            if key in body:
                message[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
        message["flags"] = message["flags"] & ~LOADING
        message["edited_timestamp"] = now_iso()
        return message


class _Refused(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _json(data: Any, status: int) -> web.Response:
    # Exactly "application/json": discord.py parses JSON only for that content type (http.json_or_text).
    # aiohttp's json_response would append "; charset=utf-8", so the header is set by hand.
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


# -- running the real bot against the fake --------------------------------------------------------------------

FAKE_TOKEN = "fake.discord.token"


@asynccontextmanager
async def running_bot(advisor: Advisor, settings: Settings | None = None, **options: Any) -> AsyncIterator[AdvisorBot]:
    """The production bot, logged in to the fake (REST only: no gateway, so events are fed in by the test)."""
    bot = build_discord_bot(advisor, settings or Settings(discord_token=FAKE_TOKEN), **options)
    async with bot:  # runs setup_hook, as at start-up
        await asyncio.wait_for(bot.login(FAKE_TOKEN), timeout=5)
        yield bot


def deliver(bot: discord.Client, payload: dict[str, Any]) -> dict[str, Any]:
    """Hand an INTERACTION_CREATE payload to discord.py exactly as the gateway reader does."""
    bot._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
    return payload


def deliver_message(bot: discord.Client, payload: dict[str, Any]) -> dict[str, Any]:
    """Hand a MESSAGE_CREATE payload to discord.py exactly as the gateway reader does."""
    bot._connection.parse_message_create(payload)  # type: ignore[arg-type]
    return payload
