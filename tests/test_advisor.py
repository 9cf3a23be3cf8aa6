"""The Advisor on real questions: answers with sources, follow-ups, clarification, declines, bad input."""

from __future__ import annotations

from core.advisor import Advisor
from core.reply import Command, ReplyKind, Request
from core.sessions import MemorySessionStore, SessionStoreError


def req(text=None, **kwargs) -> Request:
    return Request("test", "w1", kwargs.pop("user", "u1"), text=text, **kwargs)


async def test_answer_has_sources_and_related_buttons(advisor: Advisor):
    reply = await advisor.handle(req("how much do paralegals make"))
    assert reply.kind is ReplyKind.ANSWER
    assert reply.meta["roles"] == ["paralegal"] and reply.meta["topic"] == "pay"
    assert reply.sources and all(s.url.startswith("http") and s.as_of for s in reply.sources)
    assert "20" in reply.sections[0].text  # pay answers name the year of the figure
    assert any(c.action.startswith("role:paralegal:") for c in reply.choices)


async def test_follow_up_uses_conversation_context(advisor: Advisor):
    await advisor.handle(req("tell me about being a paralegal"))
    reply = await advisor.handle(req("and the pay?"))
    assert reply.meta["roles"] == ["paralegal"] and reply.meta["topic"] == "pay"
    switched = await advisor.handle(req("what about legal secretaries"))
    assert switched.meta["roles"] == ["legal_secretary"] and switched.meta["topic"] == "pay"


async def test_role_less_question_asks_which_role_then_answers(advisor: Advisor, kb):
    reply = await advisor.handle(req("how much do they make?", user="fresh"))
    assert reply.kind is ReplyKind.CLARIFY
    assert [c.label for c in reply.choices] == [r.name for r in kb.roles]
    picked = await advisor.handle(req(action=reply.choices[0].action, user="fresh"))
    assert picked.kind is ReplyKind.ANSWER and picked.sources
    assert "$" in picked.plain_text()  # the pay answer for the role that was picked


async def test_legal_advice_is_declined_with_where_to_get_help(advisor: Advisor):
    reply = await advisor.handle(req("my landlord is keeping my deposit, should i sue him?"))
    assert reply.kind is ReplyKind.LEGAL_ADVICE
    text = reply.plain_text().lower()
    assert "unauthorized practice of law" in text and "lawyer" in text
    assert reply.sources and reply.ephemeral


async def test_compare_and_roles_commands(advisor: Advisor, kb):
    reply = await advisor.handle(req("paralegal legal secretary", command=Command.COMPARE))
    assert reply.kind is ReplyKind.ANSWER and reply.meta["topic"] == "comparison" and reply.sources
    unclear = await advisor.handle(req("paralegal", command=Command.COMPARE))
    assert unclear.kind is ReplyKind.CLARIFY and len(unclear.choices) == 3
    pair = await advisor.handle(req(action=unclear.choices[0].action))
    assert pair.kind is ReplyKind.ANSWER
    roles = await advisor.handle(req(command=Command.ROLES))
    assert [s.heading for s in roles.sections] == [r.name for r in kb.roles]


async def test_empty_text_shows_help(advisor: Advisor):
    for text in ["", "   ", None, "\u200b\u200b", "\x00\x07"]:
        reply = await advisor.handle(req(text, command=Command.ASK))
        assert reply.kind is ReplyKind.HELP, repr(text)


async def test_100kb_message_gets_an_answer_and_a_note(advisor: Advisor):
    text = "how much do paralegals make " + "blah " * 20_000
    assert len(text) > 100_000
    reply = await advisor.handle(req(text))
    assert reply.kind is not ReplyKind.ERROR
    assert reply.note and "beginning" in reply.note


async def test_control_characters_and_odd_unicode(advisor: Advisor):
    weird = "what do\u0000 para\u200blegals\u202e do\u0007 all day 🤔 ＰＡＲＡＬＥＧＡＬ"
    reply = await advisor.handle(req(weird))
    assert reply.kind is not ReplyKind.ERROR
    for text in ["<!channel> <@U123> hi", "‮‭", "🙂" * 500, "*bold* _it_ `code`", "\r\n\t"]:
        assert (await advisor.handle(req(text))).kind is not ReplyKind.ERROR


