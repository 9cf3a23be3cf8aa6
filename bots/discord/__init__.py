"""The Discord adapter (discord.py): see docs/discord.md for setting it up."""

from .bot import AdvisorBot, build_discord_bot

__all__ = ["AdvisorBot", "build_discord_bot"]
