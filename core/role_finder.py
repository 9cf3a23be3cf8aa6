"""Finding which roles a question names, forgiving typos, and removing those names from the question.

The role is a separate slot: "how much do paras make" is matched as role={paralegal} + topic text
"how much do make", so every role shares the same topic phrasings.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .kb_model import Role
from .text import edit_distance_at_most, typo_budget, words, words_and_clause_starts

# Phrases that mean "all the roles you cover".
GROUP_PHRASES: tuple[tuple[str, ...], ...] = (
    ("all", "three"),
    ("all", "3"),
    ("the", "three"),
    ("the", "3"),
    ("three", "jobs"),
    ("3", "jobs"),
    ("three", "roles"),
    ("3", "roles"),
    ("three", "careers"),
    ("3", "careers"),
    ("these", "three"),
    ("these", "jobs"),
    ("these", "roles"),
    ("these", "careers"),
    ("those", "jobs"),
    ("those", "roles"),
    ("these", "positions"),
    ("each", "role"),
    ("each", "job"),
    ("which", "role"),
    ("which", "job"),
    ("which", "career"),
    ("the", "roles"),
    ("the", "jobs"),
    ("legal", "support", "roles"),
    ("legal", "support", "jobs"),
    ("legal", "support", "careers"),
    ("legal", "support"),
    ("the", "trio"),
)

_ASKERS_OWN_JOB: tuple[tuple[str, ...], ...] = (
    ("im", "a"),
    ("im", "an"),
    ("i", "am", "a"),
    ("i", "am", "an"),
    ("i", "was", "a"),
    ("i", "was", "an"),
    ("been", "a"),
    ("been", "an"),
    ("former",),
    ("retired",),
    ("coming", "from"),
)
"""Words before another job that make it the asker's own background ("im a nurse, would i take a pay cut"), not
what the question is about ("how much do nurses make")."""


_ALONGSIDE = frozenset({"with", "for", "under", "alongside", "beside", "assist", "assisting", "assists", "support"})
_DETERMINERS = frozenset({"the", "a", "an", "their", "its", "his", "her", "your"})


def _describes_the_asker(tokens: list[str], start: int) -> bool:
    return any(tuple(tokens[max(0, start - len(lead)) : start]) == lead for lead in _ASKERS_OWN_JOB)


def _works_alongside(tokens: list[str], start: int) -> bool:
    """ "can they go to court with the attorney": the other job is who the asked-about role works with or for,
    not what the question is about."""
    before = tokens[max(0, start - 2) : start]
    if before[-1:] and before[-1] in _ALONGSIDE:
        return True
    return len(before) == 2 and before[0] in _ALONGSIDE and before[1] in _DETERMINERS


_GROUP_PHRASES_BY_FIRST_WORD: dict[str, list[tuple[str, ...]]] = {}
for _phrase in GROUP_PHRASES:
    _GROUP_PHRASES_BY_FIRST_WORD.setdefault(_phrase[0], []).append(_phrase)

_GROUP_POINTERS = frozenset({"these", "those"})
_GROUP_NOUNS = frozenset({"jobs", "roles", "careers", "positions"})
_NUMBERS = frozenset({"three", "3"})
_COUNTED = frozenset({"year", "years", "month", "months", "week", "weeks", "day", "days", "hour", "hours"})
""""the three year degree" counts years, not jobs."""

_PLACE_BEFORE = re.compile(r"\b(?:in|near|around|from|to|outside|across|throughout)\s+$", re.IGNORECASE)
_PLACE_AFTER = re.compile(r"^[\s-]+(?:area|county|city|metro|based)\b", re.IGNORECASE)
"""An abbreviation is a place, not a role, in "paralegal pay in LA" or "LA county" ("LA" also means Los Angeles)."""


@functools.lru_cache(maxsize=65_536)
def _token_matches(alias_token: str, word: str, in_phrase: bool = False) -> bool:
    # Cached: the same words meet the same role-name words question after question, and the edit distances
    # were most of the time spent finding roles in long run-on questions.
    if alias_token == word:
        return True
    # Short alias words ("para", "sec", "legal") must match exactly on their own: "paras" is one edit from
    # "parts". Beside the rest of a name they may carry one typo ("lagal assistant").
    budget = typo_budget(alias_token, one_edit_from=5 if in_phrase else 6)
    return budget > 0 and word[:1] == alias_token[:1] and edit_distance_at_most(alias_token, word, budget)


@dataclass(frozen=True)
class RoleFinding:
    roles: tuple[str, ...]
    """Role ids in order of first mention; every role when the question says "all three"."""
    rest: str
    """The question's words without role names (what the topic is matched on)."""
    words: tuple[str, ...]
    named_group: bool
    other_jobs: tuple[str, ...] = ()
    """Occupations we do not cover that the question names ("lawyer", "court reporter")."""


_FALSE_FRIEND = "__false_friend__"
_OTHER_JOB = "__other_job__"


