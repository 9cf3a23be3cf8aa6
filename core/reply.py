"""The neutral request and reply models that cross the boundary between the core and every adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Command(StrEnum):
    """What a slash command or console command asked for; plain messages have no command."""

    ASK = "ask"
    QUIZ = "quiz"
    QUIZ_RESTART = "quiz_restart"
    COMPARE = "compare"
    ROLES = "roles"
    HELP = "help"
    FORGET = "forget"


@dataclass(frozen=True)
class Request:
    platform: str
    """"slack", "discord", "console"..."""
    workspace: str
    """Slack team id, Discord guild id (or "dm"), "local" for the console."""
    user: str
    text: str | None = None
    action: str | None = None
    """The ``Choice.action`` of a button the user clicked."""
    command: Command | None = None
    channel: str | None = None


class ReplyKind(StrEnum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    QUIZ_QUESTION = "quiz_question"
    QUIZ_RESULT = "quiz_result"
    HELP = "help"
    ROLES = "roles"
    LEGAL_ADVICE = "legal_advice"
    OUT_OF_SCOPE = "out_of_scope"
    NOTICE = "notice"
    ERROR = "error"


class ChoiceStyle(StrEnum):
    DEFAULT = "default"
    PRIMARY = "primary"
    DANGER = "danger"


@dataclass(frozen=True)
class Choice:
    label: str
    action: str
    """Opaque to adapters: sent back unchanged in ``Request.action`` when clicked (at most 100 characters)."""
    style: ChoiceStyle = ChoiceStyle.DEFAULT


@dataclass(frozen=True)
class Section:
    text: str
    heading: str | None = None


@dataclass(frozen=True)
class SourceRef:
    title: str
    url: str
    as_of: str


@dataclass(frozen=True)
class Progress:
    current: int
    total: int

    @property
    def label(self) -> str:
        return f"Question {self.current} of {self.total}"


@dataclass(frozen=True)
class Reply:
    kind: ReplyKind
    title: str
    sections: tuple[Section, ...] = ()
    choices: tuple[Choice, ...] = ()
    """Answer buttons first; navigation (Back, Cancel) last."""
    sources: tuple[SourceRef, ...] = ()
    ephemeral: bool = False
    """A hint: True where a school would expect privacy (quiz, legal-advice decline, errors)."""
    progress: Progress | None = None
    replace_previous: bool = False
    """True for quiz steps: adapters edit the message that carried the clicked button."""
    note: str | None = None
    """A small-print line (quiz disclaimer, "I read only the beginning")."""
    meta: dict[str, object] = field(default_factory=dict, compare=False)
    """Match details for logs, metrics and ``advisor ask --json``; adapters never show it."""

    def plain_text(self) -> str:
        """A platform-neutral plain-text rendering (console, logs, ``ask --json``)."""
        parts: list[str] = [self.title] if self.title else []
        if self.progress:
            parts.append(self.progress.label)
        for section in self.sections:
            parts.append(f"{section.heading}\n{section.text}" if section.heading else section.text)
        if self.note:
            parts.append(self.note)
        if self.sources:
            parts.append("Sources:\n" + "\n".join(f"- {s.title} ({s.as_of}): {s.url}" for s in self.sources))
        return "\n\n".join(parts)
