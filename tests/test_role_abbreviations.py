"""Role abbreviations ("LA" for legal assistant, "LS" for legal secretary): recognised only as written, never as a
place or a lower-case word, and checked by the knowledge-base loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.advisor import Advisor
from core.kb_loader import KnowledgeBaseError, load_knowledge_base
from core.matcher import Kind, Matcher


@pytest.fixture(scope="module")
def matcher(advisor_template: Advisor) -> Matcher:
    return advisor_template.knowledge.matcher


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("whats an LA", "overview"),
        ("how much do LAs make", "pay"),
        ("what skills does an LA need", "skills"),
    ],
)
def test_an_abbreviation_names_its_role(matcher: Matcher, text: str, topic: str) -> None:
    match = matcher.match(text)
    assert match.kind is Kind.ANSWER and match.roles == ("legal_assistant",) and match.topic == topic


def test_two_roles_one_abbreviated_are_compared(matcher: Matcher) -> None:
    match = matcher.match("LA vs paralegal, which one")
    assert match.kind is Kind.ANSWER and set(match.roles) == {"legal_assistant", "paralegal"}


@pytest.mark.parametrize(
    "text",
    [
        "how much do paralegals make in LA",
        "paralegal jobs near LA",
        "paralegal salary LA county",
        "la la paralegal pay",
    ],
)
def test_a_place_or_a_lower_case_word_is_not_the_role(matcher: Matcher, text: str) -> None:
    match = matcher.match(text)
    assert match.roles == ("paralegal",), text


@pytest.mark.parametrize(
    ("text", "topic"), [("what does an LS make", "pay"), ("do LSs need a degree", "education")]
)
def test_legal_secretary_has_its_abbreviation_too(matcher: Matcher, text: str, topic: str) -> None:
    match = matcher.match(text)
    assert match.kind is Kind.ANSWER and match.roles == ("legal_secretary",) and match.topic == topic


def test_the_shell_command_ls_is_not_a_legal_secretary(matcher: Matcher) -> None:
    assert matcher.roles.find("i typed ls in the terminal").roles == ()


def test_the_loader_checks_abbreviations(kb_copy: Path) -> None:
    roles = kb_copy / "roles.yaml"
    original = roles.read_text()
    roles.write_text(original.replace("abbreviations: [LA, LAs]", "abbreviations: [la]"))
    with pytest.raises(KnowledgeBaseError) as caught:
        load_knowledge_base(kb_copy)
    assert any("abbreviations" in str(problem) for problem in caught.value.problems)

    # The same abbreviation for two roles is reported with both.
    roles.write_text(
        original.replace("aliases:\n      - para\n", "abbreviations: [LA]\n    aliases:\n      - para\n", 1)
    )
    with pytest.raises(KnowledgeBaseError) as caught:
        load_knowledge_base(kb_copy)
    assert any("'LA' is used by roles" in str(problem) for problem in caught.value.problems), caught.value.problems
