"""The Slack adapter end to end, offline: real signed requests → our bolt app over HTTP on loopback → the real
Advisor and knowledge base → Web API calls recorded by a loopback fake of Slack."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from core.advisor import Advisor
from core.kb_loader import load_knowledge_base
from core.kb_model import KnowledgeBase
from core.sessions import MemorySessionStore
from tests.slack_fakes import (
    APP_TOKEN,
    BOT_ID,
    BOT_TOKEN,
    BOT_USER,
    FORM,
    JSON,
    SIGNING_SECRET,
    Call,
    FakeSlack,
    SlackHarness,
    app_home_opened,
    app_mention,
    direct_message,
    event_callback,
    form_body,
    message_problems,
    serve_app,
    sign,
    slash_command,
)
from tests.store_doubles import FlakySessionStore, SlowSessionStore

pytestmark = pytest.mark.timeout(30)

T = TypeVar("T")
STUDENT = "U0STUDENT1"
HOSTILE = "<!channel> <!here> <!everyone> <@U0EVIL> <!subteam^S0EVIL> <http://evil.example|your bank> & co"
INJECTIONS = ("<!channel>", "<!here>", "<!everyone>", "<@U0EVIL>", "<!subteam^S0EVIL>", "<http://evil.example")


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def slack(advisor: Advisor, fake_slack: FakeSlack) -> AsyncIterator[SlackHarness]:
    async with serve_app(advisor, fake_slack) as harness:
        yield harness


# -- helpers -----------------------------------------------------------------------------------------------


def blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    return message.get("blocks") or []


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in blocks(message) if b["type"] == "actions" for e in b["elements"]]


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    for element in buttons(message):
        if element["text"]["text"] == label:
            return element
    raise AssertionError(f"no {label!r} button in {[e['text']['text'] for e in buttons(message)]}")


def texts(message: dict[str, Any]) -> str:
    """The mrkdwn a user reads (sections and context lines), joined."""
    found = []
    for block in blocks(message):
        if block["type"] == "section":
            found.append(block["text"]["text"])
        elif block["type"] == "context":
            found.extend(e["text"] for e in block["elements"])
    return "\n".join(found)


def header(message: dict[str, Any]) -> str:
    first = blocks(message)[0]
    assert first["type"] == "header"
    return first["text"]["text"]


def assert_valid(*messages: dict[str, Any]) -> None:
    assert messages
    for message in messages:
        assert message_problems(message) == [], message_problems(message)


def one(items: list[T]) -> T:
    assert len(items) == 1, items
    return items[0]


def no_injection(calls: list[Call]) -> None:
    """Nothing Slack parses may carry a live mention or foreign link."""
    for call in calls:
        parsed = [call.body.get("text") or ""]
        parsed += [texts(call.body)]
        joined = "\n".join(parsed)
        for injection in INJECTIONS:
            assert injection not in joined, (injection, joined)


# -- slash commands ----------------------------------------------------------------------------------------


async def test_career_answers_privately_with_a_share_button(slack: SlackHarness) -> None:
    started = time.perf_counter()
    response, url = await slack.command("/career", "what does a paralegal do?")
    assert response.status == 200 and response.text == ""  # an empty ack: the answer follows via response_url
    assert time.perf_counter() - started < 1.0
    answer = one(await slack.answers(url))
    assert_valid(answer)
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert "paralegal" in header(answer).lower()
    assert "You asked: “what does a paralegal do?”" in texts(answer)
    assert "*Sources*" in texts(answer) and "<https://" in texts(answer)
    share = button(answer, "Share in channel")
    assert json.loads(share["value"]) == {"command": "ask", "text": "what does a paralegal do?"}
    assert answer["text"]  # the notification fallback is always there


async def test_career_without_a_question_shows_help(slack: SlackHarness) -> None:
    _, url = await slack.command("/career", "")
    answer = one(await slack.answers(url))
    assert_valid(answer)
    assert header(answer) == "Legal Careers Advisor"
    assert "Here's what I can do" in texts(answer)
    assert button(answer, "Start the quiz")["style"] == "primary"
    assert all(b["action_id"] != "share" for b in buttons(answer))  # help is not worth sharing


async def test_career_compare_two_roles(slack: SlackHarness) -> None:
    _, url = await slack.command("/career-compare", "paralegal legal secretary")
    answer = one(await slack.answers(url))
    assert_valid(answer)
    assert "paralegal" in header(answer).lower() and "secretary" in header(answer).lower()
    assert "You asked: “paralegal legal secretary”" in texts(answer)
    assert json.loads(button(answer, "Share in channel")["value"])["command"] == "compare"


async def test_career_compare_without_roles_offers_the_pairs(slack: SlackHarness) -> None:
    _, url = await slack.command("/career-compare", "")
    answer = one(await slack.answers(url))
    assert_valid(answer)
    assert len([b for b in buttons(answer) if b["value"].startswith("compare:")]) == 3


async def test_career_roles_lists_the_three_roles(slack: SlackHarness) -> None:
    _, url = await slack.command("/career-roles")
    answer = one(await slack.answers(url))
    assert_valid(answer)
    sections = [b for b in blocks(answer) if b["type"] == "section"]
    assert len(sections) == 3
    headings = {s["text"]["text"].split("\n")[0] for s in sections}
    assert headings == {"*Legal secretary*", "*Paralegal*", "*Legal assistant*"}


async def test_career_forget_confirms_privately(slack: SlackHarness) -> None:
    _, url = await slack.command("/career-forget")
    answer = one(await slack.answers(url))
    assert_valid(answer)
    assert answer["response_type"] == "ephemeral" and "deleted" in texts(answer)


# -- the quiz ----------------------------------------------------------------------------------------------


async def test_whole_quiz_clicked_through_to_the_result(slack: SlackHarness, kb: KnowledgeBase) -> None:
    total = len(kb.quiz.questions)
    _, url = await slack.command("/career-quiz")
    message = one(await slack.answers(url))
    assert message["replace_original"] is False  # the first question is a new message
    went_back = False
    for number in range(1, total + 1):
        assert_valid(message)
        assert message["response_type"] == "ephemeral"
        assert f"*Question {number} of {total}*" in texts(message)
        assert "█" in texts(message)  # the progress bar
        labels = [b["text"]["text"] for b in buttons(message)]
        assert labels[-1] == "Cancel" and (number == 1 or labels[-2] == "Back")
        if number == 3 and not went_back:
            # Back once: the same message shows question 2 again, then carry on.
            _, back_url = await slack.click(button(message, "Back")["value"], is_ephemeral=True)
            back = one(await slack.answers(back_url))
            assert back["replace_original"] is True and f"*Question 2 of {total}*" in texts(back)
            _, url = await slack.click(buttons(back)[0]["value"], is_ephemeral=True)
            message = one(await slack.answers(url))
            went_back = True
        _, url = await slack.click(buttons(message)[0]["value"], action_id=buttons(message)[0]["action_id"])
        message = one(await slack.answers(url))
        assert message["replace_original"] is True  # every step edits the quiz message in place
    result = message
    assert_valid(result)
    assert "results" in header(result).lower()
    body = texts(result)
    assert body.count("%") >= 3 and "█" in body  # a bar per role
    assert "*Next steps*" in body and "*Sources*" in body
    assert "Retake the quiz" in [b["text"]["text"] for b in buttons(result)]


async def test_quiz_cancel_and_resume(slack: SlackHarness, kb: KnowledgeBase) -> None:
    total = len(kb.quiz.questions)
    _, url = await slack.command("/career-quiz")
    first = one(await slack.answers(url))
    _, url = await slack.click(buttons(first)[0]["value"])
    second = one(await slack.answers(url))
    # Typing the command again resumes where the quiz stands.
    _, url = await slack.command("/career-quiz")
    resumed = one(await slack.answers(url))
    assert f"*Question 2 of {total}*" in texts(resumed)
    _, url = await slack.click(button(second, "Cancel")["value"])
    cancelled = one(await slack.answers(url))
    assert_valid(cancelled)
    assert cancelled["replace_original"] is True and "cancelled" in texts(cancelled).lower()
    # `restart` starts over from question 1.
    _, url = await slack.command("/career-quiz", "restart")
    assert f"*Question 1 of {total}*" in texts(one(await slack.answers(url)))


# -- request authenticity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda body: sign(body, secret="not-the-secret"), id="wrong-secret"),
        pytest.param(lambda body: sign(body, timestamp=int(time.time()) - 330), id="stale-timestamp"),
        pytest.param(lambda body: sign(body, timestamp=int(time.time()) + 330), id="future-timestamp"),
        pytest.param(lambda body: sign(body.replace("paralegal", "lawyer")), id="tampered-body"),
        pytest.param(lambda body: {}, id="unsigned"),
    ],
)
async def test_forged_or_stale_requests_are_rejected_without_a_reply(
    slack: SlackHarness, forge: Callable[[str], dict[str, str]]
) -> None:
    body = form_body(slash_command("/career", "what does a paralegal do", slack.fake.response_url()))
    headers = {"Content-Type": FORM, **forge(body)}
    async with slack.session.post(slack.url, data=body.encode(), headers=headers) as response:
        assert response.status == 401
        assert await response.json() == {"error": "invalid request"}
    await slack.settle()
    assert slack.fake.replies() == []


async def test_url_verification_handshake(slack: SlackHarness) -> None:
    response = await slack.post(json.dumps({"type": "url_verification", "challenge": "c-123", "token": "x"}), JSON)
    assert response.status == 200 and "c-123" in response.text


# -- events: mentions, DMs, retries ------------------------------------------------------------------------


async def test_mention_is_answered_in_a_thread(slack: SlackHarness) -> None:
    response = await slack.event(app_mention("how much do paralegals make?", ts="1700000010.000100"))
    assert response.status == 200
    await slack.settle()
    post = one(slack.fake.calls("chat.postMessage"))
    assert post.token == BOT_TOKEN
    assert post.body["channel"] == "C0GENERAL" and post.body["thread_ts"] == "1700000010.000100"
    assert_valid(post.body)
    assert "paralegal" in header(post.body).lower()
    assert all(b["action_id"] != "share" for b in buttons(post.body))  # already public


async def test_mention_asking_for_legal_advice_is_answered_privately(slack: SlackHarness) -> None:
    await slack.event(app_mention("my landlord is evicting me, can I sue him?", ts="1700000011.000100"))
    await slack.settle()
    assert slack.fake.calls("chat.postMessage") == []
    private = one(slack.fake.calls("chat.postEphemeral"))
    assert private.body["user"] == STUDENT and private.body["thread_ts"] == "1700000011.000100"
    assert "legal advice" in header(private.body).lower()


async def test_direct_message_is_answered_in_a_thread(slack: SlackHarness) -> None:
    await slack.event(direct_message("do legal secretaries need a degree", ts="1700000012.000100"))
    await slack.settle()
    post = one(slack.fake.calls("chat.postMessage"))
    assert post.body["channel"] == "D0STUDENT1" and post.body["thread_ts"] == "1700000012.000100"
    assert_valid(post.body)


async def test_own_messages_edits_and_other_bots_are_ignored(slack: SlackHarness) -> None:
    own = {**direct_message("a reply the bot posted"), "user": BOT_USER, "bot_id": BOT_ID}
    edited = {**direct_message("edited text"), "subtype": "message_changed"}
    other_bot = {**direct_message("hello from another bot"), "bot_id": "B0OTHER"}
    for event in (own, edited, other_bot):
        assert (await slack.event(event)).status == 200
    await slack.settle()
    assert slack.fake.replies() == []


async def test_a_retried_event_gets_exactly_one_answer(slack: SlackHarness) -> None:
    event = app_mention("what does a legal assistant do?")
    first = await slack.event(event, event_id="Ev0RETRY01")
    retry = await slack.event(event, event_id="Ev0RETRY01", retry=1)
    # Slack's http_timeout retries can arrive while the first delivery is still being answered.
    both = await asyncio.gather(
        slack.event(event, event_id="Ev0RETRY02"), slack.event(event, event_id="Ev0RETRY02", retry=1)
    )
    assert {first.status, retry.status, *(r.status for r in both)} == {200}
    await slack.settle()
    assert len(slack.fake.calls("chat.postMessage")) == 2  # one per distinct event


# -- escaping ----------------------------------------------------------------------------------------------


async def test_mentions_and_links_in_user_text_never_ping(slack: SlackHarness) -> None:
    _, url = await slack.command("/career", f"{HOSTILE} what does a paralegal do?")
    _, url2 = await slack.command("/career-compare", f"{HOSTILE} paralegal vs legal secretary")
    await slack.event(app_mention(f"{HOSTILE} paralegal pay"))
    await slack.event(direct_message(f"{HOSTILE} paralegal pay"))
    await slack.settle()
    calls = slack.fake.replies()
    assert len(calls) == 4
    no_injection(calls)
    echoed = one(await slack.answers(url))
    assert "&lt;!channel&gt; &lt;!here&gt;" in texts(echoed) and "&amp; co" in texts(echoed)
    assert "&lt;@U0EVIL&gt;" in texts(one(await slack.answers(url2)))
    for call in calls:
        assert "link_names" not in call.body and "parse" not in call.body


# -- long answers ------------------------------------------------------------------------------------------


def long_kb(kb_copy: Path, help_chars: int = 5000, summary_chars: int = 5000) -> KnowledgeBase:
    """The real knowledge base with a 5,000-character help text and 5,000-character role summaries.

    Entry answers are capped at 900 characters by the schema; these texts are not, so they are how a really long
    reply reaches the adapter.
    """
    texts_file = kb_copy / "texts.yaml"
    data = yaml.safe_load(texts_file.read_text())
    sentence = "I answer questions about legal-support careers & explain what each role involves. "
    data["texts"]["help"] = (sentence * (help_chars // len(sentence) + 1))[:help_chars]
    texts_file.write_text(yaml.safe_dump(data, allow_unicode=True))
    roles_file = kb_copy / "roles.yaml"
    roles = yaml.safe_load(roles_file.read_text())
    for role in roles["roles"]:
        line = f"{role['name']} work means documents, deadlines and people <always> on time. "
        role["summary"] = (line * (summary_chars // len(line) + 1))[:summary_chars]
    roles_file.write_text(yaml.safe_dump(roles, allow_unicode=True))
    return load_knowledge_base(kb_copy)


async def test_a_5000_character_answer_is_split_and_accepted(kb_copy: Path, fake_slack: FakeSlack) -> None:
    advisor = Advisor(long_kb(kb_copy), MemorySessionStore())
    async with serve_app(advisor, fake_slack) as slack:
        _, url = await slack.command("/career", "")
        answer = one(await slack.answers(url))
        assert_valid(answer)  # the fake answers invalid_blocks (HTTP 400) otherwise
        sections = [b["text"]["text"] for b in blocks(answer) if b["type"] == "section"]
        assert len(sections) == 2 and all(len(s) <= 3000 for s in sections)
        assert sum(len(s) for s in sections) >= 5000

        # Three 5,000-character sections: more than one message's worth, each message within every limit.
        _, url = await slack.command("/career-roles")
        parts = await slack.answers(url)
        assert len(parts) >= 2
        assert_valid(*parts)
        assert all(len(b["text"]["text"]) <= 3000 for p in parts for b in blocks(p) if b["type"] == "section")
        assert "&lt;always&gt;" in texts(parts[0])
        assert buttons(parts[-1]) and all(not buttons(p) for p in parts[:-1])  # buttons under the end


# -- failures ----------------------------------------------------------------------------------------------


async def test_the_core_failing_gives_a_friendly_error_and_the_app_carries_on(
    advisor: Advisor, kb: KnowledgeBase, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    advisor.store = FlakySessionStore(failures=1)
    caplog.set_level(logging.INFO)
    async with serve_app(advisor, fake_slack) as slack:
        response, url = await slack.command("/career", "what does a paralegal do?")
        assert response.status == 200
        error = one(await slack.answers(url))
        assert_valid(error)
        assert error["response_type"] == "ephemeral"
        assert kb.texts.error in texts(error) and "Traceback" not in json.dumps(error)
        assert all(b["action_id"] != "share" for b in buttons(error))
        # The next request is answered normally.
        _, url = await slack.command("/career", "what does a paralegal do?")
        assert "paralegal" in header(one(await slack.answers(url))).lower()
    failure_logs = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("platform=slack" in r.getMessage() and STUDENT in r.getMessage() for r in failure_logs)


async def test_slack_refusing_a_message_is_logged_and_the_user_told_in_plain_words(
    slack: SlackHarness, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    slack.fake.fail_next("chat.postMessage", error="invalid_blocks")
    await slack.event(app_mention("what does a paralegal do?"))
    await slack.settle()
    refused, fallback = slack.fake.calls("chat.postMessage")
    assert refused.body.get("blocks") and "blocks" not in fallback.body
    assert fallback.body["text"] == kb.texts.error
    warning = one([r.getMessage() for r in caplog.records if "slack delivery failed" in r.getMessage()])
    assert "invalid_blocks" in warning and f"user={STUDENT}" in warning and "channel=C0GENERAL" in warning


async def test_rate_limited_calls_wait_as_slack_says_then_succeed(slack: SlackHarness) -> None:
    slack.fake.fail_next("chat.postMessage", status=429, retry_after=1)
    await slack.event(app_mention("what does a paralegal do?"))
    await slack.settle()
    limited, retried = slack.fake.calls("chat.postMessage")
    assert retried.at - limited.at >= 1.0  # Retry-After: 1
    assert retried.body == limited.body
    assert slack.fake.calls("chat.postEphemeral") == []  # no error message: it worked the second time


async def test_ack_comes_first_even_when_the_work_is_slow(advisor: Advisor, fake_slack: FakeSlack) -> None:
    advisor.store = SlowSessionStore(delay=1.5)
    async with serve_app(advisor, fake_slack) as slack:
        started = time.perf_counter()
        response, url = await slack.command("/career", "what does a paralegal do?")
        acked = time.perf_counter() - started
        assert response.status == 200 and acked < 0.5
        answer = one(await slack.answers(url))
        assert time.perf_counter() - started >= 1.5 and "paralegal" in header(answer).lower()


async def test_no_secret_reaches_the_logs(
    advisor: Advisor, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # before the app exists: bolt copies the root level into its loggers
    async with serve_app(advisor, fake_slack) as slack:
        await slack.command("/career", "what does a paralegal do?")
        forged = form_body(slash_command("/career", "a private question", slack.fake.response_url()))
        await slack.post(forged, FORM, sign(forged, secret="wrong"))
        await slack.event(app_mention("paralegal pay"))
        await slack.settle()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Sending a request" in logged  # DEBUG really was captured, Web API calls included
    for secret in (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN):
        assert secret not in logged
    # A rejected request is reported without its body (what the user typed).
    assert "Invalid request signature detected (body withheld)" in logged
    assert "a private question" not in logged


# -- buttons outside the quiz: share, public messages, App Home --------------------------------------------


async def test_share_posts_the_answer_to_the_channel_and_removes_the_private_copy(slack: SlackHarness) -> None:
    _, url = await slack.command("/career", f"{HOSTILE} how much do paralegals make?")
    private = one(await slack.answers(url))
    share = button(private, "Share in channel")
    _, share_url = await slack.click(share["value"], action_id="share")
    posted, deleted = await slack.answers(share_url)
    assert_valid(posted)
    assert posted["response_type"] == "in_channel" and posted["replace_original"] is False
    assert f"<@{STUDENT}> shared this" in texts(posted)  # the only mention: ours, from the payload's user id
    assert header(posted) == header(private)
    assert all(b["action_id"] != "share" for b in buttons(posted))
    assert deleted.get("delete_original") is True
    no_injection([Call("response_url", posted)])


async def test_a_click_on_a_public_message_is_answered_privately(slack: SlackHarness) -> None:
    await slack.event(app_mention("how much do paralegals make?", ts="1700000020.000100"))
    await slack.settle()
    public = one(slack.fake.calls("chat.postMessage")).body
    related = buttons(public)[0]
    _, url = await slack.click(
        related["value"], is_ephemeral=False, channel="C0GENERAL", message_ts="1700000021.000100"
    )
    answer = one(await slack.answers(url))
    assert_valid(answer)
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert slack.fake.calls("chat.update") == []  # nobody else's view changed


async def test_app_home_and_a_quiz_started_from_it_continues_in_the_dm(slack: SlackHarness) -> None:
    await slack.event(app_home_opened(STUDENT))
    await slack.settle()
    publish = one(slack.fake.calls("views.publish"))
    assert publish.body["user_id"] == STUDENT
    view = publish.body["view"]
    assert view["type"] == "home" and message_problems({"text": "x", "blocks": view["blocks"]}, max_blocks=100) == []
    assert "/career-quiz" in json.dumps(view)
    start = next(b for b in buttons(view) if b.get("style") == "primary")

    # The home tab has no channel: the quiz opens in the app's DM with the student.
    await slack.click(start["value"], action_id=start["action_id"], container_type="view", channel=None)
    await slack.settle()
    question = one(slack.fake.calls("chat.postMessage"))
    assert question.body["channel"] == STUDENT and "*Question 1 of" in texts(question.body)

    # A click in the DM edits that message with chat.update (a real message, not an ephemeral one).
    dm, ts = "D" + STUDENT[1:], "1700000030.000100"
    _, url = await slack.click(buttons(question.body)[0]["value"], is_ephemeral=False, channel=dm, message_ts=ts)
    await slack.settle()
    update = one(slack.fake.calls("chat.update"))
    assert update.body["channel"] == dm and update.body["ts"] == ts and "*Question 2 of" in texts(update.body)
    assert_valid(update.body)
    assert await slack.answers(url) == []


async def test_home_tab_switches_to_messages_publish_nothing(slack: SlackHarness) -> None:
    await slack.event({**app_home_opened(STUDENT), "tab": "messages"})
    await slack.settle()
    assert slack.fake.calls("views.publish") == []


def test_events_envelope_helper_is_what_slack_sends() -> None:
    # Keep the builders honest: bolt routes on these exact fields.
    body = event_callback(app_mention("hi"))
    assert body["type"] == "event_callback" and body["event"]["type"] == "app_mention"
    assert body["event"]["text"].startswith(f"<@{BOT_USER}>")
