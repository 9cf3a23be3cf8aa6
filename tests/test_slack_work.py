"""When the answer work runs, over real signed HTTP requests to our bolt app on loopback: only after the ack's bytes
are written, a few at a time, and not at all (a polite "busy" instead) once too much acknowledged work is waiting.
No timings are asserted: the ordering is observed directly, on the client's socket, from inside the work."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack.app import BUSY_TEXT, DEFAULT_MAX_BACKLOG, BackgroundWork, answer_after_response, build_slack_app
from bots.slack.runner import EVENTS_PATH, SlackConfigError, http_server, max_backlog_from_environment
from core.advisor import Advisor
from core.sessions import MemorySessionStore, Session, SessionKey
from tests.slack_fakes import (
    BOT_TOKEN,
    FORM,
    FakeSlack,
    app_mention,
    app_settings,
    form_body,
    serve_app,
    sign,
    slash_command,
)

pytestmark = pytest.mark.timeout(30)

PEEK_TIMEOUT = 5.0
"""Only breaks a deadlock: while the work peeks, the event loop cannot write anything more."""


class ProbingStore(MemorySessionStore):
    """Runs ``probe`` at the start of every session read, i.e. when the answer work reaches the Advisor."""

    def __init__(self, probe: Callable[[], object]) -> None:
        super().__init__()
        self.probe = probe
        self.seen: list[object] = []

    async def load(self, key: SessionKey) -> Session:
        self.seen.append(self.probe())
        return await super().load(key)


class GatedStore(MemorySessionStore):
    """Session reads wait until the test opens the gate, so acknowledged work piles up on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.waiting = 0

    async def load(self, key: SessionKey) -> Session:
        self.waiting += 1
        await self.gate.wait()
        return await super().load(key)


@pytest.fixture
def fake_slack() -> FakeSlack:
    with FakeSlack() as fake:
        yield fake  # type: ignore[misc]




def raw_request(port: int, body: str) -> bytes:
    headers = {"Content-Type": FORM, "Content-Length": str(len(body.encode())), "Connection": "close", **sign(body)}
    head = f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (head + "\r\n").encode() + body.encode()


async def test_the_answer_work_starts_only_after_the_ack_is_written(advisor: Advisor, fake_slack: FakeSlack) -> None:
    client_socket = socket.socket()

    def ack_bytes_already_here() -> bytes:
        # A blocking peek from inside the work: the event loop is stopped while it waits, so it can only find
        # bytes the server wrote before the work started.
        client_socket.settimeout(PEEK_TIMEOUT)
        try:
            return client_socket.recv(65536, socket.MSG_PEEK)
        except TimeoutError:
            return b""

    store = ProbingStore(ack_bytes_already_here)
    advisor.store = store
    work = BackgroundWork()
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.base_url)
    app = build_slack_app(advisor, app_settings(), client=client, work=work)
    async with http_server(app, "127.0.0.1", 0) as port:
        response_url = fake_slack.response_url()
        body = form_body(slash_command("/career", "what does a paralegal do?", response_url))
        with client_socket:
            client_socket.connect(("127.0.0.1", port))
            client_socket.sendall(raw_request(port, body))
            await fake_slack.wait_for("response_url")
            assert await work.drain(10.0)
            client_socket.setblocking(False)
            loop = asyncio.get_running_loop()
            response = b""
            while chunk := await loop.sock_recv(client_socket, 65536):
                response += chunk

    assert response.startswith(b"HTTP/1.1 200")
    [seen] = store.seen
    assert isinstance(seen, bytes) and seen.startswith(b"HTTP/1.1 200"), "the work started before the ack was written"
    answers = [c.body for c in fake_slack.calls("response_url")]
    assert len(answers) == 1 and "paralegal" in json.dumps(answers[0]).lower()


async def test_work_held_for_a_response_is_counted_and_drained_and_starts_when_released() -> None:
    work = BackgroundWork()
    ran: list[str] = []

    async def job(name: str) -> None:
        ran.append(name)

    with answer_after_response():
        work.start(job("held"), "test")
        for _ in range(5):
            await asyncio.sleep(0)
        assert ran == [] and work.pending == 1
    work.start(job("outside"), "test")  # no response to wait for: starts at once
    assert await work.drain(5.0)
    assert sorted(ran) == ["held", "outside"] and work.pending == 0