class RoleFinder:
    def __init__(self, roles: list[Role], other_occupations: list[str] | None = None) -> None:
        self._role_ids = [role.id for role in roles]
        patterns: list[tuple[tuple[str, ...], str | None]] = []
        for role in roles:
            for alias in {role.name, role.plural, *role.aliases}:
                tokens = tuple(words(alias.casefold()))
                if tokens:
                    patterns.append((tokens, role.id))
            for friend in role.false_friends:
                tokens = tuple(words(friend.casefold()))
                if tokens:
                    patterns.append((tokens, _FALSE_FRIEND))
        for job in other_occupations or ():
            tokens = tuple(words(job.casefold()))
            if tokens:
                patterns.append((tokens, _OTHER_JOB))
        # Longest first so "legal secretary" wins over "secretary", and false friends over aliases.
        patterns.sort(key=lambda item: (-len(item[0]), item[1] not in (_FALSE_FRIEND, _OTHER_JOB)))
        # A pattern can only match a word with the same first letter (typos are forgiven after it), so each
        # word is compared with its letter's patterns only: role finding is the hot path of every question.
        self._by_initial: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for pattern in patterns:
            self._by_initial.setdefault(pattern[0][0][:1], []).append(pattern)
        # Abbreviations are matched on the text as written (matching itself is on lower case, where "LA" is "la").
        self._abbreviations = {
            short: role.plural if short.endswith("s") else role.name for role in roles for short in role.abbreviations
        }
        self._credential_owner = {credential: role.id for role in roles for credential in role.credentials}
        credentials = "|".join(re.escape(c) for c in sorted(self._credential_owner, key=len, reverse=True))
        self._credential = re.compile(rf"(?<![\w'-])({credentials})(?![\w'])") if credentials else None
        alternatives = "|".join(re.escape(a) for a in sorted(self._abbreviations, key=len, reverse=True))
        self._abbreviation = re.compile(rf"(?<![\w'-])({alternatives})(?![\w'])") if alternatives else None

    def credited_roles(self, text: str) -> tuple[str, ...]:
        """Roles whose own credentials or professional bodies ``text`` names, as written ("is the PLS hard?")."""
        if self._credential is None:
            return ()
        found = (self._credential_owner[match.group(1)] for match in self._credential.finditer(text))
        return tuple(dict.fromkeys(found))

    def spell_out(self, text: str) -> str:
        """``text`` with each role abbreviation written as the role's name ("an LA" → "an Legal assistant"), done
        before the text is lower-cased for matching."""
        if self._abbreviation is None:
            return text

        def name(match: re.Match[str]) -> str:
            if _PLACE_BEFORE.search(text, 0, match.start()) or _PLACE_AFTER.match(text[match.end() :]):
                return match.group(0)
            return self._abbreviations[match.group(1)]

        return self._abbreviation.sub(name, text)

    def strip_names(self, text: str) -> str:
        """The text without role names: used on knowledge-base phrasings so both sides match alike."""
        return self.find(text).rest

    def find(self, text: str) -> RoleFinding:
        tokens, breaks = words_and_clause_starts(text)
        roles: list[str] = []  # in order of first mention
        other_jobs: list[str] = []
        consumed = [False] * len(tokens)
        i = 0
        while i < len(tokens):
            match = self._match_at(tokens, i, breaks)
            if match is None:
                i += 1
                continue
            length, role_id = match
            if role_id == _OTHER_JOB:
                if not _describes_the_asker(tokens, i) and not _works_alongside(tokens, i):
                    other_jobs.append(" ".join(tokens[i : i + length]))
            elif role_id != _FALSE_FRIEND:
                for k in range(i, i + length):
                    consumed[k] = True
                if role_id not in roles:
                    roles.append(role_id)
            i += length

        named_group = any(
            tuple(tokens[i : i + len(phrase)]) == phrase
            and not (phrase[-1] in _NUMBERS and _COUNTED.intersection(tokens[i + len(phrase) : i + len(phrase) + 1]))
            for i, token in enumerate(tokens)
            for phrase in _GROUP_PHRASES_BY_FIRST_WORD.get(token, ())
        ) or any(
            # "these law office jobs", "those legal support careers"
            token in _GROUP_POINTERS
            and any(_token_matches(noun, word) for word in tokens[i + 1 : i + 5] for noun in _GROUP_NOUNS)
            for i, token in enumerate(tokens)
        )
        if named_group and not roles:
            roles = list(self._role_ids)
        rest = " ".join(tok for tok, used in zip(tokens, consumed, strict=True) if not used)
        return RoleFinding(tuple(roles), rest, tuple(tokens), named_group, tuple(other_jobs))

    def _match_at(self, tokens: list[str], start: int, breaks: frozenset[int]) -> tuple[int, str] | None:
        # Longest first; among patterns of one length an exact match beats a forgiven typo, so the word
        # "secretary" is the role even though the false friend "secretly" is one typo away from it.
        forgiven: tuple[int, str] | None = None
        for pattern, role_id in self._by_initial.get(tokens[start][:1], ()):
            if forgiven is not None and len(pattern) < forgiven[0]:
                return forgiven
            end = start + len(pattern)
            if end > len(tokens) or any(k in breaks for k in range(start + 1, end)):
                continue
            span = tokens[start:end]
            if tuple(span) == pattern:
                return len(pattern), role_id
            in_phrase = len(pattern) > 1
            if forgiven is None and all(_token_matches(p, t, in_phrase) for p, t in zip(pattern, span, strict=True)):
                forgiven = (len(pattern), role_id)
        return forgiven
