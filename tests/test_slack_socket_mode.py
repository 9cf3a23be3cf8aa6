"""Starting the adapter: Socket Mode over a real WebSocket to the loopback fake, HTTP mode on a real port, and the
configuration checks. Both modes must run the very same bolt app (same listeners, same replies)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from slack_bolt.util.utils import get_name_for_callable
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack.app import build_slack_app
from bots.slack.runner import EVENTS_PATH, SlackConfigError, configuration_problem, run_slack, start_slack
from core.advisor import Advisor
from core.config import Settings
from tests.slack_fakes import (
    APP_TOKEN,
    BOT_TOKEN,
    FORM,
    FakeSlack,
    app_mention,
    app_settings,
    block_actions,
    event_callback,
    form_body,
    serve_app,
    sign,
    slash_command,
)

pytestmark = pytest.mark.timeout(30)

STOP_TIMEOUT = 15.0


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@contextlib.asynccontextmanager
async def running(advisor: Advisor, settings: Settings, fake: FakeSlack, **kwargs: Any) -> AsyncIterator[None]:
    """``start_slack`` as a task, cancelled (as ``advisor run`` does on shutdown) and awaited on exit."""
    client = AsyncWebClient(token=settings.slack_bot_token, base_url=fake.base_url)
    task = asyncio.create_task(start_slack(advisor, settings, client=client, **kwargs))
    try:
        yield
    finally:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT)
        assert done, "start_slack did not stop after cancellation"
        with contextlib.suppress(asyncio.CancelledError):
            task.result()


async def until(condition: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def listener_names(advisor: Advisor, settings: Settings) -> list[str]:
    app = build_slack_app(advisor, settings, client=AsyncWebClient(token=BOT_TOKEN))
    # bolt keeps its listeners private; reading them is the only way to compare the wiring directly.
    return [get_name_for_callable(listener.ack_function) for listener in app._async_listeners]


def test_both_modes_build_the_same_listeners(advisor: Advisor) -> None:
    http = listener_names(advisor, app_settings(slack_mode="http"))
    socket_mode = listener_names(advisor, app_settings(slack_mode="socket", slack_signing_secret=""))
    assert http == socket_mode
    assert {"slash_command", "choice_clicked", "share_clicked", "mentioned", "direct_message", "home_opened"} <= set(
        http
    )


async def test_socket_mode_end_to_end_gives_the_same_replies_as_http(advisor: Advisor, fake_slack: FakeSlack) -> None:
    settings = app_settings(slack_mode="socket", slack_signing_secret="")
    async with running(advisor, settings, fake_slack):
        await until(lambda: fake_slack.socket_connections == 1)
        opened = fake_slack.calls("apps.connections.open")
        assert len(opened) == 1 and opened[0].token == APP_TOKEN  # the app-level token, not the bot token

        # A slash command arrives as a JSON envelope; the ack goes back over the socket.
        url = fake_slack.response_url()
        fields = slash_command("/career", "what does a paralegal do?", url)
        envelope = {
            "envelope_id": "env-1",
            "type": "slash_commands",
            "payload": fields,
            "accepts_response_payload": True,
        }
        ack = await fake_slack.push_envelope(envelope)
        assert ack["envelope_id"] == "env-1"
        socket_answer = (await fake_slack.wait_for("response_url"))[0].body

        # A retried event (retry_attempt → X-Slack-Retry-Num) still produces one answer.
        body = event_callback(app_mention("paralegal pay"), event_id="Ev0SOCKET1")
        await fake_slack.push_envelope({"envelope_id": "env-2", "type": "events_api", "payload": body})
        retried = {"envelope_id": "env-3", "type": "events_api", "payload": body, "retry_attempt": 1}
        await fake_slack.push_envelope({**retried, "retry_reason": "timeout"})

        # A quiz button click arrives as an "interactive" envelope.
        start_url = fake_slack.response_url()
        start = block_actions("quiz:start", "choice-0", start_url)
        await fake_slack.push_envelope({"envelope_id": "env-4", "type": "interactive", "payload": start})
        await fake_slack.wait_for("response_url", count=2)
    # Leaving ``running`` cancelled start_slack, which waits for acknowledged work: everything has been sent.
    assert len(fake_slack.calls("chat.postMessage")) == 1
    question = [c for c in fake_slack.calls("response_url") if c.path == urllib.parse.urlparse(start_url).path]
    assert len(question) == 1 and "Question 1 of" in str(question[0].body["blocks"])

    # The same command over HTTP renders exactly the same message.
    async with serve_app(advisor, fake_slack) as http:
        _, http_url = await http.command("/career", "what does a paralegal do?")
        http_answer = (await http.answers(http_url))[0]
    assert http_answer["blocks"] == socket_answer["blocks"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_http_mode_serves_signed_requests_until_cancelled(advisor: Advisor, fake_slack: FakeSlack) -> None:
    port = free_port()
    settings = app_settings(slack_mode="http", slack_port=port)
    url = f"http://127.0.0.1:{port}{EVENTS_PATH}"
    async with running(advisor, settings, fake_slack, host="127.0.0.1"), aiohttp.ClientSession() as session:

        async def post_command() -> int:
            body = form_body(slash_command("/career-roles", "", fake_slack.response_url()))
            headers = {"Content-Type": FORM, **sign(body)}
            async with session.post(url, data=body.encode(), headers=headers) as response:
                return response.status

        for _ in range(200):  # the server needs a moment to bind
            with contextlib.suppress(aiohttp.ClientConnectionError):
                assert await post_command() == 200
                break
            await asyncio.sleep(0.02)
        answer = (await fake_slack.wait_for("response_url"))[0].body
        assert "legal-support roles" in str(answer["blocks"][0])
    assert fake_slack.calls("auth.test")  # the token was checked at start
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session, session.post(url, data=b"x"):
            pass


async def test_a_rejected_bot_token_stops_start_up_with_a_clear_error(advisor: Advisor, fake_slack: FakeSlack) -> None:
    settings = app_settings(slack_mode="http", slack_bot_token="xoxb-revoked", slack_port=free_port())
    client = AsyncWebClient(token="xoxb-revoked", base_url=fake_slack.base_url)
    with pytest.raises(SlackConfigError, match="invalid_auth"):
        await asyncio.wait_for(start_slack(advisor, settings, client=client, host="127.0.0.1"), STOP_TIMEOUT)


@pytest.mark.parametrize(
    ("overrides", "missing"),
    [
        ({"slack_mode": "socket", "slack_app_token": ""}, "SLACK_APP_TOKEN"),
        ({"slack_mode": "http", "slack_signing_secret": ""}, "SLACK_SIGNING_SECRET"),
        ({"slack_bot_token": ""}, "SLACK_BOT_TOKEN"),
    ],
)
def test_missing_configuration_is_named_and_nothing_starts(
    overrides: dict[str, str], missing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = app_settings(**overrides)
    assert missing in (configuration_problem(settings) or "")
    assert run_slack(settings) == 2
    assert missing in capsys.readouterr().err


def test_complete_configuration_has_no_problem() -> None:
    assert configuration_problem(app_settings(slack_mode="http")) is None
    assert configuration_problem(app_settings(slack_mode="socket", slack_signing_secret="")) is None
