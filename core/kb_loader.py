"""Load and validate a knowledge-base directory, reporting every problem as ``file:line: message``.

The same report serves ``advisor kb check`` and start-up: a broken knowledge base is never half-loaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .kb_model import KnowledgeBase, KnowledgeFile, Role

MAX_FILE_BYTES = 2_000_000
SINGLETON_SECTIONS = ("quiz", "texts", "intents")
LIST_SECTIONS = ("roles", "sources", "entries", "topics")


@dataclass(frozen=True, order=True)
class KBProblem:
    file: str
    line: int
    message: str

    def __post_init__(self) -> None:
        # One problem per line: a key or alias containing a newline or control character is shown escaped.
        if not self.message.isprintable():
            printable = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in self.message)
            object.__setattr__(self, "message", printable)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class KnowledgeBaseError(Exception):
    """Raised when a knowledge base does not validate; ``problems`` holds the full report."""

    def __init__(self, problems: Iterable[KBProblem]) -> None:
        self.problems = sorted(problems)
        super().__init__(self.report())

    def report(self) -> str:
        count = len(self.problems)
        lines = [str(p) for p in self.problems]
        lines.append(f"{count} problem{'s' if count != 1 else ''} found in the knowledge base.")
        return "\n".join(lines)


Path_ = tuple[str | int, ...]


@dataclass
class _ParsedFile:
    name: str
    data: dict[str, Any]
    lines: dict[Path_, int]

    def line_of(self, path: Path_) -> int:
        """The line of the deepest YAML node on ``path`` that exists (pydantic locations may go deeper)."""
        for cut in range(len(path), -1, -1):
            found = self.lines.get(tuple(path[:cut]))
            if found is not None:
                return found
        return 1


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int) -> None:
        self.key = key
        self.line = line


class _NotScalar(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _Alias(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _BadScalar(Exception):
    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason


class _LineTrackingBuilder:
    """Turns a composed YAML node tree into plain data while recording the line of every value.

    Aliases (``*name``) are refused: the composer hands back the anchored node itself, so a self-referencing
    alias would recurse forever and a few nested ones expand exponentially ("billion laughs"). Nothing in a
    knowledge base needs them.
    """

    def __init__(self) -> None:
        self.lines: dict[Path_, int] = {}
        self._constructor = yaml.SafeLoader("")
        self._seen: set[int] = set()

    def build(self, node: yaml.Node, path: Path_ = (), line: int | None = None) -> Any:
        if id(node) in self._seen:
            raise _Alias(line or node.start_mark.line + 1)
        self._seen.add(id(node))
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._scalar(key_node)
                if key in result:
                    raise _DuplicateKey(str(key), key_node.start_mark.line + 1)
                result[key] = self.build(value_node, (*path, key), key_node.start_mark.line + 1)
                if isinstance(value_node, yaml.ScalarNode):
                    # A scalar's problem is best shown on its key's line (block scalars start one line late).
                    self.lines[(*path, key)] = key_node.start_mark.line + 1
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), node.start_mark.line + 1) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise _NotScalar(node.start_mark.line + 1)
        try:
            return self._constructor.construct_object(node, deep=True)
        except (ValueError, OverflowError) as exc:
            # e.g. a 5,000-digit number: Python refuses to convert it, PyYAML lets the ValueError through.
            raise _BadScalar(node.start_mark.line + 1, "too long to read as a number") from exc


def _one_line(message: object) -> str:
    """Reports are one problem per line (``file:line: message``), so multi-line library messages are flattened."""
    return " ".join(str(message).split())


def _parse_file(path: Path, display: str, problems: list[KBProblem]) -> _ParsedFile | None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(KBProblem(display, 1, f"cannot read file: {exc.strerror or exc}"))
        return None
    if len(raw) > MAX_FILE_BYTES:
        problems.append(KBProblem(display, 1, f"file is too large ({len(raw)} bytes, limit {MAX_FILE_BYTES})"))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(KBProblem(display, 1, f"file is not UTF-8 text (byte {exc.start})"))
        return None
    builder = _LineTrackingBuilder()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            problems.append(KBProblem(display, 1, "file is empty"))
            return None
        data = builder.build(node)
    except _DuplicateKey as exc:
        problems.append(KBProblem(display, exc.line, f"duplicate key '{exc.key}'"))
        return None
    except _NotScalar as exc:
        problems.append(KBProblem(display, exc.line, "a mapping key must be plain text"))
        return None
    except _BadScalar as exc:
        problems.append(KBProblem(display, exc.line, f"value is {exc.reason}; put it in quotes if it is text"))
        return None
    except _Alias as exc:
        problems.append(KBProblem(display, exc.line, "YAML aliases (*name) are not supported; write the value out"))
        return None
    except RecursionError:
        problems.append(KBProblem(display, 1, "YAML nesting is too deep (thousands of [ or { inside each other)"))
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problems.append(KBProblem(display, line, f"YAML syntax error: {_one_line(exc.problem or exc)}"))
        return None
    except yaml.reader.ReaderError as exc:
        # Not a MarkedYAMLError: it knows the character offset rather than the line, and prints on two lines.
        line = text.count("\n", 0, exc.position) + 1
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        problems.append(
            KBProblem(
                display,
                line,
                f"character {char} is not allowed in YAML (an invisible control character, often pasted in); delete it",
            )
        )
        return None
    except yaml.YAMLError as exc:
        problems.append(KBProblem(display, 1, f"YAML error: {_one_line(exc)}"))
        return None
    if not isinstance(data, dict):
        problems.append(
            KBProblem(display, 1, f"top level must be a mapping with keys such as {', '.join(LIST_SECTIONS)}")
        )
        return None
    return _ParsedFile(display, data, builder.lines)


def _describe(error: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown field '{error['loc'][-1]}'"
    if kind == "enum":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{loc}: unknown value {error['input']!r}; expected one of {expected}"
    if kind == "missing":
        return f"missing required field '{error['loc'][-1]}'"
    return f"{loc}: {error['msg']}"


def _validate_file(parsed: _ParsedFile, problems: list[KBProblem]) -> KnowledgeFile | None:
    try:
        return KnowledgeFile.model_validate(parsed.data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            problems.append(KBProblem(parsed.name, parsed.line_of(loc), _describe(error)))
        return None


def _display_name(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def knowledge_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())


def load_knowledge_base(directory: str | Path) -> KnowledgeBase:
    """Load every YAML file under ``directory``; raise ``KnowledgeBaseError`` with the full report if any is wrong."""
    root = Path(directory)
    problems: list[KBProblem] = []
    if not root.is_dir():
        raise KnowledgeBaseError([KBProblem(str(root), 1, "knowledge-base directory not found")])
    files = knowledge_files(root)
    if not files:
        raise KnowledgeBaseError([KBProblem(str(root), 1, "no .yaml files in the knowledge-base directory")])

    digest = hashlib.sha256()
    parsed_files: list[tuple[_ParsedFile, KnowledgeFile]] = []
    for path in files:
        display = _display_name(path, root)
        digest.update(display.encode())
        digest.update(path.read_bytes() if path.stat().st_size <= MAX_FILE_BYTES else b"")
        parsed = _parse_file(path, display, problems)
        if parsed is None:
            continue
        validated = _validate_file(parsed, problems)
        if validated is not None:
            parsed_files.append((parsed, validated))

    merged: dict[str, Any] = {name: [] for name in LIST_SECTIONS}
    origin: dict[tuple[str, int], tuple[_ParsedFile, Path_]] = {}
    singleton_at: dict[str, tuple[_ParsedFile, Any]] = {}
    for parsed, kfile in parsed_files:
        for section in LIST_SECTIONS:
            items = getattr(kfile, section)
            for index, item in enumerate(items or []):
                origin[(section, len(merged[section]))] = (parsed, (section, index))
                merged[section].append(item)
        for section in SINGLETON_SECTIONS:
            value = getattr(kfile, section)
            if value is None:
                continue
            if section in singleton_at:
                first = singleton_at[section][0].name
                problems.append(
                    KBProblem(parsed.name, parsed.line_of((section,)), f"'{section}' is already defined in {first}")
                )
                continue
            singleton_at[section] = (parsed, value)

    def where(section: str, index: int, *rest: str | int) -> tuple[str, int]:
        parsed, path = origin[(section, index)]
        return parsed.name, parsed.line_of((*path, *rest))

    for section in SINGLETON_SECTIONS:
        if section not in singleton_at and parsed_files:
            problems.append(KBProblem(str(root), 1, f"no file defines '{section}'"))

    problems.extend(_cross_checks(merged, singleton_at, where))
    if problems:
        raise KnowledgeBaseError(problems)

    return KnowledgeBase(
        roles=merged["roles"],
        sources=merged["sources"],
        entries=merged["entries"],
        topics=merged["topics"],
        quiz=singleton_at["quiz"][1],
        texts=singleton_at["texts"][1],
        intents=singleton_at["intents"][1],
        fingerprint=digest.hexdigest()[:16],
    )


def _cross_checks(merged: dict[str, Any], singletons: dict[str, tuple[_ParsedFile, Any]], where) -> list[KBProblem]:
    """Rules that span files: unique ids, references to roles and sources that exist."""
    problems: list[KBProblem] = []

    def problem(location: tuple[str, int], message: str) -> None:
        problems.append(KBProblem(location[0], location[1], message))

    def unique(section: str, label: str) -> set[str]:
        seen: dict[str, tuple[str, int]] = {}
        for index, item in enumerate(merged[section]):
            if item.id in seen:
                first = seen[item.id]
                problem(where(section, index, "id"), f"duplicate {label} '{item.id}' (first at {first[0]}:{first[1]})")
            else:
                seen[item.id] = where(section, index, "id")
        return set(seen)

    def cited_sources(parsed: _ParsedFile, path: Path_, cited: list[str], who: str) -> None:
        for index, source in enumerate(cited):
            if source not in source_ids:
                problem(
                    (parsed.name, parsed.line_of((*path, index))),
                    f"{who} cites unknown source '{source}' (add it to sources.yaml)",
                )

    role_ids = unique("roles", "role id")
    source_ids = unique("sources", "source id")
    unique("entries", "entry id")

    if not role_ids:
        problems.append(KBProblem("knowledge", 1, "no roles defined"))

    def one_role_each(field: str, what: str, names_of: Callable[[Role], list[str]], key: Callable[[str], str]) -> None:
        """A name (alias, abbreviation, credential) may stand for one role only."""
        owner_of: dict[str, str] = {}
        for index, role in enumerate(merged["roles"]):
            for name in names_of(role):
                owner = owner_of.setdefault(key(name), role.id)
                if owner != role.id:
                    problem(where("roles", index, field), f"{what} '{name}' is used by roles '{owner}' and '{role.id}'")

    one_role_each("aliases", "alias", lambda r: [r.name, r.plural, *r.aliases], lambda a: " ".join(a.lower().split()))
    one_role_each("abbreviations", "abbreviation", lambda r: list(r.abbreviations), str)
    one_role_each("credentials", "credential", lambda r: list(r.credentials), str)

    seen_cells: dict[tuple[frozenset[str], str, str], str] = {}
    for index, entry in enumerate(merged["entries"]):
        for role_index, role in enumerate(entry.roles):
            if role not in role_ids:
                problem(where("entries", index, "roles", role_index), f"entry '{entry.id}' names unknown role '{role}'")
        if len(set(entry.roles)) != len(entry.roles):
            problem(where("entries", index, "roles"), f"entry '{entry.id}' lists a role twice")
        for source_index, source in enumerate(entry.sources):
            if source not in source_ids:
                problem(
                    where("entries", index, "sources", source_index),
                    f"entry '{entry.id}' cites unknown source '{source}' (add it to sources.yaml)",
                )
        question_key = (frozenset(entry.roles), entry.topic.value, " ".join(entry.question.lower().split()))
        if question_key in seen_cells:
            problem(
                where("entries", index, "question"),
                f"duplicate entry: '{entry.id}' repeats '{seen_cells[question_key]}'",
            )
        else:
            seen_cells[question_key] = entry.id

    for index, topic in enumerate(merged["topics"]):
        if topic.duties_questions_naming and topic.topic.value == "duties":
            problem(
                where("topics", index, "duties_questions_naming"),
                "duties_questions_naming belongs on the topic that takes such questions over, not on duties",
            )

    if "quiz" in singletons:
        parsed, quiz = singletons["quiz"]
        question_ids: set[str] = set()
        for q_index, question in enumerate(quiz.questions):
            if question.id in question_ids:
                problems.append(
                    KBProblem(
                        parsed.name,
                        parsed.line_of(("quiz", "questions", q_index, "id")),
                        f"duplicate quiz question id '{question.id}'",
                    )
                )
            question_ids.add(question.id)
            choice_ids: set[str] = set()
            for c_index, choice in enumerate(question.choices):
                base = ("quiz", "questions", q_index, "choices", c_index)
                if choice.id in choice_ids:
                    problems.append(
                        KBProblem(
                            parsed.name,
                            parsed.line_of((*base, "id")),
                            f"duplicate choice id '{choice.id}' in question '{question.id}'",
                        )
                    )
                choice_ids.add(choice.id)
                for role in choice.scores:
                    if role not in role_ids:
                        problems.append(
                            KBProblem(
                                parsed.name,
                                parsed.line_of((*base, "scores", role)),
                                f"quiz choice '{question.id}/{choice.id}' scores unknown role '{role}'",
                            )
                        )
        cited_sources(parsed, ("quiz", "sources"), quiz.sources, "the quiz")
        for role in role_ids:
            if not any(choice.scores.get(role, 0) > 0 for q in quiz.questions for choice in q.choices):
                problems.append(
                    KBProblem(
                        parsed.name,
                        parsed.line_of(("quiz",)),
                        f"no quiz choice scores role '{role}', so it could never be recommended",
                    )
                )

    if "texts" in singletons:
        parsed, texts = singletons["texts"]
        cited_sources(parsed, ("texts", "legal_help_sources"), texts.legal_help_sources, "legal_help_sources")

    return problems
