"""SLACK_ANSWER_WORKERS: answers worked out in real worker processes (``python -m bots.slack.worker``), sent
through the real app over loopback HTTP, delivered to the loopback fake Slack by the workers themselves."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import urllib.parse
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from benchmarks.common import child_pids
from bots.slack.app import BUSY_TEXT
from bots.slack.runner import EVENTS_PATH, WORKERS_CHECK, SlackConfigError, start_slack
from bots.slack.worker import API_URL_VARIABLE
from bots.slack.workers import WORKERS_VARIABLE, AnswerWorkers, WorkerStartError, workers_from_environment
from core.advisor import Advisor
from core.config import Settings
from core.reply import Reply, Request
from tests.slack_fakes import FORM, FakeSlack, SlackHarness, app_settings, form_body, serve_app, sign, slash_command

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def worker_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return app_settings(session_store="memory://", data_dir=tmp_path / "data", **overrides)


@contextlib.asynccontextmanager
async def started(workers: AnswerWorkers) -> AsyncIterator[AnswerWorkers]:
    await workers.start()
    try:
        yield workers
    finally:
        await workers.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too; it only waits for its parent to reap it.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    return True


async def ask(harness: SlackHarness, text: str, user: str) -> list[dict[str, Any]]:
    reply, url = await harness.command("/career", text, user=user)
    assert reply.status == 200 and reply.text == ""
    return await harness.answers(url)


async def test_answers_from_worker_processes_match_in_process_answers(
    advisor: Advisor, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    observed: list[tuple[Request, Reply]] = []
    workers = AnswerWorkers(
        2,
        worker_settings(tmp_path),
        max_backlog=64,
        observer=lambda request, reply, _seconds: observed.append((request, reply)),
        environment={API_URL_VARIABLE: fake_slack.base_url},
    )
    questions = ["what does a paralegal do?", "how much do legal secretaries make", "can you help with my eviction"]
    async with started(workers):
        assert len(set(workers.pids)) == 2 and os.getpid() not in workers.pids
        async with serve_app(advisor, fake_slack, answers=workers) as harness:
            from_workers = [await ask(harness, q, f"U{n}") for n, q in enumerate(questions)]
        pids = workers.pids
    async with serve_app(advisor, fake_slack) as harness:
        in_process = [await ask(harness, q, f"U{n}") for n, q in enumerate(questions)]
    assert [[m["blocks"] for m in answer] for answer in from_workers] == [
        [m["blocks"] for m in answer] for answer in in_process
    ]
    assert [reply.kind.value for _, reply in observed] == ["answer", "answer", "legal_advice"]
    assert all(request.platform == "slack" for request, _ in observed)
    # Closing the pool ends the processes: nothing is left running after the adapter stops.
    assert not any(alive(pid) for pid in pids)


async def test_a_users_quiz_stays_with_one_worker(advisor: Advisor, fake_slack: FakeSlack, tmp_path: Path) -> None:
    # With the memory store each worker has its own sessions: the quiz only works if every step of one user
    # reaches the same worker. Three workers and several users make a wrong choice of worker show.
    workers = AnswerWorkers(
        3, worker_settings(tmp_path), max_backlog=64, environment={API_URL_VARIABLE: fake_slack.base_url}
    )
    async with started(workers), serve_app(advisor, fake_slack, answers=workers) as harness:
        for user in ("UA", "UB", "UC", "UD"):
            reply, url = await harness.command("/career-quiz", "", user=user)
            assert reply.status == 200
            first = await harness.answers(url)
            assert "Question 1 of" in str(first[0]["blocks"])
            value = next(
                element["value"]
                for block in first[0]["blocks"]
                if block["type"] == "actions"
                for element in block["elements"]
                if element["action_id"] == "choice-0"
            )
            _, click_url = await harness.click(value, user=user)
            second = await harness.answers(click_url)
            assert "Question 2 of" in str(second[-1]["blocks"]), f"{user} lost their quiz"


async def test_a_worker_that_dies_is_started_again_and_nothing_acknowledged_is_lost(
    advisor: Advisor, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    workers = AnswerWorkers(
        1, worker_settings(tmp_path), max_backlog=None, environment={API_URL_VARIABLE: fake_slack.base_url}
    )
    async with started(workers), serve_app(advisor, fake_slack, answers=workers) as harness:
        (victim,) = workers.pids
        urls = []
        for n in range(20):
            reply, url = await harness.command("/career", "what is a legal assistant", user=f"U{n}")
            assert reply.status == 200
            urls.append(url)
        os.kill(victim, signal.SIGKILL)  # mid-work: some of the 20 answers are still in its hands
        await harness.settle(60.0)
        assert workers.restarts == 1 and workers.pids and workers.pids != [victim]
        assert workers.all_running()
        paths = {c.path for c in fake_slack.calls("response_url")}
        assert all(urllib.parse.urlparse(url).path in paths for url in urls), "an acknowledged command went unanswered"
        # And the new worker answers new commands.
        assert "legal secretary" in str(await ask(harness, "what does a legal secretary do", "U99")).lower()
    assert workers.resent > 0 and workers.lost == 0


async def test_the_backlog_limit_counts_jobs_in_the_workers(
    advisor: Advisor, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    workers = AnswerWorkers(
        1, worker_settings(tmp_path), max_backlog=2, environment={API_URL_VARIABLE: fake_slack.base_url}
    )
    async with started(workers):
        (pid,) = workers.pids
        os.kill(pid, signal.SIGSTOP)  # a worker that takes its time: jobs pile up
        try:
            async with serve_app(advisor, fake_slack, answers=workers) as harness:
                replies = [(await harness.command("/career", "paralegal pay", user=f"U{n}"))[0] for n in range(4)]
                assert [r.text for r in replies] == ["", "", BUSY_TEXT, BUSY_TEXT]
                assert workers.pending == 2 and workers.declined == 2
                os.kill(pid, signal.SIGCONT)
                await harness.settle(30.0)
        finally:
            os.kill(pid, signal.SIGCONT)
    assert len(fake_slack.calls("response_url")) == 2


async def test_a_worker_that_cannot_load_the_knowledge_base_stops_start_up_with_its_reason(
    tmp_path: Path, kb_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (kb_copy / "roles.yaml").write_text("roles: [unclosed\n")
    workers = AnswerWorkers(1, worker_settings(tmp_path, knowledge_dir=kb_copy), max_backlog=8)
    with pytest.raises(WorkerStartError, match="did not start"):
        await workers.start()
    assert workers.pids == []


def test_the_worker_count_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WORKERS_VARIABLE, raising=False)
    assert workers_from_environment() == 0
    monkeypatch.setenv(WORKERS_VARIABLE, " 2 ")
    assert workers_from_environment() == 2
    for wrong in ("two", "-1"):
        monkeypatch.setenv(WORKERS_VARIABLE, wrong)
        with pytest.raises(WorkerStartError, match=WORKERS_VARIABLE):
            workers_from_environment()


async def test_start_slack_with_answer_workers_serves_and_stops_them(
    advisor: Advisor, fake_slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WORKERS_VARIABLE, "1")
    with socket_port() as port:
        settings = worker_settings(tmp_path, slack_port=port)
    client = AsyncWebClient(token=settings.slack_bot_token, base_url=fake_slack.base_url)
    checks: dict[str, Any] = {}
    task = asyncio.create_task(start_slack(advisor, settings, client=client, host="127.0.0.1", readiness_checks=checks))
    url = f"http://127.0.0.1:{port}{EVENTS_PATH}"
    try:
        async with aiohttp.ClientSession() as session:
            body = form_body(
                slash_command("/career", "is a paralegal the same as a legal assistant", fake_slack.response_url())
            )
            for _ in range(1500):  # the worker loads the model first: up to 30 s
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with session.post(url, data=body.encode(), headers={"Content-Type": FORM, **sign(body)}) as r:
                        assert r.status == 200
                    break
                assert not task.done(), task
                await asyncio.sleep(0.02)
            answer = (await fake_slack.wait_for("response_url", timeout=30))[0].body
            assert "legal assistant" in str(answer["blocks"]).lower()
        worker_pids = [pid for pid in child_pids(os.getpid()) if b"bots.slack.worker" in _command_line(pid)]
        assert worker_pids
        assert checks[WORKERS_CHECK]() is True  # /readyz: the workers are running
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
    assert not any(alive(pid) for pid in worker_pids)
    assert WORKERS_CHECK not in checks


async def test_a_wrong_worker_count_is_a_configuration_error(
    advisor: Advisor, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WORKERS_VARIABLE, "lots")
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.base_url)
    with pytest.raises(SlackConfigError, match=WORKERS_VARIABLE):
        await asyncio.wait_for(start_slack(advisor, app_settings(), client=client, host="127.0.0.1", port=0), 10)


@contextlib.contextmanager
def socket_port() -> Iterator[int]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    yield port


def test_the_slack_process_loads_no_embedding_model_when_workers_match(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bots.launcher import matches_here
    from core.runtime import build_advisor

    monkeypatch.setenv(WORKERS_VARIABLE, "1")
    assert matches_here(["slack"]) is False
    # Discord in the same process matches its own questions; a wrong count is reported by start_slack.
    assert matches_here(["slack", "discord"]) is True
    monkeypatch.setenv(WORKERS_VARIABLE, "0")
    assert matches_here(["slack"]) is True
    monkeypatch.setenv(WORKERS_VARIABLE, "many")
    assert matches_here(["slack"]) is True

    advisor = build_advisor(worker_settings(tmp_path), semantic=False)
    assert advisor.knowledge.matcher.semantic is None
    advisor.reload(advisor.kb)  # a reload keeps it that way
    assert advisor.knowledge.matcher.semantic is None


async def test_a_reload_signal_reaches_the_workers(
    advisor: Advisor, fake_slack: FakeSlack, tmp_path: Path, kb_copy: Path
) -> None:
    from bots.launcher import also_on_reload, install_reload_signal

    settings = worker_settings(tmp_path, knowledge_dir=kb_copy)
    workers = AnswerWorkers(2, settings, max_backlog=64, environment={API_URL_VARIABLE: fake_slack.base_url})
    # One user per worker (the pool picks crc32(team:user) mod 2).
    team = slash_command("/career", "", "")["team_id"]
    users = {zlib.crc32(f"{team}:U{n}".encode()) % 2: f"U{n}" for n in range(20)}
    assert len(users) == 2
    loop = asyncio.get_running_loop()
    async with started(workers), serve_app(advisor, fake_slack, answers=workers) as harness:
        for user in users.values():  # empty /career: the help text, from the worker's knowledge base
            answer = str(await ask(harness, "", user))
            assert "what I can do" in answer and "Reloaded" not in answer
        texts = kb_copy / "texts.yaml"
        texts.write_text(texts.read_text().replace("Here's what I can do", "Reloaded: here is what I can do"))
        # As `advisor run` does: SIGHUP reloads this process and is passed on to the workers.
        assert install_reload_signal(advisor, settings)
        stop = also_on_reload(lambda: workers.send_signal(signal.SIGHUP))
        try:
            os.kill(os.getpid(), signal.SIGHUP)
            for _ in range(200):
                answers = [str(await ask(harness, "", user)) for user in users.values()]
                if all("Reloaded" in answer for answer in answers):
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the workers still serve the old knowledge base")
        finally:
            stop()
            loop.remove_signal_handler(signal.SIGHUP)


def _command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
