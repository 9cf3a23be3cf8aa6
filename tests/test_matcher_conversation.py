"""Matcher behaviours found on the sixth blind batch: role names split by commas, "the 3 jobs", filler around a
role name in a follow-up, a declined question about another job whose topic carries over, two named roles weighed
against each other, and questions naming no role that plainly mean a career answer. Wordings here are our own, not
the eval set's."""

from __future__ import annotations

import pytest

from core.advisor import Advisor
from core.matcher import ConversationContext, Kind, Matcher
from core.reply import ReplyKind, Request


@pytest.fixture(scope="module")
def matcher(advisor_template: Advisor) -> Matcher:
    return advisor_template.knowledge.matcher


def test_a_list_of_role_names_separated_by_commas_names_each_role(matcher: Matcher):
    # "para, legal asst" is not the alias "para legal" followed by a stray "asst".
    finding = matcher.roles.find("legal sec, para, legal asst: what is each one like")
    assert set(finding.roles) == {"legal_secretary", "paralegal", "legal_assistant"}
    assert matcher.roles.find("para legal studies programs").roles == ("paralegal",)


@pytest.mark.parametrize(
    "text",
    [
        "of the 3 jobs which pays best",
        "which of these law office careers pays best",
        "out of the three jobs, which pays best",
    ],
)
def test_pointing_at_the_three_jobs_means_all_of_them(matcher: Matcher, text: str):
    assert matcher.roles.find(text).named_group


@pytest.mark.parametrize("text", ["is the 3 year degree worth it", "the three month course for paralegals"])
def test_a_number_of_years_or_months_is_not_the_three_jobs(matcher: Matcher, text: str):
    assert not matcher.roles.find(text).named_group


@pytest.mark.parametrize(
    "text", ["hmm legal assistants sorry", "legal assistants i mean", "but legal assistants there"]
)
def test_filler_around_a_new_role_keeps_the_conversations_topic(matcher: Matcher, text: str):
    match = matcher.match(text, ConversationContext(("paralegal",), "pay"))
    assert match.kind is Kind.ANSWER and match.roles == ("legal_assistant",) and match.topic == "pay"


async def test_the_topic_of_a_declined_question_about_another_job_carries_over(advisor: Advisor):
    declined = await advisor.handle(Request("test", "w1", "u1", text="what is the salary of a judge"))
    assert declined.kind is ReplyKind.OUT_OF_SCOPE
    reply = await advisor.handle(Request("test", "w1", "u1", text="ok and legal secretaries?"))
    assert reply.kind is ReplyKind.ANSWER
    assert reply.meta["roles"] == ["legal_secretary"] and reply.meta["topic"] == "pay"


def test_two_named_roles_weighed_for_the_asker_are_compared_not_quizzed(matcher: Matcher):
    match = matcher.match("i love filing and calendars, would paralegal or legal secretary suit that more")
    assert match.kind is Kind.ANSWER and match.topic == "comparison"
    assert set(match.roles) == {"paralegal", "legal_secretary"}
    # Asking for the quiz by name still starts it.
    assert matcher.match("quiz me on whether paralegal or legal secretary suits me").kind is Kind.QUIZ


@pytest.mark.parametrize(
    "text",
    ["what can a legal assistant do that a paralegal can't", "do paralegals and legal assistants differ on a case"],
)
def test_setting_two_named_roles_against_each_other_is_a_comparison(matcher: Matcher, text: str):
    match = matcher.match(text)
    assert match.kind is Kind.ANSWER and match.topic == "comparison"
    assert set(match.roles) == {"paralegal", "legal_assistant"}


@pytest.mark.parametrize("text", ["whats the starting hourly wage in nevada", "could i get in with only a GED"])
def test_a_plain_career_question_naming_no_role_asks_which_role(matcher: Matcher, text: str):
    assert matcher.match(text).kind is Kind.CLARIFY


def test_the_askers_own_job_is_background_not_the_subject(matcher: Matcher):
    assert matcher.roles.find("im a nurse, is the work less stressful").other_jobs == ()
    assert matcher.roles.find("how stressful is being a nurse").other_jobs == ("nurse",)
    assert matcher.match("i was a teacher, would i earn less doing this job").kind is Kind.CLARIFY


async def test_switching_to_another_job_in_a_follow_up_is_declined_and_keeps_the_topic(advisor: Advisor):
    def ask(text: str) -> Request:
        return Request("test", "w1", "u2", text=text)

    assert (await advisor.handle(ask("how much do paralegals earn"))).meta["topic"] == "pay"
    declined = await advisor.handle(ask("and what about judges?"))
    assert declined.kind is ReplyKind.OUT_OF_SCOPE
    back = await advisor.handle(ask("ok legal assistants then"))
    assert back.meta["roles"] == ["legal_assistant"] and back.meta["topic"] == "pay"


