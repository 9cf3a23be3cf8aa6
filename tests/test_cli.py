"""The `advisor` command as a user runs it: ask, ask --json, batch mode from stdin, chat."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ADVISOR = [sys.executable, "-m", "bots.cli"]
KEYS = {"kind", "roles", "topic", "entry", "confidence", "text", "suggestions"}


def run(args, stdin=None, tmp_path=None, timeout=60):
    env = {**os.environ, "ADVISOR_DATA_DIR": str(tmp_path or REPO / "var"), "LOG_LEVEL": "WARNING"}
    return subprocess.run([*ADVISOR, *args], input=stdin, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env=env)


def test_ask_json_has_exactly_the_documented_keys(tmp_path):
    out = run(["ask", "--json", "how much do paralegals make"], tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == KEYS
    assert data["kind"] == "answer" and data["roles"] == ["paralegal"] and data["topic"] == "pay"
    assert 0 <= data["confidence"] <= 1 and data["entry"] and "Sources" in data["text"]


def test_batch_mode_keeps_order_and_handles_1000_lines(tmp_path):
    questions = ["what does a paralegal do", "should i sue my landlord", "whats the weather", ""] * 250
    out = run(["ask", "--json", "-"], stdin="\n".join(questions) + "\n", tmp_path=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 1000
    assert [r["kind"] for r in rows[:4]] == ["answer", "legal_advice", "out_of_scope", "help"]
    assert all(set(r) == KEYS for r in rows)


def test_chat_session_with_quiz_by_number(tmp_path):
    script = "what do legal secretaries do\nquiz\n1\n1\nquit\n"
    out = run(["chat"], stdin=script, tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Question 1 of" in out.stdout and "Question 3 of" in out.stdout
    assert "[1]" in out.stdout and "Bye" in out.stdout


def test_run_without_tokens_falls_back_to_chat(tmp_path):
    env_clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))}
    env_clean.update(ADVISOR_DATA_DIR=str(tmp_path), LOG_LEVEL="WARNING")
    out = subprocess.run(
        [*ADVISOR, "run"], input="help\nquit\n", capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env_clean
    )
    assert out.returncode == 0, out.stderr
    assert "No Slack or Discord tokens" in out.stdout and "quiz" in out.stdout.lower()


def test_broken_knowledge_base_fails_with_report_not_traceback(tmp_path):
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "bad.yaml").write_text("roles: [\n")
    env = {**os.environ, "KNOWLEDGE_DIR": str(kb), "ADVISOR_DATA_DIR": str(tmp_path)}
    out = subprocess.run([*ADVISOR, "ask", "hello"], capture_output=True, text=True, timeout=60, cwd=REPO, env=env)
    assert out.returncode == 2
    assert "bad.yaml:" in out.stderr and "Traceback" not in out.stderr
