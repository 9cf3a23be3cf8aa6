"""The Discord bot: slash commands, buttons, mentions and DMs in; ``Advisor.handle`` out; embeds and buttons back.

It only translates. Deciding what to say is the core's job; this module decides how Discord shows it (public or
ephemeral, a new message or an edit in place) and keeps to Discord's rules: an answer or a deferral within three
seconds, nothing that can ping anyone, no privileged intents.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine
from typing import Any

import discord
from discord import app_commands

from core.advisor import Advisor
from core.config import Settings
from core.reply import Choice, ChoiceStyle, Command, Reply, ReplyKind, Request, Section

from .render import ANYONE, CUSTOM_ID_TEMPLATE, OutgoingMessage, is_owner_only, plain_notice, render_reply
from .views import AdvisorButton, build_view

log = logging.getLogger("advisor.discord")

PLATFORM = "discord"
NO_PINGS = discord.AllowedMentions.none()
"""Sent with everything: text that quotes a user's ``@everyone`` or ``<@&role>`` must never ping anyone."""

RESPOND_WITHIN = 1.5
"""Seconds to wait for the core before deferring. Discord's 3 s deadline also covers network time both ways."""

NOT_YOUR_QUIZ = (
    "This quiz belongs to someone else, so only they can answer it. "
    "Start your own with /career-quiz: only you will see your answers."
)
QUIZ_IS_PRIVATE = (
    "The quiz is private: press the button and the questions will appear where only you can see them. "
    "You can also use /career-quiz."
)
SENT_PRIVATELY = "I've sent my answer to you privately."
STALE_COMMAND = "That command is out of date. Please try again in a minute, or use /career-help."
QUESTION_MAX_CHARS = 1000
"""The core reads only the beginning of a question anyway; this keeps pasted essays out of the payload."""

_PRIVATE_COMMANDS = frozenset({Command.QUIZ, Command.QUIZ_RESTART, Command.HELP, Command.FORGET})


def workspace_of(guild_id: int | None) -> str:
    return str(guild_id) if guild_id else "dm"


class AdvisorTree(app_commands.CommandTree["AdvisorBot"]):
    async def on_error(
        self, interaction: discord.Interaction[AdvisorBot], error: app_commands.AppCommandError, /
    ) -> None:
        # Reached for failures outside our callbacks (which handle their own): unknown or out-of-date commands,
        # failed checks, transformer errors. Log, then give the user something better than "did not respond".
        name = interaction.command.qualified_name if interaction.command else (interaction.data or {}).get("name")
        log.error("discord command %r failed for user %s", name, interaction.user.id, exc_info=error)
        if interaction.type is discord.InteractionType.autocomplete:
            return
        text = STALE_COMMAND if isinstance(error, app_commands.CommandNotFound) else self.client.error_text
        try:
            await self.client.tell_privately(interaction, text)
        except discord.HTTPException as exc:  # the interaction may be gone (10062) or Discord unreachable
            log.warning("could not tell discord user %s about the failure: %s", interaction.user.id, exc)


