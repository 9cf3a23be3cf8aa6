"""The Discord bot offline: real discord.py (CommandTree, DynamicItem buttons, Interaction, HTTP client) and the
real Advisor, talking to a loopback fake of Discord's REST API (tests/discord_fakes.py).

Events enter through discord.py's own gateway parsers; assertions are on the HTTP requests Discord would have
received. The fake rejects anything over Discord's limits, so every test also checks the limits it touches,
and the ``discord_api`` fixture checks after each test that no request was rejected and that everything the bot
sent carried ``allowed_mentions: {"parse": []}``.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import discord
import pytest
import yaml

from bots.discord.bot import NOT_YOUR_QUIZ, AdvisorBot, build_discord_bot
from bots.discord.render import CUSTOM_ID_TEMPLATE
from bots.discord.runner import run_discord, sync_commands, sync_tree
from bots.discord.views import AdvisorButton
from core.advisor import Advisor
from core.config import Settings
from core.kb_loader import load_knowledge_base
from core.kb_model import KnowledgeBase
from core.sessions import MemorySessionStore, SessionKey, SQLiteSessionStore
from tests.discord_fakes import (
    ALICE,
    APP_ID,
    BOB,
    BOT_ID,
    EPHEMERAL,
    FAKE_TOKEN,
    GUILD_ID,
    FakeDiscord,
    Recorded,
    button,
    buttons_of,
    deliver,
    deliver_message,
    message_create_payload,
    running_bot,
)
from tests.store_doubles import FlakySessionStore, SlowSessionStore

T = TypeVar("T")
PINGS = "@everyone @here <@&1300000000000000999> <@1300000000000000302>"


@pytest.fixture
async def discord_api() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as api:
        yield api
        assert not api.rejected, f"Discord would have rejected: {[(r.path, why) for r, why in api.rejected]}"
        for sent in api.outgoing_messages():
            mentions = sent.message_body.get("allowed_mentions") or {}
            assert mentions.get("parse") == [] and not mentions.get("replied_user"), (sent.path, sent.body)
            assert not mentions.get("users") and not mentions.get("roles"), (sent.path, sent.body)


@pytest.fixture
async def bot(advisor: Advisor, discord_api: FakeDiscord) -> AsyncIterator[AdvisorBot]:
    async with running_bot(advisor) as running:
        yield running


def embeds_of(recorded: Recorded) -> list[dict[str, Any]]:
    return recorded.message_body.get("embeds") or []


def flags_of(recorded: Recorded) -> int:
    return recorded.message_body.get("flags") or 0


def all_text(recorded: Recorded) -> str:
    parts = [recorded.message_body.get("content") or ""]
    for embed in embeds_of(recorded):
        parts += [embed.get("title") or "", embed.get("description") or "", (embed.get("footer") or {}).get("text", "")]
        parts += [f["name"] + "\n" + f["value"] for f in embed.get("fields") or []]
    return "\n".join(parts)


async def run(api: FakeDiscord, bot: AdvisorBot, payload: dict[str, Any]) -> Recorded:
    """Deliver an interaction and return the bot's response to it (the interaction callback)."""
    return await api.response_to(deliver(bot, payload))


async def click(api: FakeDiscord, bot: AdvisorBot, message_id: str, user_id: int = ALICE, **which: Any) -> Recorded:
    message = api.message(message_id)
    return await run(api, bot, api.click(message, button(message, **which)["custom_id"], user_id=user_id))


# -- slash commands ---------------------------------------------------------------------------------------


async def test_career_answers_in_public_with_sources_and_never_pings(discord_api: FakeDiscord, bot: AdvisorBot):
    started = time.monotonic()
    response = await run(discord_api, bot, discord_api.slash("career", question=f"how much do paralegals make {PINGS}"))
    assert response.callback_type == 4  # answered directly: the core is fast, no "thinking" needed
    assert response.at - started < 1.0
    assert not flags_of(response) & EPHEMERAL  # plain answers are public by default
    assert response.message_body["allowed_mentions"] == {"parse": []}
    (embed,) = embeds_of(response)
    assert "paralegal" in embed["title"].lower() and embed["description"]
    assert embed["fields"][0]["name"] == "Sources" and "](https://" in embed["fields"][0]["value"]
    assert any(":role:paralegal:" in b["custom_id"] for b in buttons_of(response.message_body))


