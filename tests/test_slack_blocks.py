"""Block Kit rendering: limits, splitting and escaping, on real replies from the real advisor and on long ones."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bots.slack.blocks import (
    MAX_BLOCKS,
    MAX_BUTTON_TEXT,
    MAX_SECTION_CHARS,
    MESSAGE_TEXT_BUDGET,
    escape,
    render_home,
    render_reply,
    split_text,
)
from core.advisor import Advisor
from core.reply import Choice, ChoiceStyle, Command, Progress, Reply, ReplyKind, Request, Section, SourceRef
from tests.slack_fakes import block_problems, message_problems

pytestmark = pytest.mark.timeout(30)

INJECTIONS = ("<!channel>", "<!here>", "<!everyone>", "<@U0EVIL>", "<!subteam^S0EVIL>", "<http://evil.example|bank>")


def parsed_texts(messages: list[dict[str, Any]]) -> str:
    """Everything Slack parses for markup (mentions, links): top-level texts and mrkdwn objects.

    plain_text objects (header, button labels) are shown literally, so they are left out.
    """
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk([m["blocks"] for m in messages])
    return "\n".join(found + [m["text"] for m in messages])


def section_texts(messages: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for m in messages for b in m["blocks"] if b["type"] == "section"]


def assert_valid(messages: list[dict[str, Any]]) -> None:
    assert messages, "a reply renders to at least one message"
    for message in messages:
        assert message_problems(message) == [], message_problems(message)
        assert len(message["blocks"]) <= MAX_BLOCKS


def test_escape_is_exactly_slacks_three_characters() -> None:
    assert escape("<!channel> & paralegal? 'quotes' \"too\"") == "&lt;!channel&gt; &amp; paralegal? 'quotes' \"too\""


def test_a_5000_character_section_is_split_at_sentence_boundaries_within_limits() -> None:
    sentence = "Paralegals research case law, draft documents & organise files for attorneys. "
    text = sentence * (5000 // len(sentence) + 1)
    assert len(text) >= 5000
    messages = render_reply(Reply(ReplyKind.ANSWER, "Long answer", (Section(text, heading="Paralegal"),)))
    assert_valid(messages)
    chunks = section_texts(messages)
    assert len(chunks) == 2
    assert all(len(c) <= MAX_SECTION_CHARS for c in chunks)
    assert chunks[0].startswith("*Paralegal*\n")
    assert all(c.rstrip().endswith(".") for c in chunks)  # cut after a sentence, not mid-word
    # Nothing lost, nothing doubled: the chunks are the escaped text, in order.
    rejoined = " ".join(c.removeprefix("*Paralegal*\n") for c in chunks)
    assert rejoined == escape(text.strip())


def test_splitting_never_cuts_inside_an_entity_or_over_the_limit() -> None:
    text = "&<>" * 2500 + "x" * 10  # escapes to 4 or 5 characters each: the worst case for a naive cut
    chunks = split_text(text, MAX_SECTION_CHARS)
    assert all(len(c) <= MAX_SECTION_CHARS for c in chunks)
    assert "".join(chunks) == escape(text)
    for chunk in chunks:
        assert chunk.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").count("&") == 0


def test_many_long_sections_spread_over_messages_each_within_limits() -> None:
    sections = tuple(Section("Word " * 1100, heading=f"Part {i}") for i in range(30))  # 30 × 5,500 characters
    choices = tuple(Choice(f"Choice {i}", f"act:{i}") for i in range(3))
    reply = Reply(ReplyKind.ANSWER, "Very long", sections, choices=choices, note="Small print.")
    messages = render_reply(reply)
    assert len(messages) > 1
    assert_valid(messages)
    for message in messages:
        assert sum(len(json.dumps(b)) for b in message["blocks"]) <= MESSAGE_TEXT_BUDGET
    # Title opens the first message; buttons close the last one.
    assert messages[0]["blocks"][0]["type"] == "header"
    assert messages[-1]["blocks"][-1]["type"] == "actions"
    assert all(b["type"] != "actions" for m in messages[:-1] for b in m["blocks"])
    assert "(continued)" in messages[1]["text"]


def test_user_text_and_content_cannot_ping_or_fake_links() -> None:
    hostile = " ".join(INJECTIONS) + " a & b"
    reply = Reply(
        ReplyKind.ANSWER,
        hostile,
        (Section(hostile, heading=hostile),),
        choices=(Choice(hostile, "x"),),
        note=hostile,
        sources=(SourceRef(hostile, "https://example.org/a?b=1&c=2", "2024"),),
    )
    messages = render_reply(reply, asked=hostile)
    assert_valid(messages)
    rendered = parsed_texts(messages)
    for injection in INJECTIONS:
        assert injection not in rendered
    assert "&lt;!channel&gt;" in rendered and "a &amp; b" in rendered
    # The one link is ours, with its query string escaped as Slack asks.
    assert "<https://example.org/a?b=1&amp;c=2|" in rendered
    # Header and button labels are plain_text, which Slack never parses: shown as typed, harmless.
    assert messages[0]["blocks"][0]["text"] == {"type": "plain_text", "text": hostile, "emoji": True}


def test_buttons_keep_actions_and_fit_labels() -> None:
    long_label = "A very long answer choice that goes on and on well past what Slack allows on a button label"
    reply = Reply(
        ReplyKind.QUIZ_QUESTION,
        "Quiz",
        (Section("Pick one"),),
        choices=(
            Choice(long_label, "quiz:a:q1:0:c1"),
            Choice("Back", "quiz:back:q1:0"),
            Choice("Cancel", "quiz:cancel:q1", ChoiceStyle.DANGER),
        ),
        progress=Progress(3, 8),
    )
    messages = render_reply(reply)
    assert_valid(messages)
    buttons = [e for b in messages[0]["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["value"] for b in buttons] == ["quiz:a:q1:0:c1", "quiz:back:q1:0", "quiz:cancel:q1"]
    assert len({b["action_id"] for b in buttons}) == 3
    assert len(buttons[0]["text"]["text"]) <= MAX_BUTTON_TEXT and buttons[0]["text"]["text"].endswith("…")
    assert buttons[2]["style"] == "danger" and "style" not in buttons[1]
    progress = messages[0]["blocks"][1]["elements"][0]["text"]
    assert progress.startswith("*Question 3 of 8*") and "████░░░░░░" in progress  # 3 of 8 = 38 %


def test_share_button_only_when_its_value_fits() -> None:
    reply = Reply(ReplyKind.ANSWER, "T", (Section("text"),))
    with_share = render_reply(reply, share_value='{"command":"ask","text":"q"}')
    assert with_share[0]["blocks"][-1]["elements"][-1]["action_id"] == "share"
    without = render_reply(reply, share_value="x" * 2001)
    assert all(b["type"] != "actions" for b in without[0]["blocks"])


async def test_every_kind_of_real_reply_renders_valid_block_kit(advisor: Advisor) -> None:
    requests = [
        Request("slack", "T", "u1", text="what does a paralegal do"),
        Request("slack", "T", "u1", text="pay for all three roles"),
        Request("slack", "T", "u1", text="what about their education?"),
        Request("slack", "T", "u1", text="my landlord is evicting me, can I sue?"),
        Request("slack", "T", "u1", text="how do I bake bread"),
        Request("slack", "T", "u1", command=Command.HELP),
        Request("slack", "T", "u1", command=Command.ROLES),
        Request("slack", "T", "u1", command=Command.COMPARE, text="paralegal legal secretary"),
        Request("slack", "T", "u1", command=Command.COMPARE, text=""),
        Request("slack", "T", "u1", command=Command.FORGET),
    ]
    replies = [await advisor.handle(r) for r in requests]
    # And a whole quiz, first answer every time, to the result.
    reply = await advisor.handle(Request("slack", "T", "quiz", command=Command.QUIZ))
    while reply.kind is ReplyKind.QUIZ_QUESTION:
        replies.append(reply)
        reply = await advisor.handle(Request("slack", "T", "quiz", action=reply.choices[0].action))
    assert reply.kind is ReplyKind.QUIZ_RESULT
    replies.append(reply)
    for reply in replies:
        assert_valid(render_reply(reply, asked="question", share_value='{"text":"q"}'))


async def test_app_home_is_a_valid_home_view_with_a_quiz_button(advisor: Advisor) -> None:
    reply = await advisor.handle(Request("slack", "T", "u1", command=Command.HELP))
    view = render_home(reply, [("/career", "ask"), ("/career-quiz", "quiz")])
    assert view["type"] == "home"
    assert block_problems(view["blocks"], max_blocks=100) == []
    buttons = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert any(b.get("style") == "primary" and b["value"].startswith("quiz:") for b in buttons)
    assert "/career-quiz" in json.dumps(view)