class AdvisorBot(discord.Client):
    """The Discord adapter around one ``Advisor``. Use ``build_discord_bot`` to create it."""

    def __init__(
        self,
        advisor: Advisor,
        settings: Settings,
        *,
        respond_within: float = RESPOND_WITHIN,
        **options: Any,
    ) -> None:
        # Intents.default() has no privileged intent: mentions and DMs carry their text without MESSAGE_CONTENT,
        # and slash commands and buttons bring their data in the interaction itself.
        super().__init__(intents=discord.Intents.default(), allowed_mentions=NO_PINGS, **options)
        self.advisor = advisor
        self.public_answers = settings.discord_public_answers
        self.respond_within = respond_within
        self.tree = AdvisorTree(
            self,
            allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True),
            allowed_installs=app_commands.AppInstallationType(guild=True, user=False),
        )
        for command in build_commands():
            self.tree.add_command(command)

    async def setup_hook(self) -> None:
        # Buttons survive restarts because this template is registered before any interaction can arrive.
        # Commands are NOT synced here: that is `advisor discord sync`, since creates are rate limited per day.
        self.add_dynamic_items(AdvisorButton)

    @property
    def error_text(self) -> str:
        return self.advisor.kb.texts.error

    def render(self, reply: Reply, owner_id: int) -> list[OutgoingMessage]:
        extra: tuple[tuple[str, str], ...] = ()
        if reply.kind is ReplyKind.HELP:
            # The core's help is platform-neutral; here the slash commands are the way in, so list them with
            # their descriptions (the same text Discord shows in the command picker).
            lines = [
                f"`/{c.name}` {c.description}" for c in self.tree.get_commands() if isinstance(c, app_commands.Command)
            ]
            extra = (("Slash commands", "\n".join(lines)),)
        return render_reply(reply, owner_id=owner_id, extra_fields=extra)

    # -- slash commands ----------------------------------------------------------------------------------

    async def run_command(
        self, interaction: discord.Interaction[Any], command: Command, text: str | None = None
    ) -> None:
        request = Request(
            PLATFORM,
            workspace_of(interaction.guild_id),
            str(interaction.user.id),
            text=text,
            command=command,
            channel=str(interaction.channel_id) if interaction.channel_id else None,
        )
        # Guess privacy in case the core is slow and we must defer before seeing the reply (see _answer).
        private_guess = command in _PRIVATE_COMMANDS or not self.public_answers
        await self._guarded(
            interaction, self._answer(interaction, request, edit_in_place=False, private_guess=private_guess)
        )

    # -- buttons -----------------------------------------------------------------------------------------

    async def handle_click(self, interaction: discord.Interaction[Any], owner_id: int | None, action: str) -> None:
        owner_only = is_owner_only(action)
        if owner_only and owner_id != interaction.user.id:
            await self._guarded(interaction, self.tell_privately(interaction, NOT_YOUR_QUIZ))
            return
        request = Request(
            PLATFORM,
            workspace_of(interaction.guild_id),
            str(interaction.user.id),
            action=action,
            channel=str(interaction.channel_id) if interaction.channel_id else None,
        )
        from_private = bool(interaction.message and interaction.message.flags.ephemeral)
        await self._guarded(
            interaction,
            # Quiz steps edit the message they were clicked on; other buttons answer with a new message.
            self._answer(
                interaction, request, edit_in_place=owner_only, private_guess=from_private or not self.public_answers
            ),
        )

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        # discord.py hands a click to AdvisorButton only if the clicked custom_id is still on the message in the
        # payload. A fast double click arrives after the first click edited the message, so discord.py would drop
        # it and the user would see "This interaction failed". Route exactly those clicks to the same handler;
        # the core answers a stale click with the quiz's current question.
        if interaction.type is not discord.InteractionType.component:
            return
        custom_id = str((interaction.data or {}).get("custom_id", ""))
        match = re.fullmatch(CUSTOM_ID_TEMPLATE, custom_id)
        if match is None or _on_message(interaction.message, custom_id):
            return
        owner = match["owner"]
        await self.handle_click(interaction, None if owner == ANYONE else int(owner), match["action"])

    # -- the one place interactions are answered ---------------------------------------------------------

    async def _answer(
        self, interaction: discord.Interaction[Any], request: Request, *, edit_in_place: bool, private_guess: bool
    ) -> None:
        reply_task = asyncio.ensure_future(self.advisor.handle(request))
        deferred_private: bool | None = None
        try:
            # Usually the core answers in milliseconds: one response, no "thinking..." flicker.
            reply = await asyncio.wait_for(asyncio.shield(reply_task), timeout=self.respond_within)
        except TimeoutError:
            # A slow session store must not cost us the 3 s deadline: acknowledge now, answer when ready.
            if edit_in_place:
                await interaction.response.defer()
            else:
                await interaction.response.defer(ephemeral=private_guess, thinking=True)
                deferred_private = private_guess
            reply = await reply_task
        from_private = bool(interaction.message and interaction.message.flags.ephemeral)
        private = reply.ephemeral or from_private or not self.public_answers
        if reply.kind is ReplyKind.ERROR:
            log.warning("core returned an error reply (%s) for discord user %s", reply.meta.get("error"), request.user)
        messages = self.render(reply, interaction.user.id)
        replace = edit_in_place and reply.replace_previous
        await self._deliver(interaction, messages, replace=replace, private=private, deferred_private=deferred_private)

    async def _deliver(
        self,
        interaction: discord.Interaction[Any],
        messages: list[OutgoingMessage],
        *,
        replace: bool,
        private: bool,
        deferred_private: bool | None,
    ) -> None:
        """Send the rendered messages: the first as the interaction response, the rest as follow-ups.

        ``deferred_private`` is the visibility chosen when deferring with "thinking" (None if that did not happen).
        """
        first, rest = messages[0], messages[1:]
        # A split reply keeps its buttons on its last part (render_reply), so most first parts have none.
        first_view = build_view(first.buttons)
        response = interaction.response
        if not response.is_done():
            if replace:
                await response.edit_message(embeds=first.embeds, view=first_view, allowed_mentions=NO_PINGS)
            else:
                await response.send_message(
                    embeds=first.embeds,
                    view=first_view or discord.utils.MISSING,
                    ephemeral=private,
                    allowed_mentions=NO_PINGS,
                )
        elif deferred_private is None:
            # Deferred as an update of the clicked message (a quiz step).
            if replace:
                await interaction.edit_original_response(
                    embeds=first.embeds, view=first_view, allowed_mentions=NO_PINGS
                )
            else:
                rest = messages
        elif private and not deferred_private:
            # The "thinking" message is public but this reply is personal: never show it to everyone.
            await interaction.edit_original_response(content=SENT_PRIVATELY, allowed_mentions=NO_PINGS)
            rest = messages
        else:
            # The "thinking" message must be replaced; its visibility was fixed when deferring.
            await interaction.edit_original_response(embeds=first.embeds, view=first_view, allowed_mentions=NO_PINGS)
        for message in rest:
            await interaction.followup.send(
                embeds=message.embeds,
                view=build_view(message.buttons) or discord.utils.MISSING,
                ephemeral=private,
                allowed_mentions=NO_PINGS,
            )

    async def tell_privately(self, interaction: discord.Interaction[Any], text: str) -> None:
        """A short ephemeral note (refusals, errors), whether or not the interaction was answered already."""
        if interaction.type is discord.InteractionType.autocomplete:
            return
        if interaction.response.is_done():
            await interaction.followup.send(plain_notice(text), ephemeral=True, allowed_mentions=NO_PINGS)
        else:
            await interaction.response.send_message(plain_notice(text), ephemeral=True, allowed_mentions=NO_PINGS)

    async def _guarded(self, interaction: discord.Interaction[Any], work: Coroutine[Any, Any, None]) -> None:
        """Run an interaction handler; on failure log it and tell the user, and keep the bot running."""
        try:
            await work
        except Exception:
            data = interaction.data or {}
            log.exception(
                "discord interaction failed (type=%s command=%r custom_id=%r user=%s guild=%s)",
                interaction.type.name,
                data.get("name"),
                data.get("custom_id"),
                interaction.user.id,
                interaction.guild_id,
            )
            try:
                await self.tell_privately(interaction, self.error_text)
            except Exception as exc:  # the interaction may be gone (10062) or Discord unreachable
                log.warning("could not tell discord user %s about the failure: %s", interaction.user.id, exc)

    # -- mentions and DMs --------------------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        if self.user is None or message.author.bot or message.webhook_id is not None:
            return  # never answer bots (ourselves included): two bots could answer each other forever
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        guild_id = message_guild_id(message)
        if guild_id is not None and not any(user.id == self.user.id for user in message.mentions):
            # Not for us. (Without MESSAGE_CONTENT we would not even see the text.) @everyone does not count.
            return
        text = strip_mention(message.content, self.user.id)
        request = Request(
            PLATFORM,
            workspace_of(guild_id),
            str(message.author.id),
            text=text,
            command=Command.ASK,
            channel=str(message.channel.id),
        )
        try:
            reply = await self.advisor.handle(request)
            if guild_id is not None and reply.kind is ReplyKind.QUIZ_QUESTION:
                # A reply to a channel message cannot be ephemeral, and quiz answers are personal.
                reply = quiz_invitation(reply)
            messages = self.render(reply, message.author.id)
            for index, outgoing in enumerate(messages):
                view = build_view(outgoing.buttons) or discord.utils.MISSING
                if index == 0:
                    await message.reply(
                        embeds=outgoing.embeds, view=view, mention_author=False, allowed_mentions=NO_PINGS
                    )
                else:
                    await message.channel.send(embeds=outgoing.embeds, view=view, allowed_mentions=NO_PINGS)
        except Exception:
            log.exception("discord message handling failed (user=%s guild=%s)", message.author.id, guild_id)
            try:
                await message.channel.send(plain_notice(self.error_text), allowed_mentions=NO_PINGS)
            except Exception as exc:
                log.warning("could not tell discord user %s about the failure: %s", message.author.id, exc)


