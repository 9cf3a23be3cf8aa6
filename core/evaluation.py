"""``advisor eval``: answer quality on a labelled question set, through the real ``Advisor``.

Each question gets a fresh user; its ``context`` messages are sent first, as a student would have typed them.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .advisor import Advisor
from .kb_loader import load_knowledge_base
from .kb_model import KnowledgeBase
from .reply import Request
from .sessions import MemorySessionStore

DECLINED = {"out_of_scope", "legal_advice", "thanks"}
"""Replies that answer nothing: a "you're welcome" counts as declining an off-topic message."""
TARGETS = {"in_scope": 0.93, "out_of_scope": 0.95, "legal_declined": 0.95, "legal_words_declined": 0.05}


@dataclass(frozen=True)
class LabelledQuestion:
    q: str
    kind: str
    roles: frozenset[str] = frozenset()
    topic: str | None = None
    split: str = "dev"
    tags: tuple[str, ...] = ()
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    item: LabelledQuestion
    kind: str
    roles: frozenset[str]
    topic: str | None

    @property
    def correct(self) -> bool:
        expected = self.item
        if expected.kind == "answer":
            return self.kind == "answer" and self.roles == expected.roles and self.topic == expected.topic
        if expected.kind == "out_of_scope":
            return self.kind in DECLINED
        return self.kind == expected.kind


@dataclass
class EvalReport:
    outcomes: list[Outcome] = field(default_factory=list)

    def _of(self, kind: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.item.kind == kind]

    @staticmethod
    def _rate(hits: int, total: int) -> float:
        return hits / total if total else 0.0

    @property
    def in_scope_accuracy(self) -> float:
        items = [o for o in self.outcomes if o.item.kind in ("answer", "clarify")]
        return self._rate(sum(o.correct for o in items), len(items))

    @property
    def out_of_scope_declined(self) -> float:
        items = self._of("out_of_scope")
        return self._rate(sum(o.kind in DECLINED for o in items), len(items))

    @property
    def legal_answered(self) -> int:
        return sum(o.kind == "answer" for o in self._of("legal_advice"))

    @property
    def legal_declined(self) -> float:
        items = self._of("legal_advice")
        return self._rate(sum(o.kind == "legal_advice" for o in items), len(items))

    @property
    def legal_words_declined(self) -> float:
        items = [o for o in self.outcomes if "legal_words" in o.item.tags and o.item.kind == "answer"]
        return self._rate(sum(o.kind in DECLINED for o in items), len(items))

    def counts(self) -> Counter[str]:
        counter = Counter(o.item.kind for o in self.outcomes)
        counter["legal_words"] = sum("legal_words" in o.item.tags and o.item.kind == "answer" for o in self.outcomes)
        return counter

    def summary_lines(self) -> list[str]:
        c = self.counts()
        return [
            f"in-scope answered with the right roles and topic: {self.in_scope_accuracy:6.1%}"
            f"  (n={c['answer'] + c['clarify']}, target ≥ 93%)",
            f"out-of-scope declined:                            {self.out_of_scope_declined:6.1%}"
            f"  (n={c['out_of_scope']}, target ≥ 95%)",
            f"legal-advice requests answered from the KB:       {self.legal_answered:6d}"
            f"  (n={c['legal_advice']}, target 0)",
            f"legal-advice requests declined as legal advice:   {self.legal_declined:6.1%}  (target ≥ 95%)",
            f"career questions with legal words declined:       {self.legal_words_declined:6.1%}"
            f"  (n={c['legal_words']}, target ≤ 5%)",
            f"quiz/help requests recognised:                    "
            f"{self._rate(sum(o.correct for o in self._of('quiz') + self._of('help')), c['quiz'] + c['help']):6.1%}"
            f"  (n={c['quiz'] + c['help']})",
        ]

    def without(self, texts: frozenset[str]) -> EvalReport:
        """The same report over the questions whose text is not in ``texts`` (see ``known_phrasings``)."""
        return EvalReport([o for o in self.outcomes if _normal(o.item.q) not in texts])

    def topic_table(self) -> list[str]:
        per_topic: dict[str, list[bool]] = defaultdict(list)
        for o in self.outcomes:
            if o.item.kind == "answer":
                per_topic[o.item.topic or "?"].append(o.correct)
        lines = [f"{'topic':<18}{'n':>5}{'right':>8}"]
        for topic in sorted(per_topic):
            results = per_topic[topic]
            lines.append(f"{topic:<18}{len(results):>5}{sum(results) / len(results):>8.1%}")
        return lines

    def confusions(self, limit: int) -> list[str]:
        wrong = [o for o in self.outcomes if not o.correct]
        lines = []
        for o in wrong[:limit]:
            want = o.item.kind if o.item.kind != "answer" else f"answer {sorted(o.item.roles)} {o.item.topic}"
            got = o.kind if o.kind != "answer" else f"answer {sorted(o.roles)} {o.topic}"
            context = f" (after {list(o.item.context)})" if o.item.context else ""
            lines.append(f"- {o.item.q!r}{context}\n    expected {want}; got {got}")
        if len(wrong) > limit:
            lines.append(f"... and {len(wrong) - limit} more")
        return lines


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def known_phrasings(kb: KnowledgeBase) -> frozenset[str]:
    """Every text the matcher learns from (entry questions and phrasings, topic phrasings, intent examples),
    lower-cased: a question found here word for word measures recall, not understanding."""
    texts = [text for entry in kb.entries for text in (entry.question, *entry.phrasings)]
    texts += [text for topic in kb.topics for text in topic.phrasings]
    texts += [
        text for intent in ("legal_advice", "out_of_scope", "quiz", "help") for text in getattr(kb.intents, intent)
    ]
    return frozenset(_normal(text) for text in texts)


def load_questions(path: Path, split: str = "all") -> list[LabelledQuestion]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = []
    for raw in data["questions"]:
        item = LabelledQuestion(
            q=str(raw["q"]),
            kind=raw["kind"],
            roles=frozenset(raw.get("roles") or ()),
            topic=raw.get("topic"),
            split=raw.get("split", "dev"),
            tags=tuple(raw.get("tags") or ()),
            context=tuple(raw.get("context") or ()),
        )
        if split == "all" or item.split == split:
            items.append(item)
    return items


async def evaluate(advisor: Advisor, questions: list[LabelledQuestion]) -> EvalReport:
    report = EvalReport()
    for number, item in enumerate(questions):
        user = f"eval-{number}"
        for earlier in item.context:
            await advisor.handle(Request("eval", "eval", user, text=earlier))
        reply = await advisor.handle(Request("eval", "eval", user, text=item.q))
        meta = reply.meta
        report.outcomes.append(
            Outcome(
                item,
                str(meta.get("kind", reply.kind.value)),
                frozenset(meta.get("roles") or ()),  # type: ignore[arg-type]
                meta.get("topic"),
            )  # type: ignore[arg-type]
        )
    return report


def evaluate_file(questions_path: Path, knowledge_dir: Path, split: str) -> EvalReport:
    kb = load_knowledge_base(knowledge_dir)
    advisor = Advisor(kb, MemorySessionStore())
    return asyncio.run(evaluate(advisor, load_questions(questions_path, split)))


def run_evaluation(questions_path: Path, knowledge_dir: Path, split: str, confusion_limit: int) -> int:
    splits = ["dev", "test"] if split == "all" else [split]
    known = known_phrasings(load_knowledge_base(knowledge_dir))
    for name in splits:
        report = evaluate_file(questions_path, knowledge_dir, name)
        print(f"== split: {name} ({len(report.outcomes)} questions) ==")
        print("\n".join(report.summary_lines()))
        unseen = report.without(known)
        if len(unseen.outcomes) < len(report.outcomes):
            print(
                f"\n{len(report.outcomes) - len(unseen.outcomes)} of these questions are also, word for word, "
                "phrasings or examples in the knowledge base; without them:"
            )
            print("\n".join(unseen.summary_lines()))
        print()
        print("\n".join(report.topic_table()))
        print("\nconfusions:")
        print("\n".join(report.confusions(confusion_limit)) or "(none)")
        print()
    return 0
