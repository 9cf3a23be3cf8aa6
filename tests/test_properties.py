"""Property-based tests: whatever users type or click, the core answers with a valid Reply and never raises.

Two parts:
- any text (empty, 100 KB, RTL, zero-width, emoji, control characters, markdown, mention syntax) through the
  matcher and through every kind of Advisor request yields a Reply within the core's own limits, and its Slack
  (bots/slack/blocks.py) and Discord (bots/discord/render.py) renderings stay within the platforms' limits with
  the user's own text echoed and escaped;
- a model-based state machine drives the quiz with starts, answers, Back, Cancel, restarts and stale clicks
  and checks the stored state against a simple model after every step.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from bots.discord.render import render_reply as render_discord
from bots.slack.blocks import render_reply as render_slack
from core.advisor import Advisor
from core.kb_model import KnowledgeBase
from core.matcher import ConversationContext, Kind, Matcher
from core.quiz import QuizState
from core.reply import Choice, Command, Reply, ReplyKind, Request
from core.sessions import MemorySessionStore, SessionKey
from core.text import MAX_MATCH_CHARS
from tests.slack_fakes import message_problems

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# The core's own invariants: what every adapter may rely on before applying its platform's limits.
MAX_ACTION = 100
MAX_LABEL = 80
MAX_CHOICES = 25
MAX_TITLE = 256

# Fragments real users (and attackers) send: mention and markdown syntax, bidi controls, zero-width characters,
# emoji sequences, control characters, lone surrogates, words the matcher knows.
FRAGMENTS = [
    "<!channel>", "<!here>", "<!everyone>", "<@U024BE7LH>", "<@U1|alice>", "<#C123|general>", "<!subteam^S1>",
    "<http://evil.example|bank>", "@everyone", "@here", "<@&123456>", "<@!42>", "*bold*", "_it_", "~st~",
    "`code`", "```block```", "> quote", "[link](http://x.y)", "# heading", "||spoiler||", "&amp;", "&lt;",
    "\u200b", "\u200c", "\u200d", "\ufeff", "\u202e", "\u202d", "\u2066", "\u2069", "\u061c", "\u200f",
    "مرحبا المساعد القانوني", "שלום עורך דין", "👩\u200d⚖️", "🇺🇸", "🧑🏽\u200d💼", "\x00", "\x07", "\x1b[31m",
    "\r\n", "\t", "\ud800", "\udfff", "ﬁ", "Ｐａｒａｌｅｇａｌ", "paralegal", "legal secretary", "legal assistant",
    "pay", "salary", "quiz", "help", "sue my landlord", "vs", "and the pay?", " ", "\n\n",
]

fragment_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=30)), max_size=12).map("".join)
any_unicode = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300)
huge_text = st.tuples(st.sampled_from([*FRAGMENTS, "what does a paralegal do "]), st.integers(1, 100_000)).map(
    lambda pair: (pair[0] * (pair[1] // max(len(pair[0]), 1) + 1))[: pair[1]]
)
user_text = st.one_of(st.just(""), fragment_text, any_unicode, huge_text)


def assert_valid_reply(reply: Reply) -> None:
    assert isinstance(reply, Reply)
    assert isinstance(reply.kind, ReplyKind)
    assert reply.kind is not ReplyKind.ERROR, reply.meta  # an ERROR reply means an exception was swallowed
    assert isinstance(reply.title, str) and 0 < len(reply.title) <= MAX_TITLE
    assert len(reply.choices) <= MAX_CHOICES
    for choice in reply.choices:
        assert isinstance(choice, Choice)
        assert 0 < len(choice.label) <= MAX_LABEL, choice
        assert 0 < len(choice.action) <= MAX_ACTION, choice
    for section in reply.sections:
        assert isinstance(section.text, str) and section.text.strip()
    for source in reply.sources:
        assert source.url.startswith(("http://", "https://")), source
    if reply.progress is not None:
        assert 1 <= reply.progress.current <= reply.progress.total
    assert isinstance(reply.plain_text(), str)


# Platform limits (shared/reference/slack-discord-platform-facts.md §A5-A7, D-LEN).
SLACK_MAX_MESSAGES = 5  # a response_url takes at most five posts
DISCORD_EMBEDS, DISCORD_EMBED_TOTAL, DISCORD_TITLE, DISCORD_DESCRIPTION = 10, 6000, 256, 4096
DISCORD_FIELDS, DISCORD_FIELD_NAME, DISCORD_FIELD_VALUE, DISCORD_FOOTER = 25, 256, 1024, 2048
DISCORD_ROWS, DISCORD_PER_ROW, DISCORD_LABEL, DISCORD_CUSTOM_ID = 5, 5, 80, 100
PINGS = ("<!channel>", "<!here>", "<!everyone>", "<!subteam", "<@U024BE7LH>", "<http://evil")


def assert_renders_within_platform_limits(reply: Reply, asked: str | None = None) -> None:
    """The Slack and Discord renderings of any reply (echoing whatever the user typed) stay inside the limits."""
    messages = render_slack(reply, asked=asked)
    assert 1 <= len(messages) <= SLACK_MAX_MESSAGES
    for message in messages:
        assert not message_problems(message), message_problems(message)
        blocks_text = str(message)
        assert not any(ping in blocks_text for ping in PINGS), "user text reached Slack unescaped"
    outgoing = render_discord(reply, owner_id=123456789012345678)
    assert outgoing
    buttons = [b for m in outgoing for b in m.buttons]
    assert len(buttons) <= DISCORD_ROWS * DISCORD_PER_ROW
    for message in outgoing:
        assert len(message.embeds) <= DISCORD_EMBEDS and message.embed_chars <= DISCORD_EMBED_TOTAL
        for embed in message.embeds:
            assert len(embed.title or "") <= DISCORD_TITLE and len(embed.description or "") <= DISCORD_DESCRIPTION
            assert len(embed.fields) <= DISCORD_FIELDS and len(embed.footer.text or "") <= DISCORD_FOOTER
            for field_ in embed.fields:
                assert len(field_.name or "") <= DISCORD_FIELD_NAME and len(field_.value or "") <= DISCORD_FIELD_VALUE
        for button in message.buttons:
            assert 0 <= button.row < DISCORD_ROWS and 1 <= len(button.label) <= DISCORD_LABEL
            assert len(button.custom_id) <= DISCORD_CUSTOM_ID
        rows = Counter(b.row for b in message.buttons)
        assert all(count <= DISCORD_PER_ROW for count in rows.values())


def run(coro):  # type: ignore[no-untyped-def]
    """Hypothesis examples are synchronous; each one runs its requests on a short-lived event loop."""
    return asyncio.run(coro)


@PROPERTY_SETTINGS
@given(text=user_text, roles=st.lists(st.sampled_from(["paralegal", "legal_secretary", "legal_assistant"]),
                                      max_size=3, unique=True),
       topic=st.one_of(st.none(), st.sampled_from(["pay", "duties", "overview", "comparison"])))
def test_matcher_never_raises(kb: KnowledgeBase, text: str, roles: list[str], topic: str | None) -> None:
    matcher = _matcher(kb)
    match = matcher.match(text, ConversationContext(tuple(roles), topic))
    assert isinstance(match.kind, Kind)
    assert 0.0 <= match.confidence <= 1.0
    assert set(match.roles) <= set(kb.role_ids())
    if match.kind is Kind.ANSWER:
        assert match.entry_id is not None and match.entries
    assert match.truncated or len(text) <= MAX_MATCH_CHARS * 4


@PROPERTY_SETTINGS
@given(
    texts=st.lists(user_text, min_size=1, max_size=3),
    command=st.one_of(st.none(), st.sampled_from(list(Command))),
    platform=st.sampled_from(["slack", "discord", "console"]),
)
def test_advisor_text_and_commands_return_valid_replies(
    kb: KnowledgeBase, texts: list[str], command: Command | None, platform: str
) -> None:
    advisor = _advisor(kb)
    user = _fresh_user()

    async def scenario() -> None:
        # Several messages from the same user, so conversation context from one feeds the next.
        for text in texts:
            reply = await advisor.handle(Request(platform, "W", user, text=text, command=command))
            assert_valid_reply(reply)
            assert_renders_within_platform_limits(reply, asked=text)

    run(scenario())


@PROPERTY_SETTINGS
@given(action=st.one_of(
    any_unicode,
    fragment_text,
    st.builds(lambda head, rest: f"{head}:{rest}",
              st.sampled_from(["quiz", "quiz:a", "quiz:back", "quiz:cancel", "role", "entry", "compare", "roles",
                               "help", "quiz:start", "quiz:restart", "role:paralegal"]),
              st.text(max_size=40)),
    huge_text,
))
def test_advisor_any_button_action_returns_valid_reply(kb: KnowledgeBase, action: str) -> None:
    advisor = _advisor(kb)
    user = _fresh_user()

    async def scenario() -> None:
        await advisor.handle(Request("slack", "W", user, command=Command.QUIZ))
        reply = await advisor.handle(Request("slack", "W", user, action=action))
        assert_valid_reply(reply)
        assert_renders_within_platform_limits(reply)
        # Text and action together (a malformed adapter payload) must not confuse the dispatch either.
        assert_valid_reply(await advisor.handle(Request("slack", "W", user, action=action, text=action)))

    run(scenario())


async def test_every_choice_reachable_from_help_is_valid(advisor: Advisor) -> None:
    """Breadth-first over the buttons the bot itself offers: every one leads to another valid reply."""
    seen: set[str] = set()
    frontier = [(await advisor.handle(Request("t", "w", "crawler", command=Command.HELP)))]
    frontier.append(await advisor.handle(Request("t", "w", "crawler", command=Command.ROLES)))
    frontier.append(await advisor.handle(Request("t", "w", "crawler", command=Command.COMPARE)))
    steps = 0
    while frontier and steps < 2000:  # bounded: the reachable set is finite, this only guards a bug
        reply = frontier.pop()
        assert_valid_reply(reply)
        assert_renders_within_platform_limits(reply)
        for choice in reply.choices:
            if choice.action not in seen and not choice.action.startswith("quiz:"):
                seen.add(choice.action)
                frontier.append(await advisor.handle(Request("t", "w", "crawler", action=choice.action)))
        steps += 1
    assert len(seen) > 20


_MATCHERS: dict[str, Matcher] = {}
_ADVISORS: dict[str, Advisor] = {}
_USERS = itertools.count()


def _fresh_user() -> str:
    return f"user-{next(_USERS)}"


def _advisor(kb: KnowledgeBase) -> Advisor:
    # Building an Advisor builds its TF-IDF index (the slow part); one per knowledge base, a new user per example.
    if kb.fingerprint not in _ADVISORS:
        _ADVISORS[kb.fingerprint] = Advisor(kb, MemorySessionStore())
    return _ADVISORS[kb.fingerprint]


def _matcher(kb: KnowledgeBase) -> Matcher:
    # Building the TF-IDF index is the slow part; one per knowledge base is enough for pure matching.
    if kb.fingerprint not in _MATCHERS:
        _MATCHERS[kb.fingerprint] = Matcher(kb)
    return _MATCHERS[kb.fingerprint]


# -- the quiz as a model-based state machine ------------------------------------------------------------------


@dataclass
class QuizModel:
    """What the stored quiz should be: nothing, or a quiz at ``position`` with that many answers."""

    active: bool = False
    quiz_id: str | None = None
    position: int = 0
    finished: bool = False


class QuizMachine(RuleBasedStateMachine):
    """Drives ``Advisor.handle`` with real requests and checks the session store against ``QuizModel``."""

    advisor: Advisor
    loop: asyncio.AbstractEventLoop
    """Shared by every run of the machine (building the index takes a second); each run is a new user."""

    def __init__(self) -> None:
        super().__init__()
        self.kb = self.advisor.kb
        self.store = self.advisor.store
        self.user = _fresh_user()
        self.key = SessionKey("test", "W", self.user)
        self.length = len(self.kb.quiz.questions)
        self.model = QuizModel()
        self.last: Reply | None = None
        self.history: list[str] = []
        """Every quiz action ever shown to the user, for replaying stale clicks."""

    # -- helpers -----------------------------------------------------------------------------------------

    def send(self, request: Request) -> Reply:
        reply = self.loop.run_until_complete(self.advisor.handle(request))
        assert_valid_reply(reply)
        if reply.choices:
            self.last = reply
            self.history.extend(c.action for c in reply.choices)
        return reply

    def stored(self) -> QuizState | None:
        return self.loop.run_until_complete(self.store.load(self.key)).quiz

    def click(self, action: str) -> Reply:
        return self.send(Request("test", "W", self.user, action=action))

    def current_actions(self, verb: str) -> list[str]:
        if self.last is None:
            return []
        return [c.action for c in self.last.choices if c.action.startswith(f"quiz:{verb}")]

    def showing_live_question(self) -> bool:
        return (
            self.model.active
            and not self.model.finished
            and self.last is not None
            and self.last.kind is ReplyKind.QUIZ_QUESTION
            and self.last.meta.get("quiz_id") == self.model.quiz_id
            and self.last.meta.get("position") == self.model.position
        )

    # -- rules -------------------------------------------------------------------------------------------

    @initialize()
    def begin(self) -> None:
        assert self.stored() is None

    @rule(restart=st.booleans())
    def start(self, restart: bool) -> None:
        reply = self.send(Request("test", "W", self.user, command=Command.QUIZ_RESTART if restart else Command.QUIZ))
        assert reply.kind is ReplyKind.QUIZ_QUESTION
        resumes = self.model.active and not self.model.finished and not restart
        if resumes:
            assert reply.meta["quiz_id"] == self.model.quiz_id and reply.meta["position"] == self.model.position
        else:
            assert reply.meta["quiz_id"] != self.model.quiz_id and reply.meta["position"] == 0
            self.model = QuizModel(active=True, quiz_id=str(reply.meta["quiz_id"]), position=0)

    @precondition(lambda self: self.showing_live_question())
    @rule(data=st.data())
    def answer(self, data: st.DataObject) -> None:
        action = data.draw(st.sampled_from(self.current_actions("a:")))
        reply = self.click(action)
        self.model.position += 1
        if self.model.position == self.length:
            self.model.finished = True
            event("quiz finished")
            assert reply.kind is ReplyKind.QUIZ_RESULT
        else:
            assert reply.kind is ReplyKind.QUIZ_QUESTION and reply.meta["position"] == self.model.position

    @precondition(lambda self: self.showing_live_question())
    @rule(data=st.data())
    def answer_to_the_end(self, data: st.DataObject) -> None:
        """Random rule choice rarely answers eight in a row; this makes finished quizzes common."""
        while self.showing_live_question():
            self.answer(data)

    @precondition(lambda self: self.showing_live_question() and self.model.position > 0)
    @rule()
    def back(self) -> None:
        (action,) = self.current_actions("back:")
        reply = self.click(action)
        self.model.position -= 1
        assert reply.kind is ReplyKind.QUIZ_QUESTION and reply.meta["position"] == self.model.position

    @precondition(lambda self: self.showing_live_question())
    @rule()
    def cancel(self) -> None:
        (action,) = self.current_actions("cancel:")
        reply = self.click(action)
        assert reply.kind is ReplyKind.NOTICE
        self.model = QuizModel()

    @precondition(lambda self: bool(self.history))
    @rule(data=st.data())
    def replay_old_click(self, data: st.DataObject) -> None:
        """Any button ever shown, clicked again: counted only if it is exactly the live one (then it is not stale)."""
        # Half the time only buttons of the quiz in progress: those are the stale clicks that are easy to miscount.
        same_quiz = [a for a in self.history if f":{self.model.quiz_id}:" in a or a.endswith(f":{self.model.quiz_id}")]
        pool = same_quiz if same_quiz and data.draw(st.booleans()) else self.history
        action = data.draw(st.sampled_from(pool))
        if not action.startswith(("quiz:a:", "quiz:back:", "quiz:cancel:")):
            return
        before = self.stored()
        parts = action.split(":")
        live = (
            self.model.active
            and not self.model.finished
            and parts[2] == self.model.quiz_id
            and (parts[1] == "cancel" or int(parts[3]) == self.model.position)
            and not (parts[1] == "back" and self.model.position == 0)
        )
        if live:
            # Not stale after all: the same button is on the live question (e.g. shown again after Back).
            if parts[1] == "a":
                self.model.position += 1
                self.model.finished = self.model.position == self.length
            elif parts[1] == "back":
                self.model.position -= 1
            else:
                self.model = QuizModel()
            event("replayed click was live")
            self.click(action)
            return
        event(f"stale {parts[1]} click")
        reply = self.click(action)
        assert reply.meta.get("stale") is True, (action, reply)
        after = self.stored()
        assert (before.to_dict() if before else None) == (after.to_dict() if after else None)

    @rule(text=st.sampled_from(["what does a paralegal do", "and the pay?", "help", "sue my landlord"]))
    def chat_in_between(self, text: str) -> None:
        """Questions asked mid-quiz never touch the quiz."""
        before = self.stored()
        self.send(Request("test", "W", self.user, text=text))
        after = self.stored()
        assert (before.to_dict() if before else None) == (after.to_dict() if after else None)

    # -- invariants ----------------------------------------------------------------------------------------

    @invariant()
    def store_matches_model(self) -> None:
        state = self.stored()
        if not self.model.active:
            assert state is None
            return
        assert state is not None
        assert state.quiz_id == self.model.quiz_id
        assert state.position == self.model.position == len(state.answers)
        assert 0 <= state.position <= self.length
        assert state.finished == self.model.finished
        answered = [q.id for q in self.kb.quiz.questions[: state.position]]
        assert sorted(state.answers) == sorted(answered)


def test_quiz_state_machine(kb: KnowledgeBase) -> None:
    loop = asyncio.new_event_loop()
    machine = type("BoundQuizMachine", (QuizMachine,), {"advisor": Advisor(kb, MemorySessionStore()), "loop": loop})
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=150, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
            ),
        )
    finally:
        loop.close()