def _on_message(message: discord.Message | None, custom_id: str) -> bool:
    """Whether discord.py's DynamicItem dispatch will find this custom_id among the message's components."""
    if message is None:
        return False
    pending: list[Any] = list(message.components)
    while pending:
        component = pending.pop()
        if getattr(component, "custom_id", None) == custom_id:
            return True
        pending.extend(getattr(component, "children", ()))
    return False


def message_guild_id(message: discord.Message) -> int | None:
    """The guild a message came from, or None for a DM (also when the guild is not in the cache yet)."""
    if message.guild is not None:
        return message.guild.id
    guild_id = getattr(message.channel, "guild_id", None)
    return int(guild_id) if guild_id else None


def strip_mention(content: str, bot_id: int) -> str:
    return re.sub(rf"<@!?{bot_id}>", " ", content).strip()


def quiz_invitation(reply: Reply) -> Reply:
    return Reply(
        ReplyKind.NOTICE,
        reply.title,
        (Section(QUIZ_IS_PRIVATE),),
        choices=(Choice("Take the quiz privately", "quiz:start", ChoiceStyle.PRIMARY),),
    )


# -- command definitions -----------------------------------------------------------------------------------


def _bot(interaction: discord.Interaction[Any]) -> AdvisorBot:
    client = interaction.client
    if not isinstance(client, AdvisorBot):
        raise TypeError("advisor commands need an AdvisorBot client")
    return client


