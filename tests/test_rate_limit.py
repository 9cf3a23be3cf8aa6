"""Per-user rate limiting: a flood from one user gets a polite slow-down, everyone else is served as usual."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.advisor import Advisor
from core.config import Settings
from core.kb_model import KnowledgeBase
from core.rate_limit import RateLimiter, RequestKind
from core.reply import Command, ReplyKind, Request
from core.runtime import build_advisor
from core.sessions import MemorySessionStore

QUESTION = "what does a paralegal do"


class Clock:
    """A hand-driven clock, so refill behaviour is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limited_advisor(kb: KnowledgeBase, clock: Clock, per_minute: int = 30, burst: int | None = None) -> Advisor:
    return Advisor(kb, MemorySessionStore(), rate_limiter=RateLimiter(per_minute, burst=burst, clock=clock))


def ask(user: str, text: str = QUESTION, platform: str = "slack") -> Request:
    return Request(platform, "T1", user, text=text)


def test_burst_then_refuse_then_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=5, clock=clock)
    assert [limiter.check("slack", "T1", "U1").allowed for _ in range(7)] == [True] * 5 + [False] * 2
    refused = limiter.check("slack", "T1", "U1")
    assert not refused.allowed and 0 < refused.retry_after <= 1.0
    clock.now += 1.0  # 60 a minute refills one token a second
    assert limiter.check("slack", "T1", "U1").allowed
    assert not limiter.check("slack", "T1", "U1").allowed


def test_users_workspaces_and_platforms_have_separate_buckets() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=30, burst=2, clock=clock)
    for _ in range(2):
        assert limiter.check("slack", "T1", "U1").allowed
    assert not limiter.check("slack", "T1", "U1").allowed
    assert limiter.check("slack", "T1", "U2").allowed
    assert limiter.check("slack", "T2", "U1").allowed
    assert limiter.check("discord", "T1", "U1").allowed


def test_clicks_get_a_larger_separate_allowance() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=30, burst=2, click_factor=3.0, clock=clock)
    for _ in range(2):
        limiter.check("slack", "T1", "U1")
    assert not limiter.check("slack", "T1", "U1").allowed
    clicks = [limiter.check("slack", "T1", "U1", RequestKind.CLICK).allowed for _ in range(7)]
    assert clicks == [True] * 6 + [False]


def test_local_terminal_is_never_limited() -> None:
    limiter = RateLimiter(per_minute=1, burst=1, clock=Clock())
    assert all(limiter.check("console", "local", "me").allowed for _ in range(100))


def test_memory_stays_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=2, max_users=500, clock=clock)
    for i in range(5000):
        limiter.check("slack", "T1", f"U{i}")
    assert len(limiter) <= 500
    # Buckets that have refilled are equivalent to fresh ones and are swept away.
    clock.now += 3600
    limiter.check("slack", "T1", "late")
    assert len(limiter) == 1


def test_zero_or_negative_rate_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        RateLimiter(per_minute=0)


async def test_flooding_user_gets_slow_down_and_others_are_unaffected(kb: KnowledgeBase) -> None:
    clock = Clock()
    advisor = limited_advisor(kb, clock, per_minute=30)
    flood = [await advisor.handle(ask("flooder")) for _ in range(40)]
    served = [r for r in flood if r.kind is ReplyKind.ANSWER]
    refused = [r for r in flood if r.meta.get("kind") == "rate_limited"]
    assert len(served) == advisor.rate_limiter.burst and len(refused) == 40 - len(served)
    notice = refused[0]
    assert notice.kind is ReplyKind.NOTICE and notice.ephemeral
    assert notice.sections[0].text == kb.texts.slow_down
    assert not notice.choices
    # Another user in the same workspace, at the same moment, is answered normally.
    other = await advisor.handle(ask("bystander"))
    assert other.kind is ReplyKind.ANSWER
    # After a pause the flooder is served again.
    clock.now += 10
    assert (await advisor.handle(ask("flooder"))).kind is ReplyKind.ANSWER


async def test_commands_count_and_a_throttled_request_changes_no_state(kb: KnowledgeBase) -> None:
    clock = Clock()
    advisor = limited_advisor(kb, clock, per_minute=30, burst=1)
    started = await advisor.handle(Request("slack", "T1", "U1", command=Command.QUIZ))
    assert started.kind is ReplyKind.QUIZ_QUESTION
    again = await advisor.handle(Request("slack", "T1", "U1", command=Command.QUIZ_RESTART))
    assert again.meta.get("kind") == "rate_limited"
    # The refused restart did not replace the quiz: its buttons still work.
    reply = await advisor.handle(Request("slack", "T1", "U1", action=started.choices[0].action))
    assert reply.kind is ReplyKind.QUIZ_QUESTION and reply.progress is not None and reply.progress.current == 2


async def test_quiz_clicking_at_human_speed_is_never_throttled(kb: KnowledgeBase) -> None:
    clock = Clock()
    advisor = limited_advisor(kb, clock, per_minute=30)
    reply = await advisor.handle(Request("slack", "T1", "U1", command=Command.QUIZ))
    while reply.kind is ReplyKind.QUIZ_QUESTION:
        clock.now += 0.5  # a very quick reader: two clicks a second through the whole quiz
        action = next(c.action for c in reply.choices if c.action.startswith("quiz:a:"))
        reply = await advisor.handle(Request("slack", "T1", "U1", action=action))
    assert reply.kind is ReplyKind.QUIZ_RESULT


def test_build_advisor_wires_the_setting(tmp_path: Path) -> None:
    base = {"data_dir": tmp_path, "session_store": "memory://"}
    on = build_advisor(Settings(**base, rate_limit_per_minute=12), log_misses=False)
    assert on.rate_limiter is not None and on.rate_limiter.per_minute == 12
    off = build_advisor(Settings(**base, rate_limit_per_minute=0), log_misses=False)
    assert off.rate_limiter is None