async def test_answers_are_private_when_configured(advisor: Advisor, discord_api: FakeDiscord):
    settings = Settings(discord_token=FAKE_TOKEN, discord_public_answers=False)
    async with running_bot(advisor, settings) as private_bot:
        response = await run(discord_api, private_bot, discord_api.slash("career", question="what does a paralegal do"))
    assert response.callback_type == 4 and flags_of(response) & EPHEMERAL


@pytest.mark.parametrize(
    ("command", "options", "private", "expect"),
    [
        ("career-help", {}, True, "/career-quiz"),
        ("career-roles", {}, False, "Paralegal"),
        ("career-compare", {"first": "paralegal", "second": "legal_secretary"}, False, "Legal secretary"),
        ("career-compare", {"first": "para", "second": "legal sec"}, False, "Paralegal"),
        ("career-quiz", {}, True, "Question 1 of"),
        ("career-quiz", {"restart": True}, True, "Question 1 of"),
        ("career-forget", {}, True, "Forgotten"),
        ("career", {"question": "should i sue my landlord"}, True, "legal advice"),
    ],
)
async def test_each_command_responds_within_limits_with_the_intended_visibility(
    discord_api: FakeDiscord, bot: AdvisorBot, command: str, options: dict[str, Any], private: bool, expect: str
):
    response = await run(discord_api, bot, discord_api.slash(command, **options))
    assert response.status == 200 and response.callback_type == 4
    assert bool(flags_of(response) & EPHEMERAL) is private
    assert expect.lower() in all_text(response).lower()
    for b in buttons_of(response.message_body):
        assert len(b["custom_id"]) <= 100 and len(b["label"]) <= 80


async def test_compare_names_both_roles(discord_api: FakeDiscord, bot: AdvisorBot):
    options = {"first": "paralegal", "second": "legal_assistant"}
    text = all_text(await run(discord_api, bot, discord_api.slash("career-compare", **options)))
    assert "Paralegal" in text and "legal assistant" in text.lower()


async def test_slash_command_in_a_dm(discord_api: FakeDiscord, bot: AdvisorBot, advisor: Advisor):
    response = await run(discord_api, bot, discord_api.slash("career-quiz", guild_id=None))
    assert response.callback_type == 4 and flags_of(response) & EPHEMERAL
    session = await advisor.store.load(SessionKey("discord", "dm", str(ALICE)))
    assert session.quiz is not None and session.quiz.position == 0


async def test_role_autocomplete(discord_api: FakeDiscord, bot: AdvisorBot, kb: KnowledgeBase):
    async def choices(typed: str, option: str = "first") -> list[dict[str, Any]]:
        payload = discord_api.autocomplete("career-compare", option, **{option: typed})
        response = await run(discord_api, bot, payload)
        assert response.callback_type == 8
        return response.body["data"]["choices"]

    assert [c["value"] for c in await choices("")] == kb.role_ids()
    assert await choices("para") == [{"name": "Paralegal", "value": "paralegal"}]
    assert [c["value"] for c in await choices("legal sec", "second")] == ["legal_secretary"]
    assert await choices("astronaut") == []


async def test_question_autocomplete_suggests_knowledge_base_questions(discord_api: FakeDiscord, bot: AdvisorBot):
    response = await run(discord_api, bot, discord_api.autocomplete("career", "question", question="paralegal pay"))
    choices = response.body["data"]["choices"]
    assert 1 <= len(choices) <= 25
    assert all(1 <= len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in choices)
    assert "paralegal" in choices[0]["name"].lower()
    everything = await run(discord_api, bot, discord_api.autocomplete("career", "question", question=""))
    assert len(everything.body["data"]["choices"]) == 25  # more questions than that exist; Discord allows 25