async def test_held_work_is_released_even_when_the_request_fails(caplog: pytest.LogCaptureFixture) -> None:
    work = BackgroundWork()
    ran: list[str] = []

    async def job() -> None:
        ran.append("ran")

    async def broken() -> None:
        raise RuntimeError("bug")

    with pytest.raises(ValueError), answer_after_response():
        work.start(job(), "test")
        work.start(broken(), "broken job")
        raise ValueError("the handler failed after acknowledging")
    assert await work.drain(5.0)
    assert ran == ["ran"]
    assert "slack background work failed: broken job" in caplog.text


async def test_only_max_running_tasks_are_under_way_at_once_and_the_rest_wait_their_turn() -> None:
    work = BackgroundWork(max_running=2, turn_seconds=60.0)
    running: list[int] = []
    release = asyncio.Event()

    async def job(number: int) -> None:
        running.append(number)
        await release.wait()

    for number in range(5):
        work.start(job(number), "test")
    for _ in range(5):
        await asyncio.sleep(0)
    assert running == [0, 1] and work.pending == 5
    release.set()
    assert await work.drain(5.0)
    assert running == [0, 1, 2, 3, 4]


async def test_work_that_waits_longer_than_its_turn_lets_the_next_one_start() -> None:
    # A slow network or session store must not hold up the other answers.
    work = BackgroundWork(max_running=1, turn_seconds=0.01)
    release, second_ran = asyncio.Event(), asyncio.Event()

    async def waits() -> None:
        await release.wait()

    async def quick() -> None:
        second_ran.set()

    work.start(waits(), "slow")
    work.start(quick(), "quick")
    await asyncio.wait_for(second_ran.wait(), 5.0)  # only a deadlock guard
    assert work.pending == 1  # the first is still waiting
    release.set()
    assert await work.drain(5.0)


async def test_over_the_backlog_limit_commands_are_declined_in_the_ack_and_the_rest_still_answered(
    advisor: Advisor, fake_slack: FakeSlack
) -> None:
    store = GatedStore()
    advisor.store = store
    work = BackgroundWork(max_backlog=2)
    async with serve_app(advisor, fake_slack, work=work) as slack:
        accepted = [await slack.command("/career", "what does a paralegal do?", user=f"U{n}") for n in range(2)]
        declined, declined_url = await slack.command("/career", "what does a paralegal do?", user="U2")
        mention = await slack.event(app_mention("what does a paralegal do?", user="U3"))

        assert [reply.status for reply, _ in accepted] == [200, 200]
        assert all(reply.text == "" for reply, _ in accepted)
        assert declined.status == 200 and declined.text == BUSY_TEXT  # a plain-text body is an ephemeral message
        assert mention.status == 200
        assert work.declined == 2

        store.gate.set()
        for _, url in accepted:
            assert "paralegal" in json.dumps(await slack.answers(url)).lower()
        assert await slack.answers(declined_url) == []  # the ack said it all; nothing follows
        [busy_note] = slack.fake.calls("chat.postEphemeral")
        assert BUSY_TEXT in json.dumps(busy_note.body)
        assert store.waiting == 2  # the declined requests never reached the Advisor

        # Once the backlog is gone, new commands are answered again.
        reply, url = await slack.command("/career", "what does a paralegal do?", user="U4")
        assert reply.text == "" and "paralegal" in json.dumps(await slack.answers(url)).lower()


@pytest.mark.parametrize(("raw", "limit"), [("", DEFAULT_MAX_BACKLOG), ("50", 50), ("0", None)])
def test_the_backlog_limit_comes_from_the_environment(
    raw: str, limit: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_MAX_BACKLOG", raw)
    assert max_backlog_from_environment() == limit


@pytest.mark.parametrize("raw", ["lots", "-1"])
def test_a_bad_backlog_limit_is_named(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_MAX_BACKLOG", raw)
    with pytest.raises(SlackConfigError, match="SLACK_MAX_BACKLOG"):
        max_backlog_from_environment()