def test_the_trio_means_all_three(matcher: Matcher):
    match = matcher.match("which of the trio has the best job outlook")
    assert match.kind is Kind.ANSWER and len(match.roles) == 3 and match.topic == "outlook"


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("what does a legal secretary do at a bankruptcy firm", "specializations"),
        ("day to day tasks of a paralegal in estate planning", "specializations"),
        ("what does a legal secretary do all day", "duties"),
    ],
)
def test_what_a_role_does_in_an_area_of_law_is_a_specializations_question(matcher: Matcher, text: str, topic: str):
    match = matcher.match(text)
    assert match.kind is Kind.ANSWER and match.topic == topic


@pytest.mark.parametrize(
    ("text", "role"),
    [
        ("is the PLS exam hard", "legal_secretary"),
        ("what does NFPA stand for", "paralegal"),
        ("CP exam cost", "paralegal"),
    ],
)
def test_a_credential_of_one_role_stands_for_that_role(matcher: Matcher, text: str, role: str):
    match = matcher.match(text)
    assert match.kind is Kind.ANSWER and match.roles == (role,)


def test_credentials_are_matched_as_written(matcher: Matcher):
    assert matcher.roles.credited_roles("pls tell me about the PLS") == ("legal_secretary",)
    assert matcher.roles.credited_roles("pls help, what about cp") == ()
    assert matcher.roles.credited_roles("HR pay with a SHRM-CP") == ()


def test_a_job_the_role_works_with_is_not_what_the_question_is_about(matcher: Matcher):
    assert matcher.roles.find("do they sit in on meetings with the attorney").other_jobs == ()
    assert matcher.roles.find("how much does an attorney make").other_jobs == ("attorney",)
    assert matcher.match("do they sit in on client meetings with the attorney").kind is Kind.CLARIFY


def test_a_typo_in_the_short_word_of_a_role_name_is_forgiven_beside_the_rest(matcher: Matcher):
    assert matcher.roles.find("whats a legl secretary").roles == ("legal_secretary",)
    assert matcher.roles.find("lagal asistant pay").roles == ("legal_assistant",)
    # On its own a short word still has to be exact: "paras" is one edit from "parts".
    assert matcher.roles.find("car parts").roles == ()


def test_a_typo_in_the_group_noun_still_means_all_three(matcher: Matcher):
    assert matcher.roles.find("which of these carrers pays best").named_group


def test_a_role_named_next_to_help_words_is_a_career_question(matcher: Matcher):
    match = matcher.match(
        "and legal secretaries, what do they get started at", ConversationContext(("paralegal",), "pay")
    )
    assert match.kind is Kind.ANSWER and match.roles == ("legal_secretary",)


def test_getting_started_in_that_career_asks_which_career_not_for_help(matcher: Matcher):
    assert matcher.match("how would i get started in that career").kind is Kind.CLARIFY
    assert matcher.match("halp").kind is Kind.HELP


def test_asking_the_bot_to_look_at_a_resume_is_not_legal_advice(matcher: Matcher):
    assert matcher.match("could you look over my resume for paralegal jobs").kind is not Kind.LEGAL_ADVICE


@pytest.mark.parametrize(
    "text",
    ["do legal assistants schedule depositions for immigration cases", "do paralegals file documents in family court"],
)
def test_whether_the_job_includes_a_task_in_an_area_of_law_stays_a_duties_question(matcher: Matcher, text: str):
    match = matcher.match(text)
    assert match.kind is Kind.ANSWER and match.topic == "duties"


@pytest.mark.parametrize(
    "text",
    ["which legal career should i go for if i love puzzles", "what job do you think i should pick, im organized"],
)
def test_asking_us_to_pick_a_job_for_them_starts_the_quiz(matcher: Matcher, text: str):
    assert matcher.match(text).kind is Kind.QUIZ, text


@pytest.mark.parametrize("text", ["hlep", "hepl", "hel", "Hlep!"])
def test_help_mistyped_on_its_own_is_still_a_call_for_help(matcher: Matcher, text: str):
    assert matcher.match(text).kind is Kind.HELP, text


@pytest.mark.parametrize(
    "text", ["no idea what to type here lol", "my son is deciding on a career, how can this bot help him"]
)
def test_unsure_what_to_type_or_asking_for_ones_child_is_a_call_for_help(matcher: Matcher, text: str):
    assert matcher.match(text).kind is Kind.HELP, text