async def test_unknown_command_gets_a_polite_answer(discord_api: FakeDiscord, bot: AdvisorBot, caplog):
    # A command removed from the code but still registered with Discord (before the next sync).
    with caplog.at_level(logging.ERROR, logger="advisor.discord"):
        response = await run(discord_api, bot, discord_api.slash("career-old"))
    assert flags_of(response) & EPHEMERAL and "out of date" in response.message_body["content"]
    assert "career-old" in caplog.text


# -- long replies -----------------------------------------------------------------------------------------


def edited_kb(kb_copy: Path, file: str, edit: Callable[[dict[str, Any]], None]) -> KnowledgeBase:
    path = kb_copy / file
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return load_knowledge_base(kb_copy)


async def test_five_thousand_character_answer_is_split_within_limits(kb_copy: Path, discord_api: FakeDiscord):
    # A real knowledge base whose help text is 5,000 characters, shown by the real /career-help.
    paragraph = "You can ask me about duties, pay, education, certification and career paths. " * 13
    long_help = "\n\n".join([paragraph.strip()] * 5)[:5000]

    def lengthen(data: dict[str, Any]) -> None:
        data["texts"]["help"] = long_help

    kb = edited_kb(kb_copy, "texts.yaml", lengthen)
    assert len(kb.texts.help) == 5000
    async with running_bot(Advisor(kb, MemorySessionStore())) as long_bot:
        response = await run(discord_api, long_bot, discord_api.slash("career-help"))
        await discord_api.settle()
    parts = discord_api.outgoing_messages()
    assert parts[0] is response
    descriptions = [e["description"] for p in parts for e in embeds_of(p) if e.get("description")]
    assert len(descriptions) >= 2 and all(len(d) <= 4096 for d in descriptions)  # one embed cannot hold it
    assert all(flags_of(p) & EPHEMERAL for p in parts)  # every part as private as the first
    shown = "".join(descriptions)
    assert shown.replace("\n", "").replace(" ", "") == long_help.replace("\n", "").replace(" ", "")
    assert buttons_of(parts[-1].message_body)  # the buttons come after all of the text


