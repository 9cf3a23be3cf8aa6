"""A small TF-IDF nearest-neighbour index over words, word pairs and character n-grams.

Pure Python on purpose: the default install stays light, and with a few thousand short phrasings a query
costs well under a millisecond or two. Character n-grams make "salery" close to "salary"; word pairs keep
"give legal advice" apart from "legal advice jobs".
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from .text import edit_distance_at_most, typo_budget, words

# Chat spellings mapped to the words our phrasings use. Kept tiny and generic: domain synonyms belong in
# the knowledge base as phrasings, where staff can see and edit them.
CHAT_SPELLINGS: dict[str, str] = {
    "u": "you",
    "ya": "you",
    "r": "are",
    "ur": "your",
    "wat": "what",
    "wich": "which",
    "whih": "which",
    "halp": "help",
    "hlp": "help",
    "wut": "what",
    "wht": "what",
    "hw": "how",
    "abt": "about",
    "bc": "because",
    "cuz": "because",
    "tho": "though",
    "pls": "please",
    "plz": "please",
    "thx": "thanks",
    "ppl": "people",
    "yr": "year",
    "yrs": "years",
    "hr": "hour",
    "hrs": "hours",
    "k": "thousand",
    "w": "with",
    "wanna": "want",
    "gonna": "going",
    "gotta": "got",
    "dont": "do not",
    "doesnt": "does not",
    "cant": "can not",
    "cannot": "can not",
    "whats": "what is",
    "im": "i am",
    "ive": "i have",
    "isnt": "is not",
    "idk": "i do not know",
    "rn": "right now",
    "n": "and",
    "da": "the",
    "teh": "the",
    "b4": "before",
    "2": "to",
    "4": "for",
    "edu": "education",
}

STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "am",
        "be",
        "to",
        "of",
        "and",
        "or",
        "in",
        "on",
        "for",
        "it",
        "its",
        "do",
        "does",
        "did",
        "i",
        "you",
        "me",
        "my",
        "we",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "those",
        "what",
        "how",
        "so",
        "just",
        "like",
        "really",
        "about",
        "can",
        "could",
        "would",
        "should",
        "as",
        "at",
        "by",
        "with",
    ]
)


IRREGULAR = {
    "does": "do",
    "did": "do",
    "doing": "do",
    "done": "do",
    "is": "be",
    "are": "be",
    "was": "be",
    "were": "be",
    "am": "be",
    "paid": "pay",
    "earns": "earn",
    "makes": "make",
    "made": "make",
}
ARTICLES = frozenset({"a", "an", "the"})


def stem(word: str) -> str:
    """A deliberately light stemmer: plural and verb endings only, so 'salaries' meets 'salary'."""
    if word in IRREGULAR:
        return IRREGULAR[word]
    for suffix, replacement in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "es" and not word.endswith(("ches", "shes", "sses", "xes")):
                return word[:-1]
            if suffix == "s" and word.endswith("ss"):
                return word
            return word[: len(word) - len(suffix)] + replacement
    return word


def expand_chat(tokens: Iterable[str]) -> list[str]:
    out: list[str] = []
    for token in tokens:
        out.extend(CHAT_SPELLINGS.get(token, token).split())
    return out


def features(text: str, correct: Callable[[str], str] | None = None) -> Counter[str]:
    tokens = expand_chat(words(text))
    if correct is not None:
        tokens = [correct(t) for t in tokens]
    stems = [stem(t) for t in tokens]
    counts: Counter[str] = Counter()
    content = [s for s, t in zip(stems, tokens, strict=True) if t not in STOP_WORDS]
    for s in content:
        counts["w:" + s] += 1
    # Word pairs keep stop words (what the question shape says: "what do ... do") but not articles.
    for a, b in pairwise([s for s, t in zip(stems, tokens, strict=True) if t not in ARTICLES]):
        counts[f"b:{a}_{b}"] += 1
    for token in tokens:
        if token in STOP_WORDS or len(token) < 3:
            continue
        padded = f" {token} "
        for n in (3, 4, 5):
            for i in range(len(padded) - n + 1):
                counts["c:" + padded[i : i + n]] += 1
    return counts


_KIND_WEIGHT = {"w": 1.0, "b": 0.8, "c": 0.35}


@dataclass(frozen=True)
class Neighbour:
    label: str
    score: float
    doc: int


MAX_POSTINGS = 200
"""How many documents each feature keeps, strongest first. The real knowledge base's commonest feature is in
174 of 1,642 phrasings, so today nothing is cut; in a knowledge base many times larger a query still reads at most
this many postings per feature, so answering cost stops growing with the number of phrasings. A phrasing cut
from a feature's list is one where that feature is a small share of a long text, which adds little to any
cosine it could win (benchmarks/kb_scale.py measures both the cost and how many replies change)."""


class SimilarityIndex:
    """Documents are (label, text) pairs; ``best_by_label`` returns each label's best cosine score."""

    def __init__(self, documents: list[tuple[str, str]], max_postings: int = MAX_POSTINGS) -> None:
        self.labels = [label for label, _ in documents]
        raw = [features(text) for _, text in documents]
        doc_freq: Counter[str] = Counter()
        for counts in raw:
            doc_freq.update(counts.keys())
        total = max(len(raw), 1)
        self._idf = {f: math.log((1 + total) / (1 + df)) + 1.0 for f, df in doc_freq.items()}
        feature_ids: dict[str, int] = {}
        doc_column: list[int] = []
        feature_column: list[int] = []
        weight_column: list[float] = []
        for doc_id, counts in enumerate(raw):
            weights = self._weights(counts)
            doc_column.extend([doc_id] * len(weights))
            feature_column.extend(feature_ids.setdefault(feature, len(feature_ids)) for feature in weights)
            weight_column.extend(weights.values())
        # Postings as arrays: a query adds them up with one NumPy bincount instead of a Python loop per posting,
        # which is what long run-on questions (hundreds of features) spent their time on. They are built with one
        # sort (by feature, then strongest first) and sliced per feature, not assembled feature by feature.
        docs = np.asarray(doc_column, dtype=np.intp)
        feature_of = np.asarray(feature_column, dtype=np.intp)
        weights_of = np.asarray(weight_column, dtype=np.float64)
        order = np.lexsort((docs, -weights_of, feature_of))
        docs, feature_of, weights_of = docs[order], feature_of[order], weights_of[order]
        starts = np.searchsorted(feature_of, np.arange(len(feature_ids)))
        ends = np.append(starts[1:], len(feature_of))
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for feature, start, end in zip(feature_ids, starts.tolist(), ends.tolist(), strict=True):
            end = min(end, start + max_postings)
            self._arrays[feature] = (docs[start:end], weights_of[start:end])
        # Every posting, uncut (the per-feature arrays above are views into these), for ``document_weights``.
        self._feature_names = list(feature_ids)
        self._all_postings = (docs, feature_of.astype(np.int32), weights_of)
        # Runs of documents with the same label, so each label's best is one slice.
        self._runs = [i for i in range(len(self.labels)) if i == 0 or self.labels[i] != self.labels[i - 1]]
        # Which run each document is in, so every run's best document is found in one vectorised pass.
        self._run_of = np.repeat(np.arange(len(self._runs)), np.diff([*self._runs, len(self.labels)]))
        vocabulary: Counter[str] = Counter()
        for _, text in documents:
            vocabulary.update(expand_chat(words(text)))
        self._vocabulary = vocabulary
        self._by_initial: dict[str, list[str]] = defaultdict(list)
        for word, _count in vocabulary.most_common():
            if len(word) >= 4:
                self._by_initial[word[0]].append(word)
        self._corrections: dict[str, str] = {}
        self._last_query: tuple[str, dict[str, float]] | None = None

    def correct(self, word: str) -> str:
        """The most common known word within a small edit distance of an unknown word ("salery" -> "salary")."""
        if word in self._vocabulary or len(word) < 5 or not word.isalpha():
            return word
        cached = self._corrections.get(word)
        if cached is not None:
            return cached
        budget = typo_budget(word)
        best = word
        for candidate in self._by_initial.get(word[0], ()):
            if abs(len(candidate) - len(word)) <= budget and edit_distance_at_most(word, candidate, budget):
                best = candidate  # candidates are in order of frequency, so the first hit is the likeliest
                break
        if len(self._corrections) < 50_000:
            self._corrections[word] = best
        return best

    def _weights(self, counts: Counter[str]) -> dict[str, float]:
        weights: dict[str, float] = {}
        for feature, count in counts.items():
            idf = self._idf.get(feature)
            if idf is None:
                continue
            weights[feature] = (1.0 + math.log(count)) * idf * _KIND_WEIGHT[feature[0]]
        norm = math.sqrt(sum(w * w for w in weights.values()))
        if norm == 0:
            return {}
        return {f: w / norm for f, w in weights.items()}

    def document_weights(self, doc_ids: list[int]) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
        """The weights these documents were indexed with, before any feature's postings were cut: for each
        posting, the document's position in ``doc_ids`` and the feature's position in the returned list of
        feature names, and the weight. What ``weights_of`` gives for their texts, without working it out again."""
        docs, feature_of, weights = self._all_postings
        position = np.full(len(self.labels), -1, dtype=np.intp)
        position[doc_ids] = np.arange(len(doc_ids))
        chosen = position[docs] >= 0
        used, columns = np.unique(feature_of[chosen], return_inverse=True)
        names = [self._feature_names[feature] for feature in used.tolist()]
        return position[docs[chosen]], names, columns.astype(np.intp), weights[chosen]

    def weights_of(self, text: str, correct: bool = False) -> dict[str, float]:
        """``text``'s normalised TF-IDF features (unknown words spelled as known ones when ``correct``)."""
        if not correct:
            return self._weights(features(text))
        last = self._last_query
        if last is not None and last[0] == text:
            return last[1]
        weights = self._weights(features(text, self.correct))
        # The matcher asks for the same question's features twice (neighbours, then the word topic model).
        self._last_query = (text, weights)
        return weights

    def scores(self, text: str) -> np.ndarray:
        """Cosine similarity of ``text`` with every document (0 for documents sharing no feature)."""
        doc_ids: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        for feature, q_weight in self.weights_of(text, correct=True).items():
            found = self._arrays.get(feature)
            if found is not None:
                doc_ids.append(found[0])
                weights.append(found[1] * q_weight)
        if not doc_ids:
            return np.zeros(len(self.labels))
        return np.bincount(np.concatenate(doc_ids), weights=np.concatenate(weights), minlength=len(self.labels))

    def best_by_label(self, text: str) -> dict[str, Neighbour]:
        """Each label's best document, for labels with at least one document sharing a feature with ``text``."""
        totals = self.scores(text)
        if not len(totals):
            return {}
        maxima = np.maximum.reduceat(totals, self._runs)
        run_maxima = maxima[self._run_of]
        candidates = np.flatnonzero((totals == run_maxima) & (run_maxima > 0))
        # The first document reaching its run's maximum, as argmax would pick it.
        _, first = np.unique(self._run_of[candidates], return_index=True)
        best: dict[str, Neighbour] = {}
        for doc in candidates[first].tolist():
            label, score = self.labels[doc], float(totals[doc])
            current = best.get(label)
            if current is None or score > current.score:
                best[label] = Neighbour(label, score, doc)
        return best


