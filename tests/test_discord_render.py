"""Reply -> embeds and buttons, checked against Discord's documented limits (no network here).

The same limit checker the loopback fake uses to reject payloads (``check_message_limits``) is applied to the
exact JSON discord.py would send, so "within limits" means what Discord means by it.
"""

from __future__ import annotations

import re
from typing import Any

import discord
from hypothesis import given, settings
from hypothesis import strategies as st

from bots.discord.render import (
    CUSTOM_ID_TEMPLATE,
    EMBED_DESCRIPTION_LIMIT,
    OutgoingMessage,
    is_owner_only,
    make_custom_id,
    render_reply,
    split_text,
)
from bots.discord.views import AdvisorButton, build_view
from core.advisor import Advisor
from core.reply import Choice, ChoiceStyle, Command, Progress, Reply, ReplyKind, Request, Section, SourceRef
from tests.discord_fakes import ALICE, check_message_limits

OWNER = ALICE


def payload(message: OutgoingMessage) -> dict[str, Any]:
    """The message body as discord.py serialises it (embeds via to_dict, buttons via the real View)."""
    view = build_view(message.buttons)
    return {
        "embeds": [embed.to_dict() for embed in message.embeds],
        "components": view.to_components() if view else [],
        "allowed_mentions": {"parse": []},
    }


def visible_text(messages: list[OutgoingMessage]) -> str:
    return "\n".join(embed.description or "" for m in messages for embed in m.embeds)


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+", text)


