"""The misses log: unanswered questions are recorded (legal-advice requests never are) and reported by frequency."""

from __future__ import annotations

import os
import subprocess
import sys

from core.advisor import Advisor
from core.misses import MissLog
from core.reply import Request
from core.sessions import MemorySessionStore
from tests.conftest import REPO


async def test_misses_are_logged_and_reported(kb, tmp_path):
    log = MissLog(tmp_path / "misses.sqlite3")
    advisor = Advisor(kb, MemorySessionStore(), misses=log)
    for user in ("U1", "U2"):
        await advisor.handle(Request("slack", "T1", user, text="what's the best pizza topping"))
    await advisor.handle(Request("slack", "T1", "U1", text="how tall is mount everest"))
    await advisor.handle(Request("slack", "T1", "U3", text="my landlord is evicting me, what do i do"))
    await advisor.handle(Request("slack", "T1", "U3", text="how much do paralegals make"))
    rows = log.report()
    assert [(r.question, r.count) for r in rows][:2] == [("what's the best pizza topping", 2),
                                                          ("how tall is mount everest", 1)]
    assert not any("landlord" in r.question for r in rows)
    assert log.user_rows("slack", "U3") == 0
    log.close()


def test_misses_expire_after_retention(tmp_path):
    clock = [1000.0]
    log = MissLog(tmp_path / "m.sqlite3", retention_seconds=60, clock=lambda: clock[0])
    log.record("discord", "42", "what is a llama", 0.1, None)
    clock[0] += 61
    assert log.report() == [] and log.user_rows("discord", "42") == 0
    log.close()


def test_cli_misses_report(tmp_path):
    log = MissLog(tmp_path / "misses.sqlite3")
    for _ in range(3):
        log.record("slack", "U1", "can you order me a pizza", 0.05, None)
    log.close()
    env = {**os.environ, "ADVISOR_DATA_DIR": str(tmp_path), "LOG_LEVEL": "WARNING"}
    out = subprocess.run([sys.executable, "-m", "bots.cli", "kb", "misses"], capture_output=True, text=True,
                         timeout=60, cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr
    assert "3  can you order me a pizza" in out.stdout