class WordTopicModel:
    """Which topic a question is about, learned from the words of every topic phrasing at once.

    The words' counterpart of ``semantic.TopicModel``: nearest neighbours judge a question by its single closest
    phrasing, so one shared practice-area word ("probate", "bankruptcy") can pull a question about duties or pay
    towards another topic's phrasing. A linear model over all phrasings weighs each word by how consistently it
    marks a topic across them. Ridge regression onto one-hot topics over the index's TF-IDF features, solved in
    its dual form (one system the size of the number of phrasings) at load time.
    """

    RIDGE = 0.3
    MAX_PHRASINGS = 3000
    """The most phrasings it is fitted on. The dual system is that size squared (3,000: 72 MB and under a second;
    today's knowledge base has about 1,900); a larger knowledge base is sampled evenly within each topic, so start-up
    stays bounded at 10× and 100× the content (benchmarks/kb_scale.py)."""

    def __init__(self, index: SimilarityIndex, documents: list[int], topics: list[str]) -> None:
        """``documents``: the index's documents (by position) to learn from, each on its topic in ``topics``."""
        self.topics = sorted(set(topics))
        self._index = index
        if len(documents) > self.MAX_PHRASINGS:
            keep = _even_sample(topics, self.MAX_PHRASINGS)
            documents, topics = [documents[i] for i in keep], [topics[i] for i in keep]
        # The index has each phrasing's TF-IDF weights already: they are read, not worked out again.
        doc_ids, names, feature_ids, values = index.document_weights(documents)
        # Postings per feature, to form the Gram matrix (phrasing x phrasing) without a dense feature matrix.
        order = np.argsort(feature_ids, kind="stable")
        by_feature = np.split(order, np.flatnonzero(np.diff(feature_ids[order])) + 1) if len(order) else []
        n = len(documents)
        gram = np.ones((n, n))  # the constant feature: a bias per topic
        for postings in by_feature:
            if len(postings) > 1:
                docs, weights = doc_ids[postings], values[postings]
                gram[np.ix_(docs, docs)] += np.outer(weights, weights)
        # A feature of one phrasing only (most character n-grams) adds to that phrasing's diagonal entry alone.
        single = np.concatenate([postings for postings in by_feature if len(postings) == 1] or [np.empty(0, np.intp)])
        np.add.at(gram, (doc_ids[single], doc_ids[single]), values[single] ** 2)
        targets = np.zeros((n, len(self.topics)))
        targets[np.arange(n), [self.topics.index(t) for t in topics]] = 1.0
        dual = np.linalg.solve(gram + self.RIDGE * np.eye(n), targets)
        weights = np.zeros((len(names), len(self.topics)))
        np.add.at(weights, feature_ids, values[:, None] * dual[doc_ids])
        self._vocabulary = {name: column for column, name in enumerate(names)}
        self._weights = weights
        self._bias = dual.sum(axis=0)

    def scores(self, text: str) -> dict[str, float]:
        rows: list[int] = []
        weights: list[float] = []
        for feature, weight in self._index.weights_of(text, correct=True).items():
            row = self._vocabulary.get(feature)
            if row is not None:
                rows.append(row)
                weights.append(weight)
        out = self._bias + np.asarray(weights) @ self._weights[rows] if rows else self._bias
        return dict(zip(self.topics, out.tolist(), strict=True))


def _even_sample(labels: list[str], limit: int) -> list[int]:
    """About ``limit`` indices, spread evenly over each label's items in proportion to its share (at least one)."""
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    keep: list[int] = []
    for items in by_label.values():
        quota = min(len(items), max(1, len(items) * limit // len(labels)))
        keep.extend(items[j * len(items) // quota] for j in range(quota))
    return sorted(keep)
