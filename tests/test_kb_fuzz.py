"""Fuzzing the knowledge-base loader: mutated YAML gives a clear ``file:line: message`` report or a valid
knowledge base, never a traceback.

Staff edit these files by hand, so the loader sees every kind of mistake: broken indentation, a pasted tab, a
half-deleted line, a number where text belongs, a stray anchor, a file saved in the wrong encoding. The corpus
is a small knowledge base cut from the real one (the full one takes a third of a second to parse, which would
make a few hundred examples too slow for CI); the small files are copied verbatim so their real formatting is
what gets mutated.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bots.cli import main
from core.kb_loader import KBProblem, KnowledgeBaseError, load_knowledge_base
from core.kb_model import KnowledgeBase

from .conftest import KNOWLEDGE

FUZZ_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

VERBATIM = ["roles.yaml", "texts.yaml", "quiz.yaml", "topics.yaml", "entries/comparisons.yaml"]
INTENT_EXAMPLES = 12


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def build_small_kb(target: Path) -> list[str]:
    """A valid knowledge base with every kind of file, small enough to load in a few milliseconds."""
    (target / "entries").mkdir(parents=True)
    for name in VERBATIM:
        shutil.copyfile(KNOWLEDGE / name, target / name)
    kept = [e for name in ("paralegal.yaml", "general.yaml")
            for e in yaml.safe_load((KNOWLEDGE / "entries" / name).read_text(encoding="utf-8"))["entries"][:3]]
    (target / "entries" / "sample.yaml").write_text(_dump({"entries": kept}), encoding="utf-8")
    intents = yaml.safe_load((KNOWLEDGE / "intents.yaml").read_text(encoding="utf-8"))["intents"]
    trimmed = {key: value[:INTENT_EXAMPLES] for key, value in intents.items()}
    (target / "intents.yaml").write_text(_dump({"intents": trimmed}), encoding="utf-8")
    real = {target / name for name in VERBATIM} | {target / "entries" / "sample.yaml"}
    cited = {s for path in real for s in _cited_sources(yaml.safe_load(path.read_text(encoding="utf-8")))}
    sources = yaml.safe_load((KNOWLEDGE / "sources.yaml").read_text(encoding="utf-8"))["sources"]
    (target / "sources.yaml").write_text(_dump({"sources": [s for s in sources if s["id"] in cited]}), "utf-8")
    return sorted(str(p.relative_to(target)) for p in target.rglob("*.yaml"))


def _cited_sources(data: dict[str, Any]) -> set[str]:
    cited: set[str] = set()
    for entry in data.get("entries") or []:
        cited.update(entry.get("sources") or [])
    if "quiz" in data:
        cited.update(data["quiz"].get("sources") or [])
    if "texts" in data:
        cited.update(data["texts"].get("legal_help_sources") or [])
    return cited


class Corpus:
    def __init__(self, root: Path, files: list[str], originals: dict[str, bytes]) -> None:
        self.root = root
        self.files = files
        self.originals = originals

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example; the bytes would drown it
        return f"Corpus({self.root})"

    def __iter__(self) -> Iterator[Any]:
        return iter((self.root, self.files, self.originals))


@pytest.fixture(scope="module")
def small_kb(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("fuzz") / "knowledge"
    files = build_small_kb(root)
    return Corpus(root, files, {name: (root / name).read_bytes() for name in files})


def check_outcome(root: Path, files: list[str]) -> KnowledgeBase | None:
    """Load; anything other than a KnowledgeBase or a KnowledgeBaseError with a clear report fails the test."""
    try:
        kb = load_knowledge_base(root)
    except KnowledgeBaseError as exc:
        assert exc.problems, "an error must come with at least one problem"
        known = {f"knowledge/{name}" for name in files} | {str(root), "knowledge"}
        for problem in exc.problems:
            assert isinstance(problem, KBProblem)
            assert problem.file in known, problem
            assert problem.line >= 1, problem
            assert problem.message.strip() and "\n" not in problem.message and "Traceback" not in problem.message
        assert exc.report().endswith("found in the knowledge base.")
        return None
    assert isinstance(kb, KnowledgeBase)
    # A knowledge base that loads is internally consistent: every reference resolves.
    for entry in kb.entries:
        assert set(entry.roles) <= set(kb.role_ids())
        for source in entry.sources:
            assert kb.source(source).url.startswith(("http://", "https://"))
    return kb


# -- text-level mutations: what a slip of the keyboard does ------------------------------------------------------

SNIPPETS = [
    "- ", ": ", ":", "-", "  ", "\t", "&anchor ", "*anchor", "*nowhere", "<<: *anchor", "!!python/object:os.system",
    "!!binary", "!custom", "? [a, b]", "? {a: 1}", "{", "}", "[", "]", "'", '"', "|", ">-", "#", "%YAML 1.1",
    "---", "...", "~", "null", "yes", "0x1F", "1e400", ".nan", "2024-13-45", "id:", "roles:", "topic: pay",
    "\u200b", "\ufeff", "\u202e", "é", "😀", "\x00", "\x7f", "\r", "\x85", "\u2028",
]


@st.composite
def text_mutation(draw: st.DrawFn, original: str) -> str:
    lines = original.split("\n")
    kind = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "indent", "truncate", "splice", "replace"]))
    i = draw(st.integers(0, max(len(lines) - 1, 0)))
    if kind == "delete":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "swap":
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "insert":
        lines.insert(i, draw(st.lists(st.sampled_from(SNIPPETS), min_size=1, max_size=4).map("".join)))
    elif kind == "indent":
        shift = draw(st.integers(-4, 4))
        lines[i] = " " * shift + lines[i] if shift > 0 else lines[i][-shift:]
    elif kind == "truncate":
        return original[: draw(st.integers(0, len(original)))]
    elif kind == "splice":
        at = draw(st.integers(0, len(original)))
        junk = draw(st.one_of(st.sampled_from(SNIPPETS), st.text(max_size=8)))
        return original[:at] + junk + original[at:]
    else:
        at = draw(st.integers(0, max(len(original) - 1, 0)))
        return original[:at] + draw(st.sampled_from(SNIPPETS)) + original[at + 1 :]
    return "\n".join(lines)


@FUZZ_SETTINGS
@given(data=st.data())
def test_text_mutations_give_a_report_or_a_knowledge_base(
    small_kb: Corpus, data: st.DataObject
) -> None:
    root, files, originals = small_kb
    name = data.draw(st.sampled_from(files))
    mutated = data.draw(text_mutation(originals[name].decode("utf-8")))
    try:
        (root / name).write_text(mutated, encoding="utf-8", errors="surrogatepass")
        check_outcome(root, files)
    finally:
        (root / name).write_bytes(originals[name])


# -- structure-level mutations: the wrong kind of value in the right place -----------------------------------

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.just(""),
    st.just("x" * 5000),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.just({"id": "paralegal"}),
    st.just([[[[[]]]]]),
    st.dates(),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        data = data[step]
    return data


@FUZZ_SETTINGS
@given(data=st.data())
def test_structure_mutations_give_a_report_or_a_knowledge_base(
    small_kb: Corpus, data: st.DataObject
) -> None:
    root, files, originals = small_kb
    name = data.draw(st.sampled_from(files))
    tree = yaml.safe_load(originals[name].decode("utf-8"))
    path = data.draw(st.sampled_from(_paths(tree)[1:]))
    parent = _parent(tree, path)
    action = data.draw(st.sampled_from(["replace", "delete", "duplicate", "add_key", "rename_key"]))
    if action == "replace":
        parent[path[-1]] = data.draw(ODD_VALUES)
    elif action == "delete":
        del parent[path[-1]]
    elif action == "duplicate" and isinstance(parent, list):
        parent.insert(path[-1], parent[path[-1]])
    elif action == "add_key" and isinstance(parent, dict):
        parent[data.draw(st.one_of(st.text(max_size=10), st.integers(), st.booleans()))] = data.draw(ODD_VALUES)
    elif action == "rename_key" and isinstance(parent, dict):
        parent[path[-1] + "x" if isinstance(path[-1], str) else 0] = parent.pop(path[-1])
    try:
        (root / name).write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False), encoding="utf-8")
        check_outcome(root, files)
    finally:
        (root / name).write_bytes(originals[name])


# -- specific hostile files -----------------------------------------------------------------------------------

HOSTILE = {
    "recursive_alias": "entries: &loop\n  - *loop\n",
    "self_referencing_mapping": "texts: &t\n  greeting: *t\n",
    "alias_bomb": "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(7)),
    "python_tag": "roles: !!python/object/apply:os.system ['true']\n",
    "deep_nesting": "entries: " + "[" * 5000 + "]" * 5000 + "\n",
    "top_level_list": "- roles\n- entries\n",
    "top_level_scalar": "just some text\n",
    "only_comment": "# nothing here\n",
    "multi_document": "roles: []\n---\nsources: []\n",
    "non_string_keys": "1: one\ntrue: yes\n~: null\n",
    "complex_key": "? [a, b]\n: c\n",
    "bom": "\ufeffroles: []\n",
    "nul_byte": "roles:\x00 []\n",
    "control_character": "roles: []\nsources:\n  - id: x\x1f\n",
    "huge_int": "entries:\n  - id: x\n    roles: [paralegal]\n    topic: pay\n    question: " + "9" * 5000 + "\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_gives_a_report(small_kb: Corpus, name: str) -> None:
    root, files, _ = small_kb
    extra = root / "entries" / "hostile.yaml"
    extra.write_text(HOSTILE[name], encoding="utf-8")
    try:
        check_outcome(root, [*files, "entries/hostile.yaml"])
    finally:
        extra.unlink()


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00r\x00o", b"roles: [\xc3\x28]\n", b"", b"\n\n\n", b"x" * 2_000_001])
def test_bytes_that_are_not_yaml_give_a_report(
    small_kb: Corpus, raw: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    root, files, _ = small_kb
    extra = root / "entries" / "bad.yaml"
    extra.write_bytes(raw)
    try:
        assert check_outcome(root, [*files, "entries/bad.yaml"]) is None
        # The command staff actually run says the same, with exit code 1 and no traceback.
        assert main(["kb", "check", str(root)]) == 1
        out = capsys.readouterr().out
        assert "knowledge/entries/bad.yaml:" in out and "Traceback" not in out
    finally:
        extra.unlink()


def test_control_character_is_reported_on_its_line_in_one_line(small_kb: Corpus) -> None:
    root, _files, _ = small_kb
    extra = root / "entries" / "pasted.yaml"
    extra.write_text("entries:\n  - id: x\n    question: what\x1f\n", encoding="utf-8")
    try:
        with pytest.raises(KnowledgeBaseError) as caught:
            load_knowledge_base(root)
    finally:
        extra.unlink()
    (problem,) = [p for p in caught.value.problems if p.file.endswith("pasted.yaml")]
    assert problem.line == 3 and "U+001F" in problem.message and "\n" not in problem.message


def test_the_small_corpus_itself_is_valid(small_kb: Corpus) -> None:
    root, files, _ = small_kb
    kb = check_outcome(root, files)
    assert kb is not None and len(kb.entries) >= 6 and len(files) >= 7
