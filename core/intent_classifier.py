"""What kind of message is this: a career question, a request for legal advice, off-topic, quiz or help?

A Complement Naive Bayes classifier trained at load time on the knowledge base itself: every entry and topic
phrasing is an example of a career question, and `knowledge/intents.yaml` holds labelled examples of the
rest. Measured on the dev split it generalises to new phrasings of legal-advice requests far better than
nearest-neighbour similarity or regular expressions, and it trains in milliseconds.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .kb_model import KnowledgeBase
from .similarity import features

CAREER = "career"
INTENTS = ("legal_advice", "out_of_scope", "quiz", "help")


@dataclass(frozen=True)
class IntentGuess:
    kind: str
    margin: float
    """How far the winner is ahead of the runner-up, in log-likelihood units per feature."""
    runner_up: str


class IntentClassifier:
    def __init__(self, kb: KnowledgeBase, smoothing: float = 0.3) -> None:
        examples: list[tuple[str, str]] = []
        for entry in kb.entries:
            examples.extend((CAREER, text) for text in (entry.question, *entry.phrasings))
        for topic in kb.topics:
            examples.extend((CAREER, text) for text in topic.phrasings)
        for intent in INTENTS:
            examples.extend((intent, text) for text in getattr(kb.intents, intent))
        self.kinds = (CAREER, *INTENTS)
        per_kind: dict[str, Counter[str]] = {kind: Counter() for kind in self.kinds}
        for kind, text in examples:
            per_kind[kind].update(features(text))
        everything: Counter[str] = Counter()
        for counts in per_kind.values():
            everything.update(counts)
        vocabulary_size = len(everything)
        grand_total = sum(everything.values())
        # Complement NB: a class is scored by how *unlike the other classes* the text is, which copes with
        # very unequal numbers of examples per class (hundreds of career phrasings, dozens of help examples).
        # One row per feature, one column per kind: a question is scored with one matrix product rather than a
        # Python sum per kind (long run-on questions have hundreds of features).
        self._feature_row = {feature: row for row, feature in enumerate(everything)}
        self._weights = np.empty((len(everything), len(self.kinds)))
        for column, kind in enumerate(self.kinds):
            complement_total = grand_total - sum(per_kind[kind].values())
            denominator = complement_total + smoothing * vocabulary_size
            self._weights[:, column] = [
                -math.log((everything[feature] - per_kind[kind][feature] + smoothing) / denominator)
                for feature in everything
            ]

    def scores(self, text: str) -> dict[str, float]:
        # Features never seen in training say nothing about the class, so they are left out.
        rows: list[int] = []
        counts: list[int] = []
        for feature, count in features(text).items():
            row = self._feature_row.get(feature)
            if row is not None:
                rows.append(row)
                counts.append(count)
        if not rows:
            return dict.fromkeys(self.kinds, 0.0)
        totals = np.asarray(counts, dtype=np.float64) @ self._weights[rows]
        return dict(zip(self.kinds, (totals / sum(counts)).tolist(), strict=True))

    def classify(self, text: str) -> IntentGuess:
        ranked = sorted(self.scores(text).items(), key=lambda item: item[1], reverse=True)
        (best, top), (second, runner) = ranked[0], ranked[1]
        return IntentGuess(best, top - runner, second)
