from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from core.advisor import Advisor
from core.kb_loader import load_knowledge_base
from core.kb_model import KnowledgeBase
from core.sessions import MemorySessionStore

REPO = Path(__file__).resolve().parent.parent
KNOWLEDGE = REPO / "knowledge"
QUESTIONS = REPO / "tests" / "data" / "questions.yaml"


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_knowledge_base(KNOWLEDGE)


@pytest.fixture(scope="session")
def advisor_template(kb: KnowledgeBase) -> Advisor:
    # Building an Advisor trains the matcher (a second or two); tests share that work, not state.
    return Advisor(kb, MemorySessionStore())


@pytest.fixture
def advisor(advisor_template: Advisor) -> Advisor:
    """The real Advisor on the real knowledge base, with a fresh session store for each test."""
    fresh = copy.copy(advisor_template)
    fresh.store = MemorySessionStore()
    return fresh


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    """A private copy of the real knowledge base that a test may break."""
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target, ignore=shutil.ignore_patterns("*.md"))
    return target
