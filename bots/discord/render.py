"""Reply -> Discord embeds and buttons, split so that every message stays inside Discord's limits.

Pure functions (no network, no client): the limit tables in docs/discord.md are tested against these directly,
and the bot only sends what comes out of ``render_reply``. discord.py does not check lengths itself; Discord
rejects an oversized message with 400/50035, which the user would only see as "the application did not respond".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import discord

from core.quiz import text_bar
from core.reply import Choice, ChoiceStyle, Reply, ReplyKind

# Limits from Discord's developer docs (resources/message.mdx, components/reference.mdx).
CONTENT_LIMIT = 2000
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
"""Title + description + field names and values + footer + author, summed over all embeds of one message."""
EMBEDS_PER_MESSAGE = 10
FIELDS_PER_EMBED = 25
ROWS_PER_MESSAGE = 5
BUTTONS_PER_ROW = 5
LABEL_LIMIT = 80
CUSTOM_ID_LIMIT = 100

CUSTOM_ID_PREFIX = "lca"
ANYONE = "-"
"""Owner placeholder in a custom_id whose action anybody may click."""
CUSTOM_ID_TEMPLATE = rf"{CUSTOM_ID_PREFIX}:(?P<owner>[0-9]{{1,20}}|{ANYONE}):(?P<action>[^\s]{{1,100}})"
"""``lca:<owner user id>:<core action>``: everything a click needs, so no view state is kept in memory."""

_OWNER_ONLY = re.compile(r"quiz:(?:a|back|cancel):")
_NAVIGATION = re.compile(r"quiz:(?:back|cancel):")

_COLOURS: dict[ReplyKind, int] = {
    ReplyKind.ANSWER: 0x5865F2,
    ReplyKind.CLARIFY: 0x5865F2,
    ReplyKind.QUIZ_QUESTION: 0x57F287,
    ReplyKind.QUIZ_RESULT: 0x57F287,
    ReplyKind.HELP: 0x5865F2,
    ReplyKind.ROLES: 0x5865F2,
    ReplyKind.LEGAL_ADVICE: 0xFEE75C,
    ReplyKind.OUT_OF_SCOPE: 0x99AAB5,
    ReplyKind.NOTICE: 0x99AAB5,
    ReplyKind.ERROR: 0xED4245,
}

_STYLES: dict[ChoiceStyle, discord.ButtonStyle] = {
    ChoiceStyle.DEFAULT: discord.ButtonStyle.secondary,
    ChoiceStyle.PRIMARY: discord.ButtonStyle.primary,
    ChoiceStyle.DANGER: discord.ButtonStyle.danger,
}

# Room left in a message for one more description chunk; below this a new message reads better than a stub.
_MIN_CHUNK = 200


def is_owner_only(action: str) -> bool:
    """Quiz steps act on the quiz of the person who started it; anyone may click every other button.

    The core keys sessions by the clicking user, so without this check a stranger's click would be applied to
    the stranger's own quiz and then overwrite the owner's message with it.
    """
    return _OWNER_ONLY.match(action) is not None


def make_custom_id(owner_id: int | None, action: str) -> str | None:
    """The custom_id for a button, or None if the action cannot fit in Discord's 100 characters."""
    custom_id = f"{CUSTOM_ID_PREFIX}:{owner_id if owner_id is not None else ANYONE}:{action}"
    if len(custom_id) > CUSTOM_ID_LIMIT and not is_owner_only(action):
        # Only quiz steps need the owner, and their actions are short; a long action can drop the owner.
        custom_id = f"{CUSTOM_ID_PREFIX}:{ANYONE}:{action}"
    if len(custom_id) > CUSTOM_ID_LIMIT or not re.fullmatch(CUSTOM_ID_TEMPLATE, custom_id):
        return None
    return custom_id


def shorten(text: str, limit: int) -> str:
    """Cut to ``limit`` characters with an ellipsis (labels, titles, footers: places that cannot be split)."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def split_text(text: str, limit: int) -> list[str]:
    """Split into pieces of at most ``limit`` characters, preferring paragraph, line, then word boundaries."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        piece, rest = _take(rest, limit)
        if piece:
            pieces.append(piece)
    if rest:
        pieces.append(rest)
    return pieces


def _take(text: str, limit: int) -> tuple[str, str]:
    """The longest nicely-cut head of ``text`` of at most ``limit`` characters, and the rest."""
    if len(text) <= limit:
        return text.strip(), ""
    window = text[: limit + 1]
    for separator in ("\n\n", "\n", " "):
        cut = window.rfind(separator)
        # A cut in the first quarter would leave a stub; a hard cut mid-word is the lesser evil then.
        if cut > limit // 4:
            return text[:cut].rstrip(), text[cut:].strip()
    return text[:limit], text[limit:].strip()


@dataclass(frozen=True)
class ButtonSpec:
    """One button, decided here so that limits are checked in one place; the bot turns it into a DynamicItem."""

    label: str
    custom_id: str
    action: str
    style: discord.ButtonStyle
    row: int


@dataclass
class OutgoingMessage:
    embeds: list[discord.Embed]
    buttons: list[ButtonSpec]

    @property
    def embed_chars(self) -> int:
        return sum(len(embed) for embed in self.embeds)


