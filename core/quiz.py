"""The career-fit quiz as a small state machine over ``QuizState``.

Every button carries the quiz id and the question position it was shown for, so a double click, a click on
an old message, or a click from before a restart is recognised as stale and never counted twice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import StrEnum

from .kb_model import KnowledgeBase, Quiz


@dataclass
class QuizState:
    quiz_id: str
    position: int = 0
    answers: dict[str, str] = field(default_factory=dict)
    """question id -> choice id"""
    finished: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "quiz_id": self.quiz_id,
            "position": self.position,
            "answers": dict(self.answers),
            "finished": self.finished,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> QuizState:
        answers = data.get("answers") or {}
        return cls(
            quiz_id=str(data["quiz_id"]),
            position=int(data.get("position", 0)),  # type: ignore[arg-type]
            answers={str(k): str(v) for k, v in answers.items()},  # type: ignore[union-attr]
            finished=bool(data.get("finished", False)),
        )


class Outcome(StrEnum):
    QUESTION = "question"  # show the current question
    RESULT = "result"  # the quiz is complete
    STALE = "stale"  # the click was for another quiz or another question; nothing changed
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class RoleFit:
    role_id: str
    points: int
    possible: int
    percent: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class QuizResult:
    ranking: tuple[RoleFit, ...]


def new_quiz_id() -> str:
    return secrets.token_hex(4)


class QuizEngine:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.quiz: Quiz = kb.quiz

    @property
    def length(self) -> int:
        return len(self.quiz.questions)

    def start(self, current: QuizState | None, restart: bool = False) -> QuizState:
        """Resume an unfinished quiz unless asked to restart; finished quizzes always start afresh."""
        if current is not None and not current.finished and not restart and self._valid(current):
            return current
        return QuizState(quiz_id=new_quiz_id())

    def _valid(self, state: QuizState) -> bool:
        # A knowledge-base edit may remove questions; such a quiz cannot be resumed safely.
        known = {q.id: {c.id for c in q.choices} for q in self.quiz.questions}
        return 0 <= state.position <= self.length and all(
            q in known and c in known[q] for q, c in state.answers.items()
        )

    def answer(self, state: QuizState, quiz_id: str, position: int, choice_id: str) -> Outcome:
        if state.finished or state.quiz_id != quiz_id or state.position != position or position >= self.length:
            return Outcome.STALE
        question = self.quiz.questions[position]
        if choice_id not in {c.id for c in question.choices}:
            return Outcome.STALE
        state.answers[question.id] = choice_id
        state.position += 1
        if state.position >= self.length:
            state.finished = True
            return Outcome.RESULT
        return Outcome.QUESTION

    def back(self, state: QuizState, quiz_id: str, position: int) -> Outcome:
        if state.finished or state.quiz_id != quiz_id or state.position != position or position == 0:
            return Outcome.STALE
        state.position -= 1
        state.answers.pop(self.quiz.questions[state.position].id, None)
        return Outcome.QUESTION

    def result(self, state: QuizState) -> QuizResult:
        role_ids = self.kb.role_ids()
        points = dict.fromkeys(role_ids, 0)
        possible = dict.fromkeys(role_ids, 0)
        reasons: dict[str, list[str]] = {r: [] for r in role_ids}
        for question in self.quiz.questions:
            for role in role_ids:
                possible[role] += max(c.scores.get(role, 0) for c in question.choices)
            chosen_id = state.answers.get(question.id)
            chosen = next((c for c in question.choices if c.id == chosen_id), None)
            if chosen is None:
                continue
            top = max(chosen.scores.values(), default=0)
            for role, value in chosen.scores.items():
                points[role] += value
                if value and value == top:
                    reasons[role].append(chosen.reason)
        fits = [
            RoleFit(
                role,
                points[role],
                possible[role],
                round(100 * points[role] / possible[role]) if possible[role] else 0,
                tuple(reasons[role]),
            )
            for role in role_ids
        ]
        # Ties keep the knowledge base's role order, so the result is stable and explainable.
        fits.sort(key=lambda fit: (-fit.percent, role_ids.index(fit.role_id)))
        return QuizResult(tuple(fits))


def text_bar(percent: int, width: int = 10) -> str:
    filled = max(0, min(width, round(percent * width / 100)))
    return "█" * filled + "░" * (width - filled)
