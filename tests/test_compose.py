"""The deployment files agree with each other and with the code (no Docker engine runs here).

docker-compose.yml, the Dockerfile, .dockerignore, deploy/nginx.conf and .env.example are parsed and
cross-checked: services, images, commands (against the real `advisor` argument parser), environment,
volumes, healthchecks (against the real health routes), the proxy's upstreams and the Discord shards.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bots.cli import _parser
from bots.slack.runner import EVENTS_PATH
from core.advisor import Advisor
from core.health import health_routes

REPO = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
BOTS = {name: s for name, s in SERVICES.items() if s.get("build")}
DOCKERFILE = (REPO / "Dockerfile").read_text()
NGINX = (REPO / "deploy" / "nginx.conf").read_text()
ENV_EXAMPLE = (REPO / ".env.example").read_text()
DOCUMENTED = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE, flags=re.M))
COMPOSE_OWN = {"COMPOSE_PROFILES"}  # read by docker compose itself, not interpolated in the file


def settings_variables() -> set[str]:
    source = (REPO / "core" / "config.py").read_text()
    from_env = source[source.index("def from_env") :]
    found = set(re.findall(r"\(\s*\"([A-Z][A-Z0-9_]{2,})\"", from_env))
    # Settings read where they are used (the embedding model's, the Slack backlog) are named by a constant.
    for path in [*(REPO / "core").glob("*.py"), *(REPO / "bots").rglob("*.py")]:
        found |= set(re.findall(r"^[A-Z_]*(?:_ENV|_VARIABLE) = \"([A-Z][A-Z0-9_]+)\"", path.read_text(), flags=re.M))
    return found


def compose_variables() -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (REPO / "docker-compose.yml").read_text()))


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def dockerfile_final_stage() -> str:
    return DOCKERFILE[DOCKERFILE.rindex("\nFROM ") :]


def dockerfile_env() -> dict[str, str]:
    stage = dockerfile_final_stage()
    block = re.search(r"^ENV (.*?)(?<!\\)\n", stage, flags=re.M | re.S)
    assert block, "the final stage sets no ENV"
    return dict(re.findall(r"([A-Z_]+)=(\S+)", block.group(1).replace("\\\n", " ")))


def test_expected_services_and_profiles() -> None:
    assert set(SERVICES) == {
        "redis", "slack", "discord", "slack-a", "slack-b", "proxy", "discord-shard-0", "discord-shard-1",
    }  # fmt: skip
    profiles = {name: tuple(s.get("profiles", ())) for name, s in SERVICES.items()}
    assert profiles["redis"] == ()  # always on: every profile needs it
    assert profiles["slack"] == ("slack",) and profiles["discord"] == ("discord",)
    assert {n for n, p in profiles.items() if p == ("slack-replicas",)} == {"slack-a", "slack-b", "proxy"}
    assert {n for n, p in profiles.items() if p == ("discord-shards",)} == {"discord-shard-0", "discord-shard-1"}
    assert "COMPOSE_PROFILES=slack,discord" in ENV_EXAMPLE


def test_redis_is_official_persistent_healthy_and_private() -> None:
    redis = SERVICES["redis"]
    assert re.fullmatch(r"redis:\d+(\.\d+)*-alpine", redis["image"]), "the official image, with a pinned version"
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    mounts = [v.split(":") for v in redis["volumes"]]
    assert ["redis-data", "/data"] in mounts and "redis-data" in COMPOSE["volumes"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "ports" not in redis, "Redis must not be reachable from outside the compose network"


def test_bot_services_share_one_image_store_and_volume() -> None:
    assert set(BOTS) == {"slack", "discord", "slack-a", "slack-b", "discord-shard-0", "discord-shard-1"}
    for name, service in BOTS.items():
        assert service["build"] == ".", name
        assert service["image"] == BOTS["slack"]["image"], name
        assert service["env_file"] == [{"path": ".env", "required": True}], name
        env = environment(service)
        host = re.fullmatch(r"redis://([a-z0-9-]+):6379/0", env["SESSION_STORE"])
        assert host and host.group(1) in SERVICES, name
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", name
        assert env["ADVISOR_DATA_DIR"] == "/data" and "advisor-data:/data" in service["volumes"], name
        knowledge = next(v for v in service["volumes"] if v.endswith(":/app/knowledge:ro"))
        assert knowledge.startswith("${KNOWLEDGE_HOST_DIR:-./knowledge}") and (REPO / "knowledge").is_dir()
        assert env["KNOWLEDGE_DIR"] == "/app/knowledge"
        assert service["init"] is True and service["read_only"] is True and "/tmp" in service["tmpfs"], name
        assert service["logging"]["options"]["max-size"], name
        # Secrets come from .env only, never written into the compose file.
        assert not any(k.endswith(("TOKEN", "SECRET")) for k in env), name
    for volume in COMPOSE["volumes"]:
        assert any(f"{volume}:" in v for s in SERVICES.values() for v in s.get("volumes", [])), volume


def test_bot_commands_are_valid_advisor_commands() -> None:
    parser = _parser()
    for name, service in BOTS.items():
        command = service["command"]
        assert command[0] == "advisor", name
        args = parser.parse_args(command[1:])  # exits (fails the test) on an unknown option
        assert args.command == "run", name
        expected = "slack" if name.startswith("slack") else "discord"
        assert args.adapter == [expected], name


def test_healthchecks_use_the_real_readiness_route_and_port(advisor: Advisor) -> None:
    paths = {route.path for route in health_routes(advisor)}
    assert {"/healthz", "/readyz", "/metrics"} <= paths
    for name, service in BOTS.items():
        probe = " ".join(service["healthcheck"]["test"])
        assert "/readyz" in probe and "HEALTH_PORT" in probe, name
        assert environment(service)["HEALTH_PORT"] == "8080", name
        assert service["healthcheck"]["start_period"], name
    image_probe = re.search(r"^HEALTHCHECK .*?CMD (\[.*?\])\s*$", dockerfile_final_stage(), flags=re.M | re.S)
    assert image_probe, "the image has no exec-form HEALTHCHECK"
    # The same probe in the image (plain `docker run`) and in compose.
    assert ["CMD", *json.loads(image_probe.group(1))] == BOTS["slack"]["healthcheck"]["test"]


def test_ports_agree() -> None:
    image_env = dockerfile_env()
    exposed = set(re.findall(r"^EXPOSE (.*)$", dockerfile_final_stage(), flags=re.M)[0].split())
    assert {image_env["SLACK_PORT"], image_env["HEALTH_PORT"]} == exposed == {"3000", "8080"}
    for name, service in BOTS.items():
        env = environment(service)
        assert env["SLACK_PORT"] == image_env["SLACK_PORT"] and env["HEALTH_PORT"] == image_env["HEALTH_PORT"]
        for mapping in service.get("ports", []):
            assert mapping.endswith(f":{env['SLACK_PORT']}"), (name, mapping)
            assert env["HEALTH_PORT"] not in mapping.split(":")[-1], "health and metrics stay private"


def test_proxy_routes_to_both_http_replicas() -> None:
    proxy = SERVICES["proxy"]
    assert proxy["image"].startswith("nginx:")
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    replicas = {n for n in SERVICES if n.startswith("slack-")}
    for name in replicas:
        assert environment(SERVICES[name])["SLACK_MODE"] == "http", "replicas behind a proxy need HTTP mode"
        assert "ports" not in SERVICES[name], "replicas are reached through the proxy only"
        assert proxy["depends_on"][name]["condition"] == "service_healthy"
    upstream = re.search(r"upstream slack_replicas \{(.*?)\}", NGINX, flags=re.S)
    assert upstream
    servers = set(re.findall(r"server ([a-z0-9-]+):(\d+)", upstream.group(1)))
    assert servers == {(n, environment(SERVICES[n])["SLACK_PORT"]) for n in replicas}
    assert f"location = {EVENTS_PATH} " in NGINX
    listen = re.search(r"listen (\d+);", NGINX)
    assert listen and proxy["ports"] == ["${PROXY_PUBLIC_PORT:-8000}:" + listen.group(1)]
    health_path = re.search(r"location = (/[a-z-]+) \{\s*return 200", NGINX)
    assert health_path and health_path.group(1) in " ".join(proxy["healthcheck"]["test"])
    assert NGINX.count("{") == NGINX.count("}")


def test_discord_shards_cover_every_shard_once() -> None:
    shards = [environment(s) for n, s in SERVICES.items() if "discord-shards" in s.get("profiles", ())]
    counts = {int(env["DISCORD_SHARD_COUNT"]) for env in shards}
    assert len(counts) == 1
    ids = sorted(int(i) for env in shards for i in env["DISCORD_SHARD_IDS"].split(","))
    assert ids == list(range(counts.pop()))
    assert "DISCORD_SHARD_IDS" not in environment(SERVICES["discord"]), "the single process takes them from .env"


def test_every_variable_is_documented_and_every_documented_one_is_used() -> None:
    used = settings_variables() | compose_variables()
    assert settings_variables() >= {"SESSION_STORE", "RETENTION_DAYS", "REDIS_PREFIX", "HEALTH_PORT"}
    assert used - DOCUMENTED == set(), "document these in .env.example"
    assert DOCUMENTED - used - COMPOSE_OWN == set(), ".env.example documents variables nothing reads"


def test_dockerfile_is_small_non_root_and_copies_what_it_needs() -> None:
    stages = re.findall(r"^FROM (\S+)", DOCKERFILE, flags=re.M)
    assert len(stages) == 2 and all(s.startswith("python:3.11-slim") for s in stages), "multi-stage, slim base"
    final = dockerfile_final_stage()
    user = re.findall(r"^USER (\S+)", final, flags=re.M)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    assert "COPY --from=build /venv /venv" in final and "pip install" not in final
    copied = set(re.findall(r"^COPY (?!--)(\S+)", DOCKERFILE, flags=re.M))
    assert copied == {"pyproject.toml", "knowledge", "core", "bots"}
    assert "README.md" in DOCKERFILE  # pyproject's readme, needed to build the package
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".env", ".venv", "var", "*.sqlite3", ".git"} <= ignored, "no secrets or user data in the image"
    assert not ({"core", "bots", "knowledge", "pyproject.toml", "README.md"} & ignored)
    assert dockerfile_env()["KNOWLEDGE_DIR"] == "/app/knowledge"
    assert 'CMD ["advisor", "run"]' in final


def has_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not has_compose(), reason="no `docker compose` here; the checks above stand in for it")
def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(ENV_EXAMPLE)
    out = subprocess.run(
        ["docker", "compose", "-f", str(REPO / "docker-compose.yml"), "--env-file", str(env), "config", "-q"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
