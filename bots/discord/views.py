"""The buttons under a reply, and how a click finds its way back to the bot after a restart.

Every button is an ``AdvisorButton``: a ``discord.ui.DynamicItem`` whose custom_id ``lca:<owner>:<action>``
carries all a click needs (who may press it, and the core's opaque action string). The class is registered once
at start-up (``Client.add_dynamic_items`` in ``setup_hook``), so a button on a message sent by an earlier process
works the same as a new one; the quiz itself lives in the session store, not in memory.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, Self, runtime_checkable

import discord

from .render import ANYONE, CUSTOM_ID_TEMPLATE, ButtonSpec


@runtime_checkable
class ClickHandler(Protocol):
    """What the client must offer for buttons to work (the bot; kept abstract to avoid an import cycle)."""

    async def handle_click(self, interaction: discord.Interaction[Any], owner_id: int | None, action: str) -> None: ...


class AdvisorButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CUSTOM_ID_TEMPLATE):
    """A reply's choice as a button that keeps working across restarts."""

    def __init__(
        self,
        custom_id: str,
        label: str,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
        row: int | None = None,
    ) -> None:
        match = re.fullmatch(CUSTOM_ID_TEMPLATE, custom_id)
        if match is None:
            raise ValueError(f"not an advisor custom_id: {custom_id!r}")
        owner = match["owner"]
        self.owner_id: int | None = None if owner == ANYONE else int(owner)
        self.action: str = match["action"]
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=custom_id), row=row)

    @classmethod
    def from_spec(cls, spec: ButtonSpec) -> Self:
        return cls(spec.custom_id, spec.label, spec.style, spec.row)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> Self:
        # Called by discord.py for every click whose custom_id matches the template, whichever process sent it.
        return cls(match.string, item.label or "…", item.style)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        client = interaction.client
        if isinstance(client, ClickHandler):
            await client.handle_click(interaction, self.owner_id, self.action)


class ReplyView(discord.ui.View):
    """The buttons of one message. It only renders: clicks are dispatched by ``AdvisorButton``'s template."""

    def __init__(self, buttons: list[ButtonSpec]) -> None:
        super().__init__(timeout=None)
        for spec in buttons:
            self.add_item(AdvisorButton.from_spec(spec))

    def is_finished(self) -> bool:
        # Reporting "finished" keeps discord.py from storing each sent view: nothing per message stays in memory,
        # and (discord.py 2.7.1, ViewStore.remove_view) an expiring stored view holding a DynamicItem would
        # unregister the AdvisorButton template for every message, breaking all buttons until a restart.
        # Ephemeral messages get a forced 15-minute timeout, so that would happen on the first quiz.
        return True


def build_view(buttons: list[ButtonSpec]) -> ReplyView | None:
    return ReplyView(buttons) if buttons else None
