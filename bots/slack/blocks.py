"""Render a neutral ``Reply`` as Slack Block Kit: escaping, limits and splitting live here and nowhere else.

Slack rejects a whole message (``invalid_blocks``) when a single block breaks a limit, so every limit is enforced
while rendering rather than hoped for: long text is split into several sections, too many blocks are spread over
several messages, labels are shortened. Every piece of dynamic text (knowledge-base text and anything the user
typed) goes through ``escape`` before it lands in mrkdwn, so ``<!channel>`` or ``<@U…>`` can never ping anyone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from core.quiz import text_bar
from core.reply import Choice, ChoiceStyle, Reply, SourceRef

# Limits from the Block Kit reference and slack_sdk's model classes (docs/slack.md lists the sources).
MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTIONS_PER_BLOCK = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK_CHARS = 4000
"""Slack's advice for the top-level ``text``, the notification and accessibility fallback of a message."""
FALLBACK_SHOWN_CHARS = 500
"""The fallback carries the title and the start of the answer: enough for a notification preview."""
MESSAGE_TEXT_BUDGET = 12_000
"""Characters of block text per message. Slack documents no total, so stay far below anything it could enforce
and keep each message readable; a longer reply continues in the next message."""
MAX_MESSAGES = 4
"""A ``response_url`` takes at most 5 posts; one is kept free for an error or a delete."""

CHOICE_ACTION_PREFIX = "choice-"
SHARE_ACTION_ID = "share"
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
_BREAKS = ("\n\n", "\n", ". ", "; ", ", ", " ")


def escape(text: str) -> str:
    """Escape exactly Slack's three control characters; anything more would show up literally in the message."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escaped_len(ch: str) -> int:
    return 5 if ch == "&" else 4 if ch in "<>" else 1


def _room(text: str, limit: int) -> int:
    """How many leading characters of ``text`` stay within ``limit`` once escaped."""
    used = 0
    for i, ch in enumerate(text):
        used += _escaped_len(ch)
        if used > limit:
            return i
    return len(text)


def split_text(text: str, limit: int = MAX_SECTION_CHARS) -> list[str]:
    """Escaped chunks of at most ``limit`` characters each, cut at the most natural boundary available.

    Splitting happens on the raw text with the escaped length as the measure, so a cut can never land inside
    an ``&amp;`` entity.
    """
    chunks: list[str] = []
    rest = text.strip()
    while rest:
        room = _room(rest, limit)
        if room >= len(rest):
            chunks.append(escape(rest))
            break
        cut = room
        window = rest[:room]
        for separator in _BREAKS:
            at = window.rfind(separator)
            # Only accept a boundary in the second half, or chunks get silly-short.
            if at > room // 2:
                cut = at + len(separator)
                break
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if head:
            chunks.append(escape(head))
    return chunks


def shorten(text: str, limit: int) -> str:
    """Plain text cut to ``limit`` characters with an ellipsis (for plain_text fields, which are not parsed)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _context(texts: Sequence[str]) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(t) for t in texts[:MAX_CONTEXT_ELEMENTS]]}


def button(label: str, action_id: str, value: str, style: ChoiceStyle = ChoiceStyle.DEFAULT) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": _plain(shorten(label, MAX_BUTTON_TEXT) or "…"),
        "action_id": action_id,
        "value": value[:MAX_BUTTON_VALUE],
    }
    if style is not ChoiceStyle.DEFAULT:
        element["style"] = style.value
    return element


def choice_buttons(choices: Sequence[Choice]) -> list[dict[str, Any]]:
    # action_id must be unique within a message; the index keeps it so, the value carries the opaque action.
    return [button(c.label, f"{CHOICE_ACTION_PREFIX}{i}", c.action, c.style) for i, c in enumerate(choices)]


def _actions(elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"type": "actions", "elements": elements[i : i + MAX_ACTIONS_PER_BLOCK]}
        for i in range(0, len(elements), MAX_ACTIONS_PER_BLOCK)
    ]


def _source_line(source: SourceRef) -> str:
    # Link labels end at the first "|", so a title may not carry one.
    title = escape(shorten(source.title, 150)).replace("|", "¦")
    return f"• <{escape(source.url)}|{title}> (as of {escape(shorten(source.as_of, 40))})"


def _sources(sources: Sequence[SourceRef]) -> list[dict[str, Any]]:
    """Sources as small print: lines packed into context elements of ≤3,000 characters, ≤10 per block."""
    if not sources:
        return []
    texts: list[str] = []
    for line in ["*Sources*", *(_source_line(s) for s in sources)]:
        if texts and len(texts[-1]) + 1 + len(line) <= MAX_SECTION_CHARS:
            texts[-1] += "\n" + line
        else:
            texts.append(line)
    return [_context(texts[i : i + MAX_CONTEXT_ELEMENTS]) for i in range(0, len(texts), MAX_CONTEXT_ELEMENTS)]


def progress_line(current: int, total: int, label: str) -> str:
    percent = round(100 * current / total) if total else 0
    return f"*{escape(label)}*  {text_bar(percent)}"