async def question_autocomplete(interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
    """Canonical questions from the knowledge base that share words with what the user is typing."""
    try:
        entries = _bot(interaction).advisor.kb.entries
        words = [w for w in re.findall(r"[a-z0-9']+", current.casefold()) if len(w) > 2]
        scored = []
        for position, entry in enumerate(entries):
            question = entry.question.casefold()
            score = sum(1 for w in words if w in question)
            if score or not words:
                scored.append((-score, position, entry.question))
        scored.sort()
        # Discord rejects more than 25 choices, and names/values over 100 characters; discord.py does not check.
        return [app_commands.Choice(name=q[:100], value=q[:100]) for _, _, q in scored[:25]]
    except Exception:
        log.exception("question autocomplete failed")
        return []


async def role_autocomplete(interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
    """The roles whose name or aliases contain what the user is typing."""
    try:
        needle = current.casefold().strip()
        choices = []
        for role in _bot(interaction).advisor.kb.roles:
            names = [role.name, role.plural, *role.aliases]
            if not needle or any(needle in name.casefold() for name in names):
                choices.append(app_commands.Choice(name=role.name[:100], value=role.id[:100]))
        return choices[:25]
    except Exception:
        log.exception("role autocomplete failed")
        return []


def _role_text(advisor: Advisor, value: str) -> str:
    """Autocomplete sends role ids, but a user may also type free text ("para"); the core understands names."""
    ids = advisor.kb.role_ids()
    return advisor.kb.role(value).name if value in ids else value


def build_commands() -> list[app_commands.Command[Any, ..., None]]:
    """Fresh command objects for one tree. Docstrings are the descriptions users see in Discord (<= 100 chars)."""

    @app_commands.command(name="career")
    @app_commands.describe(question="Your question, e.g. what does a paralegal do?")
    @app_commands.autocomplete(question=question_autocomplete)
    async def career(
        interaction: discord.Interaction[Any], question: app_commands.Range[str, 1, QUESTION_MAX_CHARS]
    ) -> None:
        """Ask about legal secretary, paralegal and legal assistant careers."""
        await _bot(interaction).run_command(interaction, Command.ASK, question)

    @app_commands.command(name="career-quiz")
    @app_commands.describe(restart="Start again from the first question instead of resuming")
    async def career_quiz(interaction: discord.Interaction[Any], restart: bool = False) -> None:
        """Take the career-fit quiz (only you see it)."""
        await _bot(interaction).run_command(interaction, Command.QUIZ_RESTART if restart else Command.QUIZ)

    @app_commands.command(name="career-compare")
    @app_commands.describe(first="A role", second="Another role")
    @app_commands.autocomplete(first=role_autocomplete, second=role_autocomplete)
    async def career_compare(
        interaction: discord.Interaction[Any],
        first: app_commands.Range[str, 1, 100],
        second: app_commands.Range[str, 1, 100],
    ) -> None:
        """Compare two legal-support roles side by side."""
        bot = _bot(interaction)
        text = f"{_role_text(bot.advisor, first)} vs {_role_text(bot.advisor, second)}"
        await bot.run_command(interaction, Command.COMPARE, text)

    @app_commands.command(name="career-roles")
    async def career_roles(interaction: discord.Interaction[Any]) -> None:
        """The three legal-support roles, one line each."""
        await _bot(interaction).run_command(interaction, Command.ROLES)

    @app_commands.command(name="career-help")
    async def career_help(interaction: discord.Interaction[Any]) -> None:
        """What this bot can do and how to ask."""
        await _bot(interaction).run_command(interaction, Command.HELP)

    @app_commands.command(name="career-forget")
    async def career_forget(interaction: discord.Interaction[Any]) -> None:
        """Delete what the bot remembers about you (quiz progress, conversation)."""
        await _bot(interaction).run_command(interaction, Command.FORGET)

    return [career, career_quiz, career_compare, career_roles, career_help, career_forget]


class ShardedAdvisorBot(AdvisorBot, discord.AutoShardedClient):
    """All shards in one process; Discord requires sharding from 2,500 servers."""


def _shard_options(settings: Settings) -> dict[str, Any]:
    if settings.discord_shard_count <= 0:
        return {}
    options: dict[str, Any] = {"shard_count": settings.discord_shard_count}
    if settings.discord_shard_ids.strip():
        try:
            options["shard_ids"] = [int(part) for part in settings.discord_shard_ids.split(",") if part.strip()]
        except ValueError as exc:
            raise SystemExit(
                "Configuration error: DISCORD_SHARD_IDS must be comma-separated numbers, "
                f"got {settings.discord_shard_ids!r}"
            ) from exc
    return options


def build_discord_bot(advisor: Advisor, settings: Settings, **options: Any) -> AdvisorBot:
    """The bot as production runs it; tests build it the same way."""
    shard_options = _shard_options(settings)
    if shard_options:
        return ShardedAdvisorBot(advisor, settings, **shard_options, **options)
    return AdvisorBot(advisor, settings, **options)
