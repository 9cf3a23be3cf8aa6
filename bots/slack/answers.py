"""What a listener hands over after its ack: an ``AnswerJob``, and the ``Answers`` that will carry it out.

A job is plain data (the Slack payload it came from, and where), so it can be answered in this process
(``InProcessAnswers`` in app.py) or sent to an answer worker process (``AnswerWorkers`` in workers.py) as one
line of JSON. Either way the same ``SlackAdapter.answer`` turns it into a reply and delivers it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

log = logging.getLogger("advisor.slack")


class JobKind(StrEnum):
    COMMAND = "command"
    """A slash command: ``body`` is the command payload."""
    MESSAGE = "message"
    """A DM or an @-mention: ``body`` is the event."""
    CLICK = "click"
    """A quiz or menu button: ``body`` is the block_actions payload, ``action`` the clicked action."""
    SHARE = "share"
    """The "Share in channel" button: as CLICK."""
    HOME = "home"
    """The App Home tab was opened: ``body`` is the event."""


@dataclass(frozen=True)
class AnswerJob:
    kind: JobKind
    workspace: str
    body: dict[str, Any]
    action: dict[str, Any] = field(default_factory=dict)
    bot_user_id: str | None = None
    busy: bool = False
    """Acknowledged while too much work was waiting: deliver the "busy" notice instead of an answer."""

    @property
    def user(self) -> str:
        """Whose request this is: answers for one user always go to the same worker (their quiz, their rate)."""
        user = self.body.get("user_id") or self.body.get("user")
        if isinstance(user, dict):
            user = user.get("id")
        return str(user or "")

    @property
    def what(self) -> str:
        return self.kind.value

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AnswerJob:
        return cls(
            kind=JobKind(raw["kind"]),
            workspace=str(raw["workspace"]),
            body=dict(raw["body"]),
            action=dict(raw.get("action") or {}),
            bot_user_id=raw.get("bot_user_id"),
            busy=bool(raw.get("busy")),
        )


class Answers(Protocol):
    """Where listeners send their jobs. ``over_limit`` is asked before ``submit`` so a listener can decline in its
    ack (a slash command) or mark the job busy (everything else)."""

    def over_limit(self, what: str) -> bool: ...

    def submit(self, job: AnswerJob) -> None: ...

    @property
    def pending(self) -> int: ...

    async def drain(self, timeout: float) -> bool: ...


def encode_line(message: dict[str, Any]) -> bytes:
    """One protocol message between the Slack process and an answer worker: a line of compact JSON."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class BacklogLimit:
    """Whether a new request should be declined as busy because ``limit`` jobs are already waiting or under way
    (None: no limit); declines are counted and logged now and then. Shared by both kinds of ``Answers``."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.declined = 0
        """Requests turned away as busy since start (for logs and benchmarks)."""

    def reached(self, pending: int, what: str) -> bool:
        if self.limit is None or pending < self.limit:
            return False
        self.declined += 1
        if self.declined == 1 or self.declined % 100 == 0:
            log.warning("slack work backlog at %d: declined a %s (%d so far)", pending, what, self.declined)
        return True


def count_from_environment(variable: str, default: int, zero_means: str) -> int:
    """A whole number ≥ 0 from the environment (``default`` when unset or blank). ``ValueError`` says what is
    wrong, naming the variable and what 0 means."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{variable} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{variable} must be 0 ({zero_means}) or more, got {value}")
    return value
