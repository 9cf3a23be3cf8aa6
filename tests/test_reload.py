"""Knowledge reload without restart: a broken new version is rejected and the old one keeps answering.

Three levels, all real: ``reload_knowledge`` itself; SIGHUP delivered to this test's own event loop; and
``advisor reload`` signalling a separate running process, observed through its readiness endpoint.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from bots.launcher import install_reload_signal, reload_knowledge
from core.advisor import Advisor
from core.config import Settings
from core.kb_loader import load_knowledge_base
from core.kb_model import KnowledgeBase
from core.reply import Request
from core.sessions import MemorySessionStore
from tests.redis_server import free_port

REPO = Path(__file__).resolve().parent.parent
MARKER = "Reloaded answer marker: paralegals keep the case moving."
QUESTION = "what does a paralegal do?"


def edit_answer(knowledge: Path) -> None:
    """A valid change: the paralegal duties answer starts with MARKER."""
    path = knowledge / "entries" / "paralegal.yaml"
    data = yaml.safe_load(path.read_text())
    entry = next(e for e in data["entries"] if e["id"] == "paralegal_duties")
    entry["answer"] = f"{MARKER} {entry['answer']}"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=200))


def break_knowledge(knowledge: Path) -> str:
    """An invalid change (a source that does not exist); returns the original text to restore."""
    path = knowledge / "entries" / "paralegal.yaml"
    original = path.read_text()
    data = yaml.safe_load(original)
    data["entries"][0]["sources"] = ["no_such_source"]
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=200))
    return original


def settings_for(knowledge: Path) -> Settings:
    return replace(Settings(), knowledge_dir=knowledge)


async def answer_text(advisor: Advisor) -> str:
    return (await advisor.handle(Request("test", "w", "u", text=QUESTION))).plain_text()


async def test_broken_reload_keeps_old_answers_fixed_reload_serves_new(
    kb: KnowledgeBase, kb_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    advisor = Advisor(kb, MemorySessionStore())
    settings = settings_for(kb_copy)
    before = await answer_text(advisor)
    edit_answer(kb_copy)
    good = (kb_copy / "entries" / "paralegal.yaml").read_text()
    break_knowledge(kb_copy)

    assert reload_knowledge(advisor, settings) is False
    assert "no_such_source" in caplog.text and "paralegal.yaml:" in caplog.text  # the kb check report
    assert advisor.kb is kb
    assert await answer_text(advisor) == before

    (kb_copy / "entries" / "paralegal.yaml").write_text(good)
    assert reload_knowledge(advisor, settings) is True
    assert advisor.kb.fingerprint != kb.fingerprint
    assert MARKER in await answer_text(advisor)


async def test_sighup_in_a_running_loop(kb: KnowledgeBase, kb_copy: Path) -> None:
    advisor = Advisor(kb, MemorySessionStore())
    outcomes: list[bool] = []
    done = threading.Event()

    def on_done(ok: bool, entries: int | None) -> None:
        outcomes.append(ok)
        done.set()

    async def hangup_and_wait() -> None:
        done.clear()
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 30
        while not done.is_set():
            assert time.monotonic() < deadline, "SIGHUP was not handled"
            await asyncio.sleep(0.02)  # keep the loop free: it is what runs the signal handler

    loop = asyncio.get_running_loop()
    assert install_reload_signal(advisor, settings_for(kb_copy), on_done=on_done)
    try:
        edit_answer(kb_copy)
        good = (kb_copy / "entries" / "paralegal.yaml").read_text()
        break_knowledge(kb_copy)
        await hangup_and_wait()
        assert outcomes == [False] and advisor.kb is kb
        assert MARKER not in await answer_text(advisor)

        (kb_copy / "entries" / "paralegal.yaml").write_text(good)
        await hangup_and_wait()
        assert outcomes == [False, True]
        assert MARKER in await answer_text(advisor)
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


CHILD = textwrap.dedent("""
    import asyncio
    from bots.launcher import services
    from core.config import Settings

    async def main() -> None:
        async with services(Settings.from_env(load_env_file=False)):
            print("ready", flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())
""")


def readyz(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
        return json.loads(response.read())


def wait_for(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_advisor_reload_command_signals_the_running_process(kb: KnowledgeBase, kb_copy: Path, tmp_path: Path) -> None:
    port = free_port()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = {
        **os.environ,
        "KNOWLEDGE_DIR": str(kb_copy),
        "ADVISOR_DATA_DIR": str(tmp_path / "data"),
        "SESSION_STORE": "memory://",
        "HEALTH_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "TMPDIR": str(run_dir),  # isolates this test's process registry from any other advisor running here
    }

    def advisor_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bots.cli", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
        )

    nobody = advisor_cli("reload")
    assert nobody.returncode == 1 and "No running" in nobody.stderr

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: readyz(port)["ready"])
        assert readyz(port)["knowledge"]["fingerprint"] == kb.fingerprint  # type: ignore[index]

        edit_answer(kb_copy)
        good = (kb_copy / "entries" / "paralegal.yaml").read_text()
        break_knowledge(kb_copy)
        refused = advisor_cli("reload")
        assert refused.returncode == 1
        assert "no_such_source" in refused.stderr and "Reload refused" in refused.stderr

        # Even if the signal arrives anyway (someone sends SIGHUP by hand), the process keeps the old version.
        child.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        assert child.poll() is None
        assert readyz(port)["knowledge"]["fingerprint"] == kb.fingerprint  # type: ignore[index]

        (kb_copy / "entries" / "paralegal.yaml").write_text(good)
        accepted = advisor_cli("reload")
        assert accepted.returncode == 0, accepted.stderr
        assert str(child.pid) in accepted.stdout
        new_fingerprint = load_knowledge_base(kb_copy).fingerprint
        wait_for(lambda: readyz(port)["knowledge"]["fingerprint"] == new_fingerprint)  # type: ignore[index]
        assert child.poll() is None
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)
    if child.returncode not in (0, -signal.SIGTERM):
        pytest.fail(f"the advisor process failed:\n{child.stderr.read() if child.stderr else ''}")
