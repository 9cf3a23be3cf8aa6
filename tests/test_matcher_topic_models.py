"""The topic model learned from the phrasings' words (``WordTopicModel``) and its use by the matcher."""

from __future__ import annotations

import pytest

from core.kb_model import KnowledgeBase
from core.matcher import Kind, Matcher
from core.similarity import SimilarityIndex, WordTopicModel, _even_sample


def test_word_topic_model_weighs_words_by_how_consistently_they_mark_a_topic():
    documents = [
        ("pay", "how much do they make"),
        ("pay", "salary at an immigration firm"),
        ("pay", "is the pay good"),
        ("specializations", "immigration"),
        ("specializations", "family law"),
        ("specializations", "what areas of law"),
    ]
    index = SimilarityIndex(documents)
    model = WordTopicModel(index, list(range(len(documents))), [topic for topic, _ in documents])
    scores = model.scores("how much do immigration ones make")
    assert max(scores, key=scores.__getitem__) == "pay"
    assert model.scores("family law")["specializations"] > model.scores("family law")["pay"]
    assert set(model.scores("zzz unknown words")) == {"pay", "specializations"}


def test_word_topic_model_forgives_typos_like_the_index():
    documents = [("pay", "what is the salary"), ("pay", "salary range"), ("duties", "what do they do all day")]
    index = SimilarityIndex(documents)
    model = WordTopicModel(index, list(range(len(documents))), [topic for topic, _ in documents])
    scores = model.scores("salery")
    assert scores["pay"] > scores["duties"]


def test_a_large_knowledge_base_is_fitted_on_an_even_sample_of_each_topic(monkeypatch: pytest.MonkeyPatch):
    # 10× or 100× today's content would make the dual system too large to solve at start-up.
    documents = [("pay", f"salary question {n}") for n in range(60)]
    documents += [("duties", f"daily tasks {n}") for n in range(30)]
    index = SimilarityIndex(documents)
    monkeypatch.setattr(WordTopicModel, "MAX_PHRASINGS", 30)
    model = WordTopicModel(index, list(range(len(documents))), [topic for topic, _ in documents])
    assert model.topics == ["duties", "pay"]
    assert model.scores("salary")["pay"] > model.scores("salary")["duties"]
    assert model.scores("daily tasks")["duties"] > model.scores("daily tasks")["pay"]
    assert len(_even_sample([t for t, _ in documents], 30)) == 30


@pytest.fixture(scope="module")
def words_only(kb: KnowledgeBase) -> Matcher:
    return Matcher(kb, encoder=None)


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("how much do immigration paralegals make", "pay"),
        ("is there demand for bankruptcy legal secretaries", "outlook"),
        ("do paralegals at criminal firms work weekends", "work_environment"),
    ],
)
def test_words_alone_a_practice_area_in_passing_does_not_make_it_a_specializations_question(
    words_only: Matcher, text: str, topic: str
):
    match = words_only.match(text)
    assert match.kind is Kind.ANSWER and match.topic == topic


def test_words_alone_another_roles_phrasing_on_the_topic_counts_as_evidence(words_only: Matcher):
    match = words_only.match("do legal assistants in ip law help file patent applications")
    assert match.kind is Kind.ANSWER and match.roles == ("legal_assistant",) and match.topic == "specializations"