class BrokenStore(MemorySessionStore):
    """Stands in for a session database that has gone away."""

    async def load(self, key):
        raise SessionStoreError("database is locked")

    async def update(self, key, mutate):
        raise SessionStoreError("database is locked")


async def test_store_failure_gives_friendly_error(kb):
    advisor = Advisor(kb, BrokenStore())
    reply = await advisor.handle(req("what does a paralegal do"))
    assert reply.kind is ReplyKind.ERROR
    assert "try again" in reply.plain_text().lower()
    assert "Traceback" not in reply.plain_text()


async def test_forget_removes_the_session(advisor: Advisor):
    await advisor.handle(req("what does a paralegal do"))
    assert len(advisor.store) == 1
    reply = await advisor.handle(req(command=Command.FORGET))
    assert reply.kind is ReplyKind.NOTICE and len(advisor.store) == 0


def test_stale_context_from_an_older_knowledge_base_is_ignored(advisor: Advisor):
    from core.matcher import ConversationContext, Kind

    context = ConversationContext(("court_reporter", "paralegal"), "salary")
    match = advisor.knowledge.matcher.match("and the pay?", context)
    assert match.kind is Kind.ANSWER and match.roles == ("paralegal",)


async def test_saying_you_consider_a_role_is_a_career_question(advisor: Advisor):
    # Shares "i'm thinking about" with requests for advice; its meaning is plainly about the job.
    reply = await advisor.handle(req("i'm thinking about being a legal secretary"))
    assert reply.kind is ReplyKind.ANSWER and reply.meta["roles"] == ["legal_secretary"]


async def test_long_follow_up_keeps_the_conversations_role(advisor: Advisor):
    await advisor.handle(req("tell me about legal assistants", user="la"))
    reply = await advisor.handle(req("how much do they get paid", user="la"))
    assert reply.meta["roles"] == ["legal_assistant"] and reply.meta["topic"] == "pay"


async def test_two_roles_side_by_side_get_the_comparison(advisor: Advisor):
    reply = await advisor.handle(req("who gets paid more at a law firm, a paralegal or a legal secretary"))
    assert reply.meta["topic"] == "comparison"
    assert sorted(reply.meta["roles"]) == ["legal_secretary", "paralegal"]


async def test_start_quiz_starts_the_quiz_not_help(advisor: Advisor):
    reply = await advisor.handle(req("start quiz"))
    assert reply.meta["kind"] == "quiz"


async def test_roleless_question_matching_only_with_a_role_name_asks_which_role(advisor: Advisor):
    reply = await advisor.handle(req("whats the starting pay", user="fresh2"))
    assert reply.kind is ReplyKind.CLARIFY


async def test_own_matter_is_declined_even_when_a_role_is_named(advisor: Advisor):
    reply = await advisor.handle(
        req("i work as a legal secretary at a family law firm but this is about my own divorce - who keeps the dog")
    )
    assert reply.kind is ReplyKind.LEGAL_ADVICE


def test_role_names_prefer_an_exact_word_over_a_forgiven_typo(kb):
    from core.role_finder import RoleFinder

    finder = RoleFinder(kb.roles, kb.intents.other_occupations)
    assert finder.find("can i secretly record my manager").roles == ()  # a false friend, not a secretary
    assert finder.find("lagal secretary what is it").roles == ("legal_secretary",)
    assert finder.find("what does a secretary do").roles == ("legal_secretary",)


async def test_a_message_that_only_thanks_gets_youre_welcome(advisor: Advisor):
    for text in ("thanks, that really helped!", "ok cool thank u so much", "tysm bot"):
        reply = await advisor.handle(req(text))
        assert reply.meta["kind"] == "thanks", text
        assert reply.sections[0].text == advisor.kb.texts.thanks
        assert reply.ephemeral  # not posted to the whole channel
    # Thanks with a question in it is a question.
    reply = await advisor.handle(req("thanks! do paralegals need a degree?"))
    assert reply.kind is ReplyKind.ANSWER and reply.meta["topic"] == "education"


def test_a_knowledge_base_without_the_thanks_text_still_loads(kb_copy):
    from core.kb_loader import load_knowledge_base

    texts = kb_copy / "texts.yaml"
    texts.write_text("\n".join(line for line in texts.read_text().splitlines() if not line.startswith("  thanks:")))
    assert "welcome" in load_knowledge_base(kb_copy).texts.thanks
