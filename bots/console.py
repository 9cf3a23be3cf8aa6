"""The console adapter: chat with the advisor in a terminal, choices picked by number."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Callable
from typing import TextIO

from core.advisor import Advisor
from core.reply import Choice, Reply, Request
from core.text import escape_for_display

PLATFORM = "console"
QUIT_WORDS = {"quit", "exit", "bye", ":q"}


def render_reply(reply: Reply) -> str:
    """Plain text with numbered choices."""
    text = reply.plain_text()
    if reply.choices:
        numbered = "\n".join(f"  [{i}] {choice.label}" for i, choice in enumerate(reply.choices, start=1))
        text += "\n\n" + numbered
    return text


def pick_choice(line: str, choices: tuple[Choice, ...]) -> Choice | None:
    stripped = line.strip()
    if stripped.isdigit() and 1 <= int(stripped) <= len(choices):
        return choices[int(stripped) - 1]
    return None


async def chat(
    advisor: Advisor,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    user: str | None = None,
    read_line: Callable[[], str] | None = None,
) -> None:
    """Read questions until end of input or "quit"; a bare number clicks the numbered choice."""
    user_id = user or getpass.getuser()
    read = read_line or stdin.readline
    interactive = stdin.isatty()
    stdout.write(advisor.kb.texts.greeting + '\nType "quit" to leave.\n')
    choices: tuple[Choice, ...] = ()
    while True:
        if interactive:
            stdout.write("\nyou> ")
        stdout.flush()
        line = await asyncio.to_thread(read)
        if not line:
            break
        line = line.rstrip("\n")
        if line.strip().lower() in QUIT_WORDS:
            break
        if not line.strip():
            continue
        picked = pick_choice(line, choices)
        if picked is not None:
            request = Request(PLATFORM, "local", user_id, action=picked.action)
        else:
            request = Request(PLATFORM, "local", user_id, text=line)
        reply = await advisor.handle(request)
        choices = reply.choices
        if not interactive:
            stdout.write(f"\nyou> {escape_for_display(line, 120)}\n")
        stdout.write("\n" + render_reply(reply) + "\n")
    stdout.write("Bye! Good luck with your career search.\n")
    stdout.flush()
