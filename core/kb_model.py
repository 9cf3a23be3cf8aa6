"""Typed schema of the knowledge base.

The YAML files under ``knowledge/`` are validated against these models; the same models are exported as a
JSON Schema (``advisor kb schema``) so editors can offer completion and catch mistakes while staff type.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class Topic(StrEnum):
    """The fixed topic taxonomy. Adding a topic is a code change on purpose: adapters and the quiz rely on it."""

    OVERVIEW = "overview"
    DUTIES = "duties"
    EDUCATION = "education"
    SKILLS = "skills"
    CERTIFICATION = "certification"
    CAREER_PATH = "career_path"
    PAY = "pay"
    OUTLOOK = "outlook"
    ETHICS = "ethics"
    WORK_ENVIRONMENT = "work_environment"
    SPECIALIZATIONS = "specializations"
    COMPARISON = "comparison"


TOPIC_LABELS: dict[Topic, str] = {
    Topic.OVERVIEW: "Overview",
    Topic.DUTIES: "Duties",
    Topic.EDUCATION: "Education",
    Topic.SKILLS: "Skills",
    Topic.CERTIFICATION: "Certification",
    Topic.CAREER_PATH: "Career path",
    Topic.PAY: "Pay",
    Topic.OUTLOOK: "Job outlook",
    Topic.ETHICS: "Ethics",
    Topic.WORK_ENVIRONMENT: "Work environment",
    Topic.SPECIALIZATIONS: "Specializations",
    Topic.COMPARISON: "Comparison",
}

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)]
NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Abbreviation = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Za-z]{1,5}$")]
"""2–6 letters starting with a capital: "LA", "LAs"."""
Credential = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9.-]{1,11}$")]
"""A credential or professional body as written: "PLS", "NALS", "nals"."""
AsOf = Annotated[str, StringConstraints(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class Source(BaseModel):
    """Where a fact comes from. ``as_of`` is the date (or year) of the figure or page, not of our edit."""

    model_config = _STRICT
    id: Identifier
    title: NonEmptyText
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]
    as_of: AsOf


class Role(BaseModel):
    model_config = _STRICT
    id: Identifier
    name: NonEmptyText
    plural: NonEmptyText
    aliases: list[NonEmptyText] = Field(
        default_factory=list, description="Other ways people name the role: 'para', 'legal sec', plurals."
    )
    false_friends: list[NonEmptyText] = Field(
        default_factory=list,
        description="Phrases that contain an alias but mean another job, e.g. 'medical secretary'.",
    )
    abbreviations: list[Abbreviation] = Field(
        default_factory=list,
        description="Short forms recognised only as written, in capitals and as whole words: 'LA', 'LAs' (never "
        "'la'). Not after 'in', 'near', 'from'... and not before 'area' or 'county', where they name a place.",
    )
    credentials: list[Credential] = Field(
        default_factory=list,
        description="Credentials and professional bodies of this role only, as written ('PLS', 'NALS'): a question "
        "naming one and no role is about this role ('what is the PLS exam'). Matched case-sensitively as whole "
        "words, so 'PLS' is never 'pls' (please); list a lower-case form too where it cannot mean anything else.",
    )
    summary: NonEmptyText = Field(description="One line shown in role lists and quiz results.")
    next_steps: list[NonEmptyText] = Field(
        min_length=1, description="Shown in quiz results when this role ranks first."
    )


class Entry(BaseModel):
    """One answer: for one or more roles, on one topic."""

    model_config = _STRICT
    id: Identifier
    roles: list[Identifier] = Field(min_length=1)
    topic: Topic
    question: NonEmptyText = Field(description="The canonical question, shown in 'did you mean' suggestions.")
    phrasings: list[NonEmptyText] = Field(
        min_length=2, description="Ways students ask this. More, and more varied, phrasings match better."
    )
    answer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=20, max_length=900)]
    sources: list[Identifier] = Field(min_length=1, description="Ids from sources.yaml.")


class TopicPhrasings(BaseModel):
    """Role-neutral phrasings of a topic ('how much do they make'), shared by every entry on that topic."""

    model_config = _STRICT
    topic: Topic
    phrasings: list[NonEmptyText] = Field(min_length=1)
    duties_questions_naming: list[NonEmptyText] = Field(
        default_factory=list,
        description=(
            "Words that turn a question about what a role does into a question on this topic: 'what does a "
            "paralegal do at an immigration firm' asks about a specialization, not about duties in general."
        ),
    )


class QuizChoice(BaseModel):
    model_config = _STRICT
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]{1,8}$")]
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=75)]
    scores: dict[Identifier, Annotated[int, Field(ge=0, le=3)]] = Field(
        description="Points this choice gives each role (0-3). Roles left out get 0."
    )
    reason: NonEmptyText = Field(description="Why this choice points to its roles; shown in results.")


class QuizQuestion(BaseModel):
    model_config = _STRICT
    id: Identifier
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=300)]
    choices: list[QuizChoice] = Field(min_length=2, max_length=5)


class Quiz(BaseModel):
    model_config = _STRICT
    title: NonEmptyText
    intro: NonEmptyText
    disclaimer: NonEmptyText
    questions: list[QuizQuestion] = Field(min_length=6, max_length=10)
    sources: list[Identifier] = Field(default_factory=list, description="Source ids shown under the results.")


class CannedTexts(BaseModel):
    """Fixed texts the bot says outside of answers."""

    model_config = _STRICT
    greeting: NonEmptyText
    help: NonEmptyText
    legal_advice_decline: NonEmptyText
    out_of_scope: NonEmptyText
    did_you_mean: NonEmptyText
    clarify_role: NonEmptyText
    error: NonEmptyText
    too_long: NonEmptyText
    slow_down: NonEmptyText
    quiz_cancelled: NonEmptyText
    quiz_stale: NonEmptyText
    forget_done: NonEmptyText
    thanks: NonEmptyText = Field(
        default="You're welcome! Ask me anything else about these three careers, or type \"quiz\".",
        description='The reply to a message that only thanks the bot ("thanks, that helps").',
    )
    legal_help_sources: list[Identifier] = Field(
        default_factory=list, description="Source ids listed under the legal-advice decline."
    )


class IntentExamples(BaseModel):
    """Labelled examples for the non-answer intents; the matcher learns these by similarity."""

    model_config = _STRICT
    legal_advice: list[NonEmptyText] = Field(min_length=10)
    out_of_scope: list[NonEmptyText] = Field(min_length=10)
    quiz: list[NonEmptyText] = Field(min_length=3)
    help: list[NonEmptyText] = Field(min_length=3)
    other_occupations: list[NonEmptyText] = Field(
        default_factory=list,
        description="Jobs we do not cover (lawyer, judge, court reporter...). A question about one of them that "
        "names none of our roles is out of scope.",
    )


class KnowledgeBase(BaseModel):
    """Everything the advisor knows. Built only by ``core.kb_loader`` after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    roles: list[Role]
    sources: list[Source]
    entries: list[Entry]
    topics: list[TopicPhrasings] = Field(default_factory=list)
    quiz: Quiz
    texts: CannedTexts
    intents: IntentExamples
    fingerprint: str = ""

    def role(self, role_id: str) -> Role:
        return self._roles_by_id()[role_id]

    def role_ids(self) -> list[str]:
        return [r.id for r in self.roles]

    def source(self, source_id: str) -> Source:
        return {s.id: s for s in self.sources}[source_id]

    def entry(self, entry_id: str) -> Entry:
        return {e.id: e for e in self.entries}[entry_id]

    def _roles_by_id(self) -> dict[str, Role]:
        return {r.id: r for r in self.roles}


# One file of the knowledge base may hold any of these top-level keys.
class KnowledgeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roles: list[Role] | None = None
    sources: list[Source] | None = None
    entries: list[Entry] | None = None
    topics: list[TopicPhrasings] | None = None
    quiz: Quiz | None = None
    texts: CannedTexts | None = None
    intents: IntentExamples | None = None
