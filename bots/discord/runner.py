"""Start the Discord bot (``advisor discord``, ``advisor run``) and register its commands (``advisor discord sync``)."""

from __future__ import annotations

import asyncio
import logging
import sys

import discord

from core.advisor import Advisor
from core.config import Settings
from core.runtime import build_advisor
from core.sessions import MemorySessionStore

from .bot import AdvisorBot, build_discord_bot

log = logging.getLogger("advisor.discord")

NO_TOKEN = "DISCORD_TOKEN is not set. See docs/discord.md for creating the application and its token."


async def start_discord(advisor: Advisor, settings: Settings) -> None:
    """Run the bot until cancelled (the ``advisor run`` launcher awaits this next to the other adapters).

    Commands are not synced here: Discord limits command creates per day, so that is ``advisor discord sync``.
    """
    if not settings.discord_token:
        raise RuntimeError(NO_TOKEN)
    bot = build_discord_bot(advisor, settings)
    async with bot:  # closes the gateway and the HTTP session on cancellation too
        await bot.start(settings.discord_token)


def run_discord(settings: Settings) -> int:
    """``advisor discord``: the bot on its own, with the session store closed on the way out."""
    if not settings.discord_configured:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    advisor = build_advisor(settings)

    async def main() -> None:
        try:
            await start_discord(advisor, settings)
        finally:
            await advisor.store.close()

    try:
        asyncio.run(main())
    except discord.LoginFailure:
        print("Discord rejected DISCORD_TOKEN. Reset the token in the Developer Portal (Bot page).", file=sys.stderr)
        return 1
    except discord.PrivilegedIntentsRequired:
        # Cannot happen with Intents.default(); kept so a future change fails with a clear message.
        print("The bot asked for a privileged intent; it does not need one (see docs/discord.md).", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


async def sync_tree(bot: AdvisorBot, guild_id: int | None) -> list[discord.app_commands.AppCommand]:
    """Register the commands: with a guild, instantly and only there (testing); without, everywhere."""
    if guild_id is not None:
        guild = discord.Object(id=guild_id)
        bot.tree.copy_global_to(guild=guild)
        return await bot.tree.sync(guild=guild)
    return await bot.tree.sync()


async def sync_commands_async(settings: Settings, guild_id: int | None) -> list[discord.app_commands.AppCommand]:
    # Only the command definitions are needed: no sessions, no misses log, no gateway connection.
    advisor = build_advisor(settings, store=MemorySessionStore(), log_misses=False)
    bot = build_discord_bot(advisor, settings)
    async with bot:
        await bot.login(settings.discord_token)
        return await sync_tree(bot, guild_id)


def sync_commands(settings: Settings, guild_id: int | None) -> int:
    """``advisor discord sync [--guild ID]``. Run it after changing commands, not on every start (rate limits)."""
    if not settings.discord_configured:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    try:
        synced = asyncio.run(sync_commands_async(settings, guild_id))
    except discord.LoginFailure:
        print("Discord rejected DISCORD_TOKEN. Reset the token in the Developer Portal (Bot page).", file=sys.stderr)
        return 1
    except discord.HTTPException as exc:
        print(f"Discord refused the commands: {exc}", file=sys.stderr)
        return 1
    if guild_id:
        where = f"server {guild_id} (available now)"
    else:
        where = "every server (a Discord app may need a reload, Ctrl+R, to show them)"
    print(f"Synced {len(synced)} commands to {where}: " + ", ".join(f"/{c.name}" for c in synced))
    return 0
