"""Matcher behaviours found by leave-one-batch-out evaluation: follow-ups that switch or add a role, one role set
against itself, questions naming no role that a general entry only half answers, quiz and help requests recognised
by meaning, and requests to do legal work that name the role. Wordings here are our own, not the eval set's."""

from __future__ import annotations

import pytest

from core.advisor import Advisor
from core.matcher import ConversationContext, Kind, Matcher


@pytest.fixture(scope="module")
def matcher(advisor_template: Advisor) -> Matcher:
    return advisor_template.knowledge.matcher


@pytest.mark.parametrize(
    "text",
    ["ok now legal secretaries", "same thing for legal secretaries", "now legal secs too", "and for a legal sec?"],
)
def test_naming_another_role_and_no_topic_keeps_the_topic(matcher: Matcher, text: str):
    match = matcher.match(text, ConversationContext(("paralegal",), "education"))
    assert match.kind is Kind.ANSWER and match.roles == ("legal_secretary",) and match.topic == "education"


@pytest.mark.parametrize("text", ["versus legal assistants?", "how does that differ from a legal assistant"])
def test_contrasting_a_new_role_compares_it_with_the_conversations(matcher: Matcher, text: str):
    match = matcher.match(text, ConversationContext(("legal_secretary",), "duties"))
    assert match.kind is Kind.ANSWER and match.topic == "comparison"
    assert set(match.roles) == {"legal_secretary", "legal_assistant"}


def test_a_new_role_with_a_topic_of_its_own_is_not_a_comparison(matcher: Matcher):
    match = matcher.match("what do legal assistants earn", ConversationContext(("paralegal",), "duties"))
    assert match.roles == ("legal_assistant",) and match.topic == "pay"


@pytest.mark.parametrize("text", ["pay?", "what skills would i need for that job"])
def test_a_role_specific_question_naming_no_role_asks_which_role(matcher: Matcher, text: str):
    assert matcher.match(text).kind is Kind.CLARIFY


def test_a_question_about_all_three_still_gets_the_general_answer(matcher: Matcher):
    match = matcher.match("which of the three jobs pays the most")
    assert match.kind is Kind.ANSWER and len(match.roles) == 3


@pytest.mark.parametrize(
    "text",
    [
        "i cant decide between the three, which one suits someone like me",
        "i love details and hate phone calls, which of these careers fits me",
    ],
)
def test_asking_which_job_fits_me_is_the_quiz(matcher: Matcher, text: str):
    assert matcher.match(text).kind is Kind.QUIZ


def test_asking_how_the_bot_works_is_help(matcher: Matcher):
    assert matcher.match("how do i use this thing").kind is Kind.HELP


def test_asking_whether_one_role_fits_me_is_about_that_role(matcher: Matcher):
    match = matcher.match("would a shy person make a good paralegal")
    assert match.kind is Kind.ANSWER and match.roles == ("paralegal",)


@pytest.mark.parametrize(
    "text",
    [
        "im in a paralegal program, could you help me write up a will for my aunt",
        "as a legal assistant can you draft my landlord a demand letter for me",
    ],
)
def test_asking_the_bot_to_do_legal_work_is_declined_even_naming_a_role(matcher: Matcher, text: str):
    assert matcher.match(text).kind is Kind.LEGAL_ADVICE


def test_a_question_about_the_jobs_legal_work_is_answered(matcher: Matcher):
    match = matcher.match("do they prepare wills and trusts", ConversationContext(("legal_secretary",), "duties"))
    assert match.kind is Kind.ANSWER and match.roles == ("legal_secretary",)


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("paralegal at a big firm vs a small firm, which is better", "work_environment"),
        ("family law paralegal vs criminal law paralegal", "specializations"),
    ],
)
def test_one_role_set_against_itself_is_not_a_role_comparison(matcher: Matcher, text: str, topic: str):
    match = matcher.match(text)
    assert match.kind is Kind.ANSWER and match.roles == ("paralegal",) and match.topic == topic


def test_two_roles_named_are_still_compared(matcher: Matcher):
    match = matcher.match("legal assistant vs paralegal")
    assert match.topic == "comparison" and set(match.roles) == {"legal_assistant", "paralegal"}


@pytest.mark.parametrize(
    ("text", "topic"), [("what does a paralegal do?", "duties"), ("what is a paralegal", "overview")]
)
def test_a_short_question_of_its_own_is_not_taken_for_a_follow_up(matcher: Matcher, text: str, topic: str):
    # Nothing but stop words besides the role, yet a question with its own topic: not "same question for ...".
    match = matcher.match(text, ConversationContext(("paralegal",), "pay"))
    assert match.kind is Kind.ANSWER and match.roles == ("paralegal",) and match.topic == topic


@pytest.mark.parametrize("text", ["what sorts of things can you answer", "what can this bot do for me"])
def test_a_question_about_the_bot_is_not_declined_as_legal_advice(matcher: Matcher, text: str):
    assert matcher.match(text).kind is not Kind.LEGAL_ADVICE


@pytest.mark.parametrize(
    "text",
    ["can you help me with my landlord", "can you help me fight a speeding ticket", "can u tell me if this is legal"],
)
def test_asking_the_bot_for_help_with_a_legal_matter_is_still_declined(matcher: Matcher, text: str):
    assert matcher.match(text).kind is Kind.LEGAL_ADVICE


def test_how_bout_a_new_role_same_thing_keeps_the_topic(matcher: Matcher):
    match = matcher.match("what bout legal assistants, same thing?", ConversationContext(("paralegal",), "education"))
    assert match.kind is Kind.ANSWER and match.roles == ("legal_assistant",) and match.topic == "education"


@pytest.mark.parametrize("text", ["could she move up to paralegal eventually", "do they ever switch to paralegal work"])
def test_a_role_as_where_the_one_talked_about_goes_is_a_career_path_for_both(matcher: Matcher, text: str):
    match = matcher.match(text, ConversationContext(("legal_assistant",), "duties"))
    assert match.kind is Kind.ANSWER and set(match.roles) == {"legal_assistant", "paralegal"}, match
    assert match.topic == "career_path"


def test_vs_a_new_role_at_the_start_of_a_follow_up_compares_both(matcher: Matcher):
    match = matcher.match(
        "versus a paralegal, which would suit someone without a degree",
        ConversationContext(("legal_secretary",), "overview"),
    )
    assert match.kind is Kind.ANSWER and set(match.roles) == {"legal_secretary", "paralegal"}
    assert match.topic == "comparison"


@pytest.mark.parametrize(
    "text", ["what would it take to become a notary instead", "ok how do i go into being a court clerk"]
)
def test_another_job_as_where_the_person_would_go_is_off_topic_mid_conversation(matcher: Matcher, text: str):
    assert matcher.match(text, ConversationContext(("legal_secretary",), "duties")).kind is Kind.OUT_OF_SCOPE, text


def test_a_follow_up_in_plain_career_words_is_not_sent_away_by_meaning(matcher: Matcher):
    context = ConversationContext(("legal_assistant",), "duties")
    match = matcher.match("and the outlook for them then", context)
    assert match.kind is Kind.ANSWER and match.roles == ("legal_assistant",) and match.topic == "outlook"
    assert matcher.match("and the weather for them?", context).kind is Kind.OUT_OF_SCOPE
