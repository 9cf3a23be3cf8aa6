"""`advisor kb check`: every problem reported as file:line: message, exit 1; the real KB is clean."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bots.cli import main
from core.kb_loader import KnowledgeBaseError, load_knowledge_base

ENTRY = """\
entries:
  - id: {id}
    roles: [{role}]
    topic: {topic}
    question: "A test question about the role?"
    phrasings: ["first phrasing", "second phrasing"]
    answer: "A test answer that is long enough to pass the length rule."
    sources: [{source}]
"""


def write(kb_dir: Path, name: str, text: str) -> Path:
    path = kb_dir / "entries" / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(kb_dir: Path) -> list[str]:
    with pytest.raises(KnowledgeBaseError) as caught:
        load_knowledge_base(kb_dir)
    return [str(p) for p in caught.value.problems]


def any_source(kb_dir: Path) -> str:
    text = (kb_dir / "sources.yaml").read_text()
    return re.search(r"- id: (\w+)", text).group(1)


def test_real_knowledge_base_is_clean(capsys):
    assert main(["kb", "check"]) == 0
    assert "OK" in capsys.readouterr().out


def test_unknown_topic_is_reported_with_file_and_line(kb_copy):
    write(kb_copy, "extra.yaml", ENTRY.format(id="x_one", role="paralegal", topic="salary", source=any_source(kb_copy)))
    found = problems_of(kb_copy)
    assert any(p.startswith("knowledge/entries/extra.yaml:4:") and "unknown value 'salary'" in p for p in found), found


def test_duplicate_entry_id_names_both_places(kb_copy):
    source = any_source(kb_copy)
    write(kb_copy, "a.yaml", ENTRY.format(id="dup_entry", role="paralegal", topic="pay", source=source))
    write(kb_copy, "b.yaml", ENTRY.format(id="dup_entry", role="paralegal", topic="duties", source=source))
    found = problems_of(kb_copy)
    assert any(
        p.startswith("knowledge/entries/b.yaml:2:") and "duplicate entry id 'dup_entry'" in p and "a.yaml:2" in p
        for p in found
    ), found


def test_unknown_source_and_missing_sources(kb_copy):
    write(kb_copy, "a.yaml", ENTRY.format(id="x_src", role="paralegal", topic="pay", source="no_such_source"))
    text = ENTRY.format(id="x_nosrc", role="paralegal", topic="pay", source="").replace("    sources: []\n", "")
    write(kb_copy, "b.yaml", text)
    found = problems_of(kb_copy)
    assert any(p.startswith("knowledge/entries/a.yaml:8:") and "unknown source 'no_such_source'" in p for p in found)
    assert any(p.startswith("knowledge/entries/b.yaml:2:") and "missing required field 'sources'" in p for p in found)


def test_quiz_choice_scoring_unknown_role(kb_copy):
    quiz = kb_copy / "quiz.yaml"
    text = quiz.read_text()
    first_scores = re.search(r"scores: *\{", text)
    assert first_scores, "quiz.yaml should use flow-style scores"
    broken = text[: first_scores.end()] + "court_reporter: 2, " + text[first_scores.end() :]
    quiz.write_text(broken)
    line = broken[: first_scores.end()].count("\n") + 1
    found = problems_of(kb_copy)
    assert any(p.startswith(f"knowledge/quiz.yaml:{line}:") and "unknown role 'court_reporter'" in p for p in found), (
        found
    )


def test_bad_yaml_syntax_gives_line(kb_copy):
    write(kb_copy, "broken.yaml", "entries:\n  - id: one\n    roles: [paralegal\n    topic: pay\n")
    found = problems_of(kb_copy)
    assert any(p.startswith("knowledge/entries/broken.yaml:") and "YAML syntax error" in p for p in found), found


def test_unknown_field_typo_is_reported(kb_copy):
    text = ENTRY.format(id="x_typo", role="paralegal", topic="pay", source=any_source(kb_copy))
    write(kb_copy, "typo.yaml", text.replace("    answer:", "    anwser:"))
    found = problems_of(kb_copy)
    assert any(p.startswith("knowledge/entries/typo.yaml:7:") and "unknown field 'anwser'" in p for p in found), found


def test_cli_exit_code_and_report(kb_copy, capsys):
    write(kb_copy, "broken.yaml", "entries: [\n")
    assert main(["kb", "check", str(kb_copy)]) == 1
    out = capsys.readouterr().out
    assert "knowledge/entries/broken.yaml:" in out and "problem" in out


def test_schema_is_json_schema(capsys):
    import json

    assert main(["kb", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "entries" in schema["properties"]
    assert "comparison" in json.dumps(schema)


def test_duties_questions_naming_on_the_duties_topic_is_reported(kb_copy):
    topics = kb_copy / "topics.yaml"
    text = topics.read_text()
    naming = "  - topic: duties\n    duties_questions_naming: [tax law]\n"
    topics.write_text(text.replace("  - topic: duties\n", naming))
    (problem,) = problems_of(kb_copy)
    assert "topics.yaml:" in problem and "belongs on the topic that takes such questions over" in problem


def test_a_credential_listed_for_two_roles_is_reported(kb_copy):
    roles = kb_copy / "roles.yaml"
    roles.write_text(roles.read_text().replace("credentials: [CP,", "credentials: [PLS, CP,", 1))
    found = problems_of(kb_copy)
    assert any("credential 'PLS' is used by roles 'legal_secretary' and 'paralegal'" in p for p in found), found