async def test_reply_of_many_long_sections_is_split_within_limits(kb_copy: Path, discord_api: FakeDiscord):
    # /career-roles shows one section per role summary; make each summary 3,000 characters long.
    def lengthen(data: dict[str, Any]) -> None:
        for role in data["roles"]:
            role["summary"] = (role["summary"] + " ") * (3000 // (len(role["summary"]) + 1))

    kb = edited_kb(kb_copy, "roles.yaml", lengthen)
    async with running_bot(Advisor(kb, MemorySessionStore())) as long_bot:
        response = await run(discord_api, long_bot, discord_api.slash("career-roles"))
        await discord_api.settle()
    parts = discord_api.outgoing_messages()
    assert parts[0] is response and len(parts) >= 2  # more than 6,000 characters: several messages
    assert [p.path.startswith("/webhooks/") for p in parts[1:]] == [True] * (len(parts) - 1)  # follow-ups
    assert not any(flags_of(p) & EPHEMERAL for p in parts)
    assert [bool(buttons_of(p.message_body)) for p in parts] == [False] * (len(parts) - 1) + [True]
    for role in kb.roles:
        assert role.name in "".join(all_text(p) for p in parts)


# -- failures ---------------------------------------------------------------------------------------------


async def test_core_failure_gives_a_friendly_error_and_the_bot_carries_on(
    advisor: Advisor, discord_api: FakeDiscord, kb: KnowledgeBase
):
    advisor.store = FlakySessionStore(failures=1, message="backend exploded")
    async with running_bot(advisor) as flaky_bot:
        failed = await run(discord_api, flaky_bot, discord_api.slash("career-quiz"))
        assert failed.callback_type == 4 and flags_of(failed) & EPHEMERAL
        assert kb.texts.error in all_text(failed)
        assert embeds_of(failed)[0]["title"] == "Something went wrong"
        recovered = await run(discord_api, flaky_bot, discord_api.slash("career-quiz"))
        assert "Question 1 of" in all_text(recovered)


async def test_discord_refusing_a_response_is_logged_and_the_bot_carries_on(
    discord_api: FakeDiscord, bot: AdvisorBot, caplog
):
    # 400 rather than 500: discord.py itself retries a 500, which is worth knowing but not what is tested here.
    discord_api.fail_next(r"/callback$", 400, {"message": "Invalid Form Body", "code": 50035})
    with caplog.at_level(logging.ERROR, logger="advisor.discord"):
        payload = deliver(bot, discord_api.slash("career-roles"))
        apology = await discord_api.wait_for(lambda r: r.path.endswith("/callback") and r.status == 200)
    assert apology.message_body["flags"] & EPHEMERAL and apology.message_body["content"] == bot.error_text
    assert "discord interaction failed" in caplog.text and "career-roles" in caplog.text
    assert FAKE_TOKEN not in caplog.text and payload["token"] not in caplog.text
    after = await run(discord_api, bot, discord_api.slash("career-roles"))
    assert "Paralegal" in all_text(after)


async def test_slow_core_defers_within_the_deadline_then_answers(advisor: Advisor, discord_api: FakeDiscord):
    advisor.store = SlowSessionStore(delay=0.3, slow_updates=True)
    async with running_bot(advisor, respond_within=0.05) as slow_bot:
        payload = deliver(slow_bot, discord_api.slash("career-quiz"))
        started = time.monotonic()
        deferred = await discord_api.response_to(payload)
        assert deferred.body == {"type": 5, "data": {"flags": EPHEMERAL}}  # "thinking", privately
        assert deferred.at - started < 0.25  # long before the store answered
        edit = await discord_api.wait_for(lambda r: r.method == "PATCH" and r.path.endswith("/messages/@original"))
        assert "Question 1 of" in all_text(edit)
        quiz_message = discord_api.original(payload)
        assert quiz_message["flags"] == EPHEMERAL and buttons_of(quiz_message)

        # A quiz click while the store is slow: "deferred update", then the same message is edited.
        mark = len(discord_api.requests)
        answer = discord_api.click(quiz_message, button(quiz_message, action_prefix="quiz:a:")["custom_id"])
        deferred_click = await discord_api.response_to(deliver(slow_bot, answer), after=mark)
        assert deferred_click.body == {"type": 6}
        edit = await discord_api.wait_for(lambda r: r.method == "PATCH", after=mark)
        assert "Question 2 of" in all_text(edit)
        assert discord_api.message(quiz_message["id"]) is discord_api.original(answer)


async def test_slow_personal_reply_to_a_public_command_is_not_shown_to_everyone(
    advisor: Advisor, discord_api: FakeDiscord
):
    # /career is deferred publicly (plain answers are public), but a legal-advice decline is private.
    advisor.store = SlowSessionStore(delay=0.2, slow_updates=True)
    async with running_bot(advisor, respond_within=0.02) as slow_bot:
        payload = deliver(slow_bot, discord_api.slash("career", question="my landlord kept my deposit, should I sue?"))
        assert (await discord_api.response_to(payload)).body == {"type": 5}  # public "thinking"
        follow_up = await discord_api.wait_for(lambda r: r.method == "POST" and r.path.startswith("/webhooks/"))
        await discord_api.settle()
    public = discord_api.original(payload)
    assert "privately" in public["content"] and not public["embeds"]
    assert follow_up.body["flags"] & EPHEMERAL and "legal advice" in all_text(follow_up).lower()


# -- the quiz ---------------------------------------------------------------------------------------------


async def answer_all(api: FakeDiscord, bot: AdvisorBot, message_id: str, user_id: int = ALICE) -> Recorded:
    """Click the first answer until the result shows; every step must edit the same message in place."""
    while True:
        response = await click(api, bot, message_id, user_id, action_prefix="quiz:a:")
        assert response.callback_type == 7, response.body
        if "Question" not in (embeds_of(response)[0].get("description") or "")[:40]:
            return response


async def test_whole_quiz_clicked_through(discord_api: FakeDiscord, bot: AdvisorBot, kb: KnowledgeBase):
    total = len(kb.quiz.questions)
    payload = deliver(bot, discord_api.slash("career-quiz"))
    start = await discord_api.response_to(payload)
    assert flags_of(start) & EPHEMERAL and f"Question 1 of {total}" in all_text(start)
    message_id = discord_api.original(payload)["id"]
    assert [b["label"] for b in buttons_of(discord_api.message(message_id))][-1] == "Cancel"

    step = await click(discord_api, bot, message_id, action_prefix="quiz:a:")
    assert step.callback_type == 7 and "Question 2 of" in all_text(step) and "`██" in all_text(step)
    assert [b["label"] for b in buttons_of(step.message_body)][-2:] == ["Back", "Cancel"]
    back = await click(discord_api, bot, message_id, label="Back")
    assert back.callback_type == 7 and "Question 1 of" in all_text(back)

    result = await answer_all(discord_api, bot, message_id)
    text = all_text(result)
    assert "your results" in embeds_of(result)[0]["title"]
    for role in kb.roles:
        assert role.name in text
    assert "%" in text and "█" in text and "Next steps" in text and "Why" in text
    assert kb.quiz.disclaimer in text
    assert discord_api.message(message_id)["flags"] == EPHEMERAL  # still the same private message
    assert [b["label"] for b in buttons_of(result.message_body)][-1] == "Retake the quiz"

    # Buttons under the private result open private answers (new messages, the result stays).
    about = await click(discord_api, bot, message_id, label=buttons_of(result.message_body)[0]["label"])
    assert about.callback_type == 4 and flags_of(about) & EPHEMERAL


async def test_cancel_and_a_stale_double_click(discord_api: FakeDiscord, bot: AdvisorBot, kb: KnowledgeBase):
    payload = deliver(bot, discord_api.slash("career-quiz"))
    await discord_api.response_to(payload)
    message = discord_api.original(payload)
    first_answer = button(message, action_prefix="quiz:a:")["custom_id"]
    await run(discord_api, bot, discord_api.click(message, first_answer))
    # The same button pressed again, as in a double click: the payload carries the message as already edited
    # by the first click, so the button is no longer on it. The quiz must not advance twice, nor fail.
    again = await run(discord_api, bot, discord_api.click(message, first_answer))
    assert again.callback_type == 7 and "Question 2 of" in all_text(again) and kb.texts.quiz_stale in all_text(again)
    cancelled = await click(discord_api, bot, message["id"], label="Cancel")
    assert cancelled.callback_type == 7 and kb.texts.quiz_cancelled in all_text(cancelled)


async def test_quiz_started_before_a_restart_is_finished_after_it(tmp_path: Path, kb: KnowledgeBase):
    database = tmp_path / "sessions.sqlite3"
    async with FakeDiscord() as api:
        first_store = SQLiteSessionStore(database)
        async with running_bot(Advisor(kb, first_store)) as before:
            payload = deliver(before, api.slash("career-quiz"))
            await api.response_to(payload)
            message_id = api.original(payload)["id"]
            await click(api, before, message_id, action_prefix="quiz:a:")
            await click(api, before, message_id, action_prefix="quiz:a:")
        await first_store.close()

        # A new process: new store object on the same file, new Advisor, new bot. Nothing shared in memory.
        second_store = SQLiteSessionStore(database)
        async with running_bot(Advisor(kb, second_store)) as after:
            assert after is not before
            resumed = await click(api, after, message_id, action_prefix="quiz:a:")
            assert resumed.callback_type == 7 and "Question 4 of" in all_text(resumed)
            result = await answer_all(api, after, message_id)
            assert "your results" in embeds_of(result)[0]["title"]
        await second_store.close()
        assert not api.rejected


async def test_another_users_click_is_politely_refused(discord_api: FakeDiscord, bot: AdvisorBot, advisor: Advisor):
    # Public quiz messages are possible (DMs, or a mention reply), so anyone could press the buttons.
    payload = deliver(bot, discord_api.slash("career-quiz"))
    await discord_api.response_to(payload)
    message = discord_api.original(payload)
    before = copy.deepcopy(message)
    refused = await click(discord_api, bot, message["id"], user_id=BOB, action_prefix="quiz:a:")
    assert refused.callback_type == 4 and flags_of(refused) & EPHEMERAL
    assert refused.message_body["content"] == NOT_YOUR_QUIZ
    assert discord_api.message(message["id"]) == before  # Alice's quiz is untouched
    assert (await advisor.store.load(SessionKey("discord", str(GUILD_ID), str(BOB)))).quiz is None
    refused = await click(discord_api, bot, message["id"], user_id=BOB, label="Cancel")
    assert refused.message_body["content"] == NOT_YOUR_QUIZ
    # Alice carries on as if nothing happened.
    mine = await click(discord_api, bot, message["id"], action_prefix="quiz:a:")
    assert mine.callback_type == 7 and "Question 2 of" in all_text(mine)


async def test_anyone_may_press_the_buttons_of_a_public_answer(discord_api: FakeDiscord, bot: AdvisorBot):
    payload = deliver(bot, discord_api.slash("career-roles"))
    await discord_api.response_to(payload)
    roles_message = discord_api.original(payload)
    quiz = await click(discord_api, bot, roles_message["id"], user_id=BOB, action_prefix="quiz:start")
    assert quiz.callback_type == 4 and flags_of(quiz) & EPHEMERAL and "Question 1 of" in all_text(quiz)
    assert all(f":{BOB}:" in b["custom_id"] for b in buttons_of(quiz.message_body))  # Bob's own quiz now
    about = await click(discord_api, bot, roles_message["id"], user_id=BOB, action_prefix="role:paralegal:")
    assert about.callback_type == 4 and not flags_of(about) & EPHEMERAL


async def test_no_view_state_is_kept_per_message(discord_api: FakeDiscord, bot: AdvisorBot):
    for _ in range(3):
        await run(discord_api, bot, discord_api.slash("career-roles"))
        await run(discord_api, bot, discord_api.slash("career-quiz", restart=True))
    store = bot._connection._view_store
    assert store._synced_message_views == {} and store._views == {}
    assert [p.pattern for p in store._dynamic_items] == [CUSTOM_ID_TEMPLATE]
    assert issubclass(store._dynamic_items[next(iter(store._dynamic_items))], AdvisorButton)


# -- mentions and DMs -------------------------------------------------------------------------------------


async def test_mention_answers_and_never_pings(discord_api: FakeDiscord, bot: AdvisorBot):
    text = f"<@{BOT_ID}> what does a legal secretary do? {PINGS}"
    event = deliver_message(bot, message_create_payload(text, ALICE, GUILD_ID, mention_bot=True, mention_everyone=True))
    sent = await discord_api.wait_for(lambda r: r.path.endswith("/messages") and r.method == "POST")
    assert sent.path == f"/channels/{event['channel_id']}/messages"
    # No ping at all, not even the usual reply ping to the author.
    assert sent.body["allowed_mentions"] == {"parse": [], "replied_user": False}
    assert str(sent.body["message_reference"]["message_id"]) == event["id"]
    assert "secretar" in all_text(sent).lower()


async def test_messages_not_for_the_bot_are_ignored(discord_api: FakeDiscord, bot: AdvisorBot):
    deliver_message(bot, message_create_payload("@everyone meeting at 3", ALICE, GUILD_ID, mention_everyone=True))
    deliver_message(bot, message_create_payload("", BOB, GUILD_ID))  # what others' messages look like to us
    bot_author = message_create_payload("<@1> hi", BOB, guild_id=None)
    bot_author["author"]["bot"] = True
    deliver_message(bot, bot_author)
    await discord_api.settle()
    assert discord_api.outgoing_messages() == []


async def test_dm_answers_free_text(discord_api: FakeDiscord, bot: AdvisorBot, advisor: Advisor):
    event = deliver_message(bot, message_create_payload("do paralegals need a degree?", ALICE, guild_id=None))
    sent = await discord_api.wait_for(lambda r: r.path == f"/channels/{event['channel_id']}/messages")
    assert "paralegal" in all_text(sent).lower() and embeds_of(sent)[0]["fields"][0]["name"] == "Sources"
    mark = len(discord_api.requests)
    quiz = deliver_message(bot, message_create_payload("quiz me", ALICE, guild_id=None))
    shown = await discord_api.wait_for(lambda r: r.path == f"/channels/{quiz['channel_id']}/messages", after=mark)
    assert "Question 1 of" in all_text(shown)  # a DM is already private: the quiz runs right there
    assert (await advisor.store.load(SessionKey("discord", "dm", str(ALICE)))).quiz is not None


async def test_quiz_asked_for_in_a_channel_is_offered_privately(discord_api: FakeDiscord, bot: AdvisorBot):
    deliver_message(bot, message_create_payload(f"<@{BOT_ID}> quiz me", ALICE, GUILD_ID, mention_bot=True))
    invitation = await discord_api.wait_for(lambda r: r.path.endswith("/messages") and r.method == "POST")
    assert "Question" not in all_text(invitation) and "private" in all_text(invitation)
    message_id = next(m["id"] for m in discord_api.messages.values() if m["embeds"] == embeds_of(invitation))
    quiz = await click(discord_api, bot, message_id, action_prefix="quiz:start")
    assert quiz.callback_type == 4 and flags_of(quiz) & EPHEMERAL and "Question 1 of" in all_text(quiz)


# -- start-up, intents, command sync ----------------------------------------------------------------------


async def test_no_privileged_intents_and_nothing_synced_at_start_up(discord_api: FakeDiscord, bot: AdvisorBot):
    assert bot.intents == discord.Intents.default()
    assert not bot.intents.message_content and not bot.intents.members and not bot.intents.presences
    assert bot.allowed_mentions is not None and bot.allowed_mentions.to_dict() == {"parse": []}
    assert [(r.method, r.path) for r in discord_api.requests] == [
        ("GET", "/users/@me"),
        ("GET", "/oauth2/applications/@me"),
    ]


async def test_guild_sync_and_global_sync_send_valid_commands(discord_api: FakeDiscord, bot: AdvisorBot):
    synced = await sync_tree(bot, GUILD_ID)
    put = discord_api.requests[-1]
    assert (put.method, put.path) == ("PUT", f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
    names = {c["name"] for c in put.body}
    assert names == {"career", "career-quiz", "career-compare", "career-roles", "career-help", "career-forget"}
    assert {c.name for c in synced} == names
    by_name = {c["name"]: c for c in put.body}
    assert [o["name"] for o in by_name["career-compare"]["options"]] == ["first", "second"]
    assert all(o["autocomplete"] for o in by_name["career-compare"]["options"])
    assert by_name["career"]["options"][0]["max_length"] == 1000
    assert by_name["career-help"]["description"] == "What this bot can do and how to ask."
    assert all(set(c["contexts"]) == {0, 1} for c in put.body)  # servers and DMs with the bot

    await sync_tree(bot, None)
    assert (discord_api.requests[-1].method, discord_api.requests[-1].path) == (
        "PUT",
        f"/applications/{APP_ID}/commands",
    )


async def test_sharding_settings_build_an_auto_sharded_bot(advisor: Advisor):
    settings = Settings(discord_token=FAKE_TOKEN, discord_shard_count=4, discord_shard_ids="0,1")
    sharded = build_discord_bot(advisor, settings)
    assert isinstance(sharded, discord.AutoShardedClient) and isinstance(sharded, AdvisorBot)
    assert (sharded.shard_count, sharded.shard_ids) == (4, [0, 1])
    assert not isinstance(build_discord_bot(advisor, Settings()), discord.AutoShardedClient)
    # Not closed: it never connected, and discord.py 2.7.1 cannot close an AutoShardedClient that never started.


def test_commands_without_a_token_explain_what_to_do(capsys):
    assert run_discord(Settings()) == 2
    assert sync_commands(Settings(), guild_id=None) == 2
    assert "DISCORD_TOKEN" in capsys.readouterr().err


def test_custom_id_template_is_anchored_to_our_prefix():
    assert AdvisorButton.__discord_ui_compiled_template__.pattern == CUSTOM_ID_TEMPLATE
    assert CUSTOM_ID_TEMPLATE.startswith("lca:")