def render_reply(
    reply: Reply, owner_id: int | None, extra_fields: tuple[tuple[str, str], ...] = ()
) -> list[OutgoingMessage]:
    """One or more messages for a reply; buttons go under the last one, so they follow the text they refer to.

    ``extra_fields`` (name, value) are Discord-specific additions shown before the sources, e.g. the command list.
    """
    colour = _COLOURS.get(reply.kind, 0x5865F2)
    title = shorten(reply.title, EMBED_TITLE_LIMIT) if reply.title else None
    tail = _tail_embed_parts(reply, extra_fields)
    messages: list[OutgoingMessage] = []
    embeds: list[discord.Embed] = []
    used = 0
    rest = _description(reply)
    first = True
    while rest or first:
        embed_title = title if first else None
        room = EMBED_TOTAL_LIMIT - used - len(embed_title or "")
        if embeds and (len(embeds) >= EMBEDS_PER_MESSAGE or room < _MIN_CHUNK):
            messages.append(OutgoingMessage(embeds, []))
            embeds, used = [], 0
            room = EMBED_TOTAL_LIMIT - len(embed_title or "")
        chunk, rest = _take(rest, min(EMBED_DESCRIPTION_LIMIT, room))
        embed = discord.Embed(title=embed_title, description=chunk or None, colour=colour)
        embeds.append(embed)
        used += len(embed)
        first = False
    # Sources and the small print close the reply: on the last embed if they fit, else on one of their own.
    fields, footer = tail
    tail_size = sum(len(name) + len(value) for name, value in fields) + len(footer or "")
    last = embeds[-1]
    if tail_size and used + tail_size > EMBED_TOTAL_LIMIT:
        messages.append(OutgoingMessage(embeds, []))
        last = discord.Embed(colour=colour)
        embeds = [last]
    for name, value in fields:
        last.add_field(name=name, value=value, inline=False)
    if footer:
        last.set_footer(text=footer)
    messages.append(OutgoingMessage(embeds, _buttons(reply.choices, owner_id)))
    return messages


def _description(reply: Reply) -> str:
    parts: list[str] = []
    if reply.progress is not None and reply.progress.total > 0:
        percent = round(100 * reply.progress.current / reply.progress.total)
        parts.append(f"**{reply.progress.label}**  `{text_bar(percent)}`")
    for section in reply.sections:
        text = section.text.strip()
        if section.heading:
            parts.append(f"**{discord.utils.escape_markdown(section.heading.strip())}**\n{text}")
        elif text:
            parts.append(text)
    return "\n\n".join(parts)


def _tail_embed_parts(
    reply: Reply, extra_fields: tuple[tuple[str, str], ...]
) -> tuple[list[tuple[str, str]], str | None]:
    lines = [_source_line(s.title, s.url, s.as_of) for s in reply.sources]
    fields = [(shorten(name, FIELD_NAME_LIMIT), shorten(value, FIELD_VALUE_LIMIT)) for name, value in extra_fields]
    budget = EMBED_TOTAL_LIMIT - FOOTER_LIMIT - EMBED_TITLE_LIMIT
    current: list[str] = []
    for line in lines:
        if current and len("\n".join([*current, line])) > FIELD_VALUE_LIMIT:
            fields.append(("Sources", "\n".join(current)))
            current = []
        current.append(shorten(line, FIELD_VALUE_LIMIT))
    if current:
        fields.append(("Sources", "\n".join(current)))
    kept: list[tuple[str, str]] = []
    for name, value in fields[:FIELDS_PER_EMBED]:
        budget -= len(name) + len(value)
        if budget < 0:
            break
        kept.append((name, value))
    footer = shorten(reply.note, FOOTER_LIMIT) if reply.note else None
    return kept, footer


def _source_line(title: str, url: str, as_of: str) -> str:
    # Square brackets in a title would end the masked link early; the URL is from our own knowledge base.
    label = discord.utils.escape_markdown(title).replace("[", "(").replace("]", ")")
    return f"[{label}]({url}) · as of {as_of}"


def _buttons(choices: tuple[Choice, ...], owner_id: int | None) -> list[ButtonSpec]:
    """Answer buttons fill rows of five; Back/Cancel get a row of their own so they are never hit by mistake."""
    answers: list[tuple[Choice, str]] = []
    navigation: list[tuple[Choice, str]] = []
    seen: set[str] = set()
    for choice in choices:
        custom_id = make_custom_id(owner_id, choice.action)
        # Discord rejects a message whose custom_ids repeat; a button whose action cannot fit is dropped.
        if custom_id is None or custom_id in seen:
            continue
        seen.add(custom_id)
        (navigation if _NAVIGATION.match(choice.action) else answers).append((choice, custom_id))
    capacity = ROWS_PER_MESSAGE * BUTTONS_PER_ROW
    answer_rows = -(-len(answers) // BUTTONS_PER_ROW)
    navigation_rows = -(-len(navigation) // BUTTONS_PER_ROW)
    if answer_rows + navigation_rows <= ROWS_PER_MESSAGE:
        placed = [(c, cid, i // BUTTONS_PER_ROW) for i, (c, cid) in enumerate(answers)]
        placed += [(c, cid, answer_rows + i // BUTTONS_PER_ROW) for i, (c, cid) in enumerate(navigation)]
    else:
        # Too many for separate rows: keep navigation, drop surplus answers, pack everything densely.
        kept = answers[: max(0, capacity - len(navigation))] + navigation
        placed = [(c, cid, i // BUTTONS_PER_ROW) for i, (c, cid) in enumerate(kept[:capacity])]
    return [
        ButtonSpec(
            label=shorten(choice.label, LABEL_LIMIT) or "…",
            custom_id=custom_id,
            action=choice.action,
            style=_STYLES.get(choice.style, discord.ButtonStyle.secondary),
            row=row,
        )
        for choice, custom_id, row in placed
    ]


def plain_notice(text: str) -> str:
    """Short plain-text content (refusals, fallbacks), cut to Discord's content limit."""
    return shorten(text, CONTENT_LIMIT)