def quote_user_text(text: str, limit: int = 300) -> str:
    """User text made safe to show back: one line, shortened, escaped (so mentions and links are inert)."""
    return escape(shorten(text, limit))


def _block_chars(block: dict[str, Any]) -> int:
    return len(json.dumps(block, ensure_ascii=False))


def _fallback(reply: Reply) -> str:
    parts = [reply.title] if reply.title else []
    if reply.progress:
        parts.append(reply.progress.label)
    if reply.sections:
        parts.append(reply.sections[0].text)
    text = escape(shorten(" — ".join(parts), FALLBACK_SHOWN_CHARS))
    return text[:MAX_FALLBACK_CHARS] or "Legal Careers Advisor"


def render_reply(
    reply: Reply,
    *,
    asked: str | None = None,
    shared_by: str | None = None,
    share_value: str | None = None,
    max_blocks: int = MAX_BLOCKS,
) -> list[dict[str, Any]]:
    """The messages that show ``reply``, each ``{"text": fallback, "blocks": [...]}`` — almost always one.

    ``asked`` echoes the user's own words (ephemeral answers do not show the slash command that asked them);
    ``shared_by`` is a user id from the payload, credited when an answer is shared to the channel;
    ``share_value`` adds a "Share in channel" button carrying that value.
    """
    head: list[dict[str, Any]] = []
    if reply.title:
        head.append({"type": "header", "text": _plain(shorten(reply.title, MAX_HEADER_CHARS))})
    if reply.progress:
        head.append(_context([progress_line(reply.progress.current, reply.progress.total, reply.progress.label)]))
    credit = f"<@{shared_by}> shared this" if shared_by and _USER_ID.match(shared_by) else None
    if asked and asked.strip():
        said = f"“{quote_user_text(asked)}”"
        head.append(_context([f"{credit}. They asked: {said}" if credit else f"You asked: {said}"]))
    elif credit:
        head.append(_context([credit + "."]))

    body: list[dict[str, Any]] = []
    for section in reply.sections:
        heading = f"*{escape(shorten(section.heading, 200))}*\n" if section.heading else ""
        chunks = split_text(section.text, MAX_SECTION_CHARS - len(heading)) or [""]
        for i, chunk in enumerate(chunks):
            text = (heading if i == 0 else "") + chunk
            if text.strip():
                body.append(_section(text))

    tail: list[dict[str, Any]] = []
    if reply.note:
        tail.append(_context(split_text(reply.note, MAX_SECTION_CHARS)[:MAX_CONTEXT_ELEMENTS]))
    tail.extend(_sources(reply.sources))
    elements = choice_buttons(reply.choices)
    if share_value is not None and len(share_value) <= MAX_BUTTON_VALUE:
        elements.append(button("Share in channel", SHARE_ACTION_ID, share_value))
    tail.extend(_actions(elements))
    return _paginate(head, body, tail, _fallback(reply), max_blocks)


def _fits(blocks: list[dict[str, Any]], max_blocks: int) -> bool:
    return len(blocks) <= max_blocks and sum(_block_chars(b) for b in blocks) <= MESSAGE_TEXT_BUDGET


def _paginate(
    head: list[dict[str, Any]],
    body: list[dict[str, Any]],
    tail: list[dict[str, Any]],
    fallback: str,
    max_blocks: int,
) -> list[dict[str, Any]]:
    """Spread blocks over messages of ≤ ``max_blocks`` blocks and ≤ ``MESSAGE_TEXT_BUDGET`` characters.

    The title opens the first message; notes, sources and buttons close the last one, so the buttons always sit
    under the end of the answer.
    """
    pages: list[list[dict[str, Any]]] = [list(head)]
    for block in body:
        if pages[-1] and not _fits([*pages[-1], block], max_blocks):
            pages.append([])
        pages[-1].append(block)
    if _fits(pages[-1] + tail, max_blocks):
        pages[-1].extend(tail)
    else:
        pages.append(list(tail))
    if len(pages) > MAX_MESSAGES:
        # Unreachable with knowledge-base answers (≤900 characters each); here so nothing is ever rejected.
        last = pages[MAX_MESSAGES - 1]
        closing = [_context(["_The rest of this answer was too long to show here._"]), *tail]
        while last and not _fits(last + closing, max_blocks):
            last.pop()
        pages = [*pages[: MAX_MESSAGES - 1], last + closing]
    pages = [p for p in pages if p]
    return [
        {"text": fallback if number == 0 else f"{fallback[:200]} (continued)", "blocks": blocks}
        for number, blocks in enumerate(pages)
    ]


def render_home(reply: Reply, commands: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The App Home tab: the help reply (with its buttons) and the slash commands, as one ``home`` view."""
    blocks = [b for m in render_reply(reply, max_blocks=MAX_HOME_BLOCKS) for b in m["blocks"]]
    actions = [b for b in blocks if b["type"] == "actions"]
    blocks = [b for b in blocks if b["type"] != "actions"]
    lines = "\n".join(f"• `{escape(name)}` — {escape(what)}" for name, what in commands)
    blocks += [{"type": "divider"}, _section("*Slash commands*\n" + lines), *actions]
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}
