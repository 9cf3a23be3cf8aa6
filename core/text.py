"""Turning untrusted user text into something safe to match on.

Users paste anything: 100 KB essays, zero-width characters, emoji, RTL marks, Slack mention syntax.
Everything downstream works on the output of ``clean_question`` and ``words``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_MATCH_CHARS = 600
"""Only the beginning of a question is matched: real questions are short, and matching cost grows with length."""

_MENTION = re.compile(r"<[@#!][^>\s]{0,80}>")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class CleanText:
    text: str
    truncated: bool


def _drop_invisible(text: str) -> str:
    # Control and format characters (zero-width joiners, RTL marks, NUL...) become spaces so words stay apart.
    return "".join(" " if unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"} else ch for ch in text)


def clean_question(raw: str | None, limit: int = MAX_MATCH_CHARS) -> CleanText:
    """Normalise user text for matching: NFKC, lower case, no mention markup, no invisible characters."""
    if not raw:
        return CleanText("", False)
    head = raw[: limit * 4]
    text = unicodedata.normalize("NFKC", head)
    text = _MENTION.sub(" ", text)
    text = _drop_invisible(text).replace("’", "'").replace("‘", "'")
    text = _SPACES.sub(" ", text.casefold()).strip()
    truncated = len(raw) > limit * 4 or len(text) > limit
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0]
    return CleanText(text, truncated)


def words(text: str) -> list[str]:
    """Word tokens; possessives are folded ("paralegal's" -> "paralegal")."""
    return [_fold(w) for w in _WORD.findall(text)]


def _fold(word: str) -> str:
    return word[:-2] if word.endswith("'s") else word.replace("'", "")


_CLAUSE_MARK = re.compile(r"[,;:.!?/()|\n]")


def words_and_clause_starts(text: str) -> tuple[list[str], frozenset[int]]:
    """``words(text)``, and the indices of the words that follow a comma, full stop or the like: a name of several
    words never runs across one ("legal sec, para, legal asst" names three roles, not "para legal")."""
    tokens: list[str] = []
    starts: set[int] = set()
    previous_end = 0
    for index, match in enumerate(_WORD.finditer(text)):
        if index and _CLAUSE_MARK.search(text, previous_end, match.start()):
            starts.add(index)
        previous_end = match.end()
        tokens.append(_fold(match.group()))
    return tokens, frozenset(starts)


def edit_distance_at_most(a: str, b: str, limit: int) -> bool:
    """Damerau-Levenshtein distance (adjacent swaps count once) <= limit, with an early exit."""
    if abs(len(a) - len(b)) > limit:
        return False
    previous_previous: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        row_min = current[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, previous_previous[j - 2] + 1)
            current[j] = value
            row_min = min(row_min, value)
        if row_min > limit:
            return False
        previous_previous, previous = previous, current
    return previous[len(b)] <= limit


def typo_budget(word: str, one_edit_from: int = 5) -> int:
    """How many edits a word of this length may carry and still be recognised."""
    if len(word) >= 8:
        return 2
    if len(word) >= one_edit_from:
        return 1
    return 0


def escape_for_display(text: str, limit: int = 300) -> str:
    """A short, single-line version of user text that is safe to quote back (adapters escape markup too)."""
    flat = _SPACES.sub(" ", _drop_invisible(unicodedata.normalize("NFKC", text[: limit * 2]))).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
