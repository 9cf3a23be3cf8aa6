"""The fit quiz end to end through the Advisor: start, answer, back, cancel, restart, stale and double clicks."""

from __future__ import annotations

from core.advisor import Advisor
from core.reply import Command, Reply, ReplyKind, Request


def ask(advisor: Advisor, **kwargs) -> Request:
    return Request("test", "w1", kwargs.pop("user", "u1"), **kwargs)


def answer_choices(reply: Reply):
    return [c for c in reply.choices if c.action.startswith("quiz:a:")]


async def click(advisor: Advisor, action: str, user: str = "u1") -> Reply:
    return await advisor.handle(ask(advisor, action=action, user=user))


async def test_whole_quiz_to_result(advisor: Advisor, kb):
    reply = await advisor.handle(ask(advisor, command=Command.QUIZ))
    total = len(kb.quiz.questions)
    assert reply.kind is ReplyKind.QUIZ_QUESTION
    assert reply.progress.label == f"Question 1 of {total}"
    assert 6 <= total <= 10
    for position in range(total):
        assert reply.progress.current == position + 1
        labels = [c.label for c in reply.choices]
        assert "Cancel" in labels and ("Back" in labels) == (position > 0)
        reply = await click(advisor, answer_choices(reply)[0].action)
    assert reply.kind is ReplyKind.QUIZ_RESULT
    text = reply.plain_text()
    for role in kb.roles:
        assert role.name in text
    assert "%" in text and "█" in text
    assert "Next steps" in text
    assert reply.note == kb.quiz.disclaimer
    assert "not a test" in reply.note.lower() or "exploration" in reply.note.lower()
    ranking = reply.meta["ranking"]
    assert sorted(ranking) == sorted(kb.role_ids())


async def test_each_role_can_win(advisor: Advisor, kb):
    """No role wins by construction: picking the answers that favour a role makes it rank first."""
    for role in kb.role_ids():
        reply = await advisor.handle(ask(advisor, command=Command.QUIZ_RESTART, user=f"winner-{role}"))
        for question in kb.quiz.questions:
            best = max(question.choices, key=lambda c: (c.scores.get(role, 0) - max(
                [v for r, v in c.scores.items() if r != role] or [0])))
            action = next(c.action for c in answer_choices(reply) if c.action.endswith(":" + best.id))
            reply = await click(advisor, action, user=f"winner-{role}")
        assert reply.kind is ReplyKind.QUIZ_RESULT
        assert reply.meta["ranking"][0] == role, (role, reply.plain_text())


async def test_double_click_counts_once(advisor: Advisor):
    first = await advisor.handle(ask(advisor, command=Command.QUIZ))
    action = answer_choices(first)[0].action
    second = await click(advisor, action)
    again = await click(advisor, action)  # the same button clicked twice
    assert second.progress.current == 2
    assert again.progress.current == 2
    assert again.meta.get("stale") is True
    session = await advisor.store.load(_key())
    assert len(session.quiz.answers) == 1


async def test_back_removes_the_answer_and_cancel_ends(advisor: Advisor):
    reply = await advisor.handle(ask(advisor, command=Command.QUIZ))
    reply = await click(advisor, answer_choices(reply)[1].action)
    back = next(c.action for c in reply.choices if c.label == "Back")
    reply = await click(advisor, back)
    assert reply.progress.current == 1
    assert (await advisor.store.load(_key())).quiz.answers == {}
    stale_back = await click(advisor, back)  # a second click on the same Back button changes nothing
    assert stale_back.meta.get("stale") is True and stale_back.progress.current == 1
    cancel = next(c.action for c in reply.choices if c.label == "Cancel")
    cancelled = await click(advisor, cancel)
    assert cancelled.kind is ReplyKind.NOTICE and "cancel" in cancelled.plain_text().lower()
    assert (await advisor.store.load(_key())).quiz is None
    after = await click(advisor, answer_choices(reply)[0].action)
    assert after.meta.get("stale") is True and after.kind is ReplyKind.NOTICE


async def test_restart_makes_old_buttons_stale_and_resume_keeps_progress(advisor: Advisor):
    reply = await advisor.handle(ask(advisor, command=Command.QUIZ))
    old_first = answer_choices(reply)[0].action
    reply = await click(advisor, old_first)
    resumed = await advisor.handle(ask(advisor, command=Command.QUIZ))  # /career-quiz again resumes
    assert resumed.progress.current == 2
    restarted = await advisor.handle(ask(advisor, command=Command.QUIZ_RESTART))
    assert restarted.progress.current == 1
    stale = await click(advisor, answer_choices(reply)[0].action)  # a button from the old quiz
    assert stale.meta.get("stale") is True and stale.progress.current == 1
    assert (await advisor.store.load(_key())).quiz.answers == {}


async def test_typing_quiz_starts_it(advisor: Advisor):
    reply = await advisor.handle(ask(advisor, text="which job fits me? quiz me"))
    assert reply.kind is ReplyKind.QUIZ_QUESTION


async def test_garbage_actions_are_refused_politely(advisor: Advisor):
    for action in ["quiz:a", "quiz:a:zz:x:y", "quiz:back::", "nonsense", "role:ceo:pay", "entry:nope", "x" * 5000]:
        reply = await click(advisor, action)
        assert reply.kind in (ReplyKind.NOTICE, ReplyKind.QUIZ_QUESTION), action
        assert reply.kind is not ReplyKind.ERROR


def _key():
    from core.sessions import SessionKey

    return SessionKey("test", "w1", "u1")