def long_reply(chars: int, sections: int = 1, **kwargs: Any) -> Reply:
    sentence = "A paralegal researches case law, drafts documents and organises files for trial. "
    per_section = chars // sections
    body = tuple(
        Section((sentence * (per_section // len(sentence) + 1))[:per_section], heading=f"Part {i + 1}")
        for i in range(sections)
    )
    return Reply(ReplyKind.ANSWER, "What does a paralegal do?", body, **kwargs)


def test_split_text_prefers_paragraphs_then_lines_then_words() -> None:
    text = "first paragraph here\n\nsecond paragraph\nwith two lines and more words"
    assert split_text(text, 30) == ["first paragraph here", "second paragraph", "with two lines and more words"]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]  # no boundary: hard cut, nothing lost
    assert split_text("  short  ", 100) == ["short"]
    assert split_text("", 100) == []


def test_five_thousand_character_answer_is_split_within_limits() -> None:
    sources = tuple(SourceRef(f"Source {i}", f"https://example.org/{i}", "2024") for i in range(4))
    reply = long_reply(5000, sources=sources, note="Figures are national medians.")
    messages = render_reply(reply, OWNER)
    assert sum(len(e.description or "") for m in messages for e in m.embeds) >= 5000
    assert len([e for m in messages for e in m.embeds if e.description]) >= 2  # one description cannot hold it
    for message in messages:
        check_message_limits(payload(message))
        assert all(len(e.description or "") <= EMBED_DESCRIPTION_LIMIT for e in message.embeds)
    assert words(visible_text(messages)) == words("\n".join(f"Part 1\n{s.text}" for s in reply.sections))
    last = messages[-1].embeds[-1]
    assert [f.name for f in last.fields] == ["Sources"] and last.footer.text == "Figures are national medians."
    assert messages[0].embeds[0].title == reply.title


def test_reply_of_many_long_sections_uses_several_messages() -> None:
    reply = long_reply(70_000, sections=20, choices=(Choice("Pay", "role:paralegal:pay"),))
    messages = render_reply(reply, OWNER)
    assert len(messages) > 1
    for message in messages:
        check_message_limits(payload(message))
    assert words(visible_text(messages)) == words("\n".join(f"{s.heading}\n{s.text}" for s in reply.sections))
    # Buttons follow the text they refer to: only the last message has them.
    assert [bool(m.buttons) for m in messages] == [False] * (len(messages) - 1) + [True]


@settings(max_examples=60, deadline=None)
@given(
    sections=st.lists(
        st.tuples(st.text(min_size=1, max_size=3000), st.one_of(st.none(), st.text(min_size=1, max_size=300))),
        max_size=12,
    ),
    title=st.text(max_size=400),
    note=st.one_of(st.none(), st.text(min_size=1, max_size=3000)),
    sources=st.integers(min_value=0, max_value=40),
    labels=st.lists(st.text(min_size=1, max_size=120), max_size=40),
)
def test_any_reply_renders_within_discord_limits(
    sections: list[tuple[str, str | None]], title: str, note: str | None, sources: int, labels: list[str]
) -> None:
    reply = Reply(
        ReplyKind.ANSWER,
        title,
        tuple(Section(text, heading) for text, heading in sections),
        choices=tuple(Choice(label, f"entry:e{i}") for i, label in enumerate(labels)),
        sources=tuple(
            SourceRef(f"A source called {'x' * (i * 7)}", f"https://example.org/{i}", "2024") for i in range(sources)
        ),
        note=note,
    )
    messages = render_reply(reply, OWNER)
    assert messages
    for message in messages:
        check_message_limits(payload(message))


def test_quiz_buttons_answers_first_navigation_on_its_own_row() -> None:
    answers = [Choice(f"Answer {c}", f"quiz:a:deadbeef:3:{c}") for c in "abcd"]
    navigation = [Choice("Back", "quiz:back:deadbeef:3"), Choice("Cancel", "quiz:cancel:deadbeef", ChoiceStyle.DANGER)]
    choices = (*answers, *navigation)
    reply = Reply(ReplyKind.QUIZ_QUESTION, "Quiz", (Section("Which?"),), choices, progress=Progress(4, 8))
    (message,) = render_reply(reply, OWNER)
    assert [(b.label, b.row) for b in message.buttons] == [
        ("Answer a", 0), ("Answer b", 0), ("Answer c", 0), ("Answer d", 0), ("Back", 1), ("Cancel", 1)
    ]  # fmt: skip
    assert message.buttons[-1].style is discord.ButtonStyle.danger
    assert message.buttons[0].custom_id == f"lca:{OWNER}:quiz:a:deadbeef:3:a"
    assert message.embeds[0].description.startswith("**Question 4 of 8**  `█████░░░░░`")
    rows = payload(message)["components"]
    assert [len(row["components"]) for row in rows] == [4, 2]


def test_button_limits_labels_custom_ids_and_count() -> None:
    choices = tuple(Choice("L" * 200 if i == 0 else f"Choice {i}", f"entry:e{i}") for i in range(40))
    too_long = Choice("Too long", "entry:" + "x" * 120)
    duplicate = Choice("Again", "entry:e1")
    reply = Reply(ReplyKind.CLARIFY, "Pick", choices=(*choices, too_long, duplicate))
    (message,) = render_reply(reply, OWNER)
    check_message_limits(payload(message))
    assert len(message.buttons) == 25
    assert len(message.buttons[0].label) == 80 and message.buttons[0].label.endswith("…")
    assert all(len(b.custom_id) <= 100 and re.fullmatch(CUSTOM_ID_TEMPLATE, b.custom_id) for b in message.buttons)
    assert "Too long" not in [b.label for b in message.buttons]


def test_custom_id_carries_owner_only_where_it_matters() -> None:
    assert make_custom_id(OWNER, "quiz:a:deadbeef:0:a") == f"lca:{OWNER}:quiz:a:deadbeef:0:a"
    long_action = "compare:" + "a" * 40 + ":" + "b" * 40
    assert make_custom_id(OWNER, long_action) == f"lca:-:{long_action}"  # anyone may click it anyway
    assert make_custom_id(OWNER, "quiz:a:" + "x" * 90) is None  # a quiz step never loses its owner
    assert is_owner_only("quiz:a:deadbeef:0:a") and is_owner_only("quiz:back:deadbeef:2")
    assert is_owner_only("quiz:cancel:deadbeef")
    assert not is_owner_only("quiz:start") and not is_owner_only("quiz:restart") and not is_owner_only("roles")
    button = AdvisorButton(f"lca:{OWNER}:quiz:cancel:deadbeef", "Cancel")
    assert (button.owner_id, button.action) == (OWNER, "quiz:cancel:deadbeef")
    assert AdvisorButton("lca:-:roles", "Roles").owner_id is None


async def test_every_reply_of_the_real_advisor_renders_within_limits(advisor: Advisor) -> None:
    """All commands, a whole quiz and every button found on the way, through the real knowledge base."""
    seen_actions: set[str] = set()
    pending = [
        Request("discord", "1", "7", command=command, text=text)
        for command, text in [
            (Command.HELP, None),
            (Command.ROLES, None),
            (Command.COMPARE, "paralegal vs legal secretary"),
            (Command.COMPARE, ""),
            (Command.ASK, "how much do paralegals make @everyone"),
            (Command.ASK, "should I sue my landlord?"),
            (Command.ASK, "how much do they make"),
            (Command.QUIZ, None),
        ]
    ]
    rendered = 0
    while pending and rendered < 200:
        reply = await advisor.handle(pending.pop(0))
        messages = render_reply(reply, OWNER)
        rendered += 1
        for message in messages:
            check_message_limits(payload(message))
        for spec in messages[-1].buttons:
            if spec.action not in seen_actions and not spec.action.startswith("quiz:back"):
                seen_actions.add(spec.action)
                pending.append(Request("discord", "1", "7", action=spec.action))
    assert any(a.startswith("quiz:a:") for a in seen_actions) and "quiz:start" in seen_actions
    assert rendered > 20


async def test_quiz_result_embed_has_bars_reasons_next_steps_and_sources(advisor: Advisor) -> None:
    reply = await advisor.handle(Request("discord", "1", "7", command=Command.QUIZ))
    while reply.kind is ReplyKind.QUIZ_QUESTION:
        first_answer = next(c for c in reply.choices if c.action.startswith("quiz:a:"))
        reply = await advisor.handle(Request("discord", "1", "7", action=first_answer.action))
    (message,) = render_reply(reply, OWNER)
    check_message_limits(payload(message))
    embed = message.embeds[-1]
    text = message.embeds[0].description or ""
    for role in advisor.kb.roles:
        assert role.name in text
    assert "█" in text and "%" in text
    assert "**Next steps**" in text and "**Why" in text
    if advisor.kb.quiz.sources:  # the knowledge base may or may not cite sources for the quiz
        assert embed.fields[0].name == "Sources" and "](http" in embed.fields[0].value
    assert embed.footer.text == advisor.kb.quiz.disclaimer
    assert [b.label for b in message.buttons][-1] == "Retake the quiz"
