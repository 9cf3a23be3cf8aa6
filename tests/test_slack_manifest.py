"""The app manifests an admin pastes into Slack: in step with the code, minimal scopes, within the schema's limits
(slackapi/manifest-schema v1.0.0, summarised in the platform notes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bots.slack.app import SLASH_COMMANDS
from bots.slack.runner import EVENTS_PATH

SLACK_DIR = Path(__file__).resolve().parent.parent / "bots" / "slack"
MINIMAL_SCOPES = {"commands", "chat:write", "app_mentions:read", "im:history"}
EVENTS = {"app_mention", "message.im", "app_home_opened"}


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((SLACK_DIR / name).read_text())


@pytest.fixture(params=["manifest.yml", "manifest-http.yml"])
def manifest(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)


def test_commands_scopes_and_events_match_the_code(manifest: dict[str, Any]) -> None:
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == list(SLASH_COMMANDS)
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == MINIMAL_SCOPES
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == EVENTS
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    home = manifest["features"]["app_home"]
    # message.im only reaches the bot when people can write in its Messages tab.
    assert home["home_tab_enabled"] and home["messages_tab_enabled"] and not home["messages_tab_read_only_enabled"]
    # Escaping is ours to do (docs/slack.md); Slack's should_escape would change what the text looks like.
    assert all(c["should_escape"] is False for c in commands)


def test_within_the_manifest_schema_limits(manifest: dict[str, Any]) -> None:
    info = manifest["display_information"]
    assert 1 <= len(info["name"]) <= 35
    assert 1 <= len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000
    assert 4 <= len(info["background_color"]) <= 7 and info["background_color"].startswith("#")
    assert 1 <= len(manifest["features"]["bot_user"]["display_name"]) <= 80
    assert manifest["_metadata"]["major_version"] == 1
    for command in manifest["features"]["slash_commands"]:
        assert command["command"].startswith("/") and 2 <= len(command["command"]) <= 32
        assert 1 <= len(command["description"]) <= 2000
        assert len(command.get("usage_hint", "x")) <= 1000


def test_socket_mode_manifest_has_no_urls_and_http_manifest_points_every_url_at_the_app() -> None:
    socket_mode, http = load("manifest.yml"), load("manifest-http.yml")
    assert socket_mode["settings"]["socket_mode_enabled"] is True
    assert "url" not in str(socket_mode["features"]) and "request_url" not in str(socket_mode["settings"])
    assert http["settings"]["socket_mode_enabled"] is False
    urls = [c["url"] for c in http["features"]["slash_commands"]]
    urls += [http["settings"]["event_subscriptions"]["request_url"], http["settings"]["interactivity"]["request_url"]]
    assert len(urls) == 7 and all(u.startswith("https://") and u.endswith(EVENTS_PATH) for u in urls)
    assert len(set(urls)) == 1
    # Otherwise the two are the same app.
    for section in ("display_information", "oauth_config"):
        assert socket_mode[section] == http[section]
