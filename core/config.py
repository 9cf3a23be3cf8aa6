"""Settings from the environment (and a ``.env`` file). Secrets are kept out of ``repr`` so they never reach logs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from dotenv import load_dotenv

REPO_KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"Configuration error: {name} must be a whole number, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    knowledge_dir: Path = REPO_KNOWLEDGE
    data_dir: Path = Path("var")
    session_store: str = ""
    """``sqlite:///path``, ``memory://`` or ``redis://host:port/db``; empty means SQLite in ``data_dir``."""
    retention_days: int = 30
    redis_prefix: str = "advisor:"
    log_level: str = "INFO"
    slack_mode: str = "socket"
    slack_port: int = 3000
    slack_bot_token: str = field(default="", repr=False)
    slack_app_token: str = field(default="", repr=False)
    slack_signing_secret: str = field(default="", repr=False)
    discord_token: str = field(default="", repr=False)
    discord_shard_ids: str = ""
    discord_shard_count: int = 0
    discord_public_answers: bool = True
    health_port: int = 0
    rate_limit_per_minute: int = 30

    @property
    def session_ttl_seconds(self) -> int:
        return self.retention_days * 24 * 3600

    @property
    def session_store_url(self) -> str:
        return self.session_store or f"sqlite:///{self.data_dir / 'sessions.sqlite3'}"

    @property
    def misses_path(self) -> Path:
        return self.data_dir / "misses.sqlite3"

    @property
    def slack_configured(self) -> bool:
        if not self.slack_bot_token:
            return False
        return bool(self.slack_app_token) if self.slack_mode == "socket" else bool(self.slack_signing_secret)

    @property
    def discord_configured(self) -> bool:
        return bool(self.discord_token)

    def to_json(self) -> dict[str, object]:
        """Every setting, secrets included: only for handing the same settings to a child process over a pipe."""
        return {f.name: str(v) if isinstance(v, Path) else v for f in fields(self) for v in [getattr(self, f.name)]}

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> Settings:
        known = {f.name: f for f in fields(cls)}
        values = {k: Path(str(v)) if k in ("knowledge_dir", "data_dir") else v for k, v in raw.items() if k in known}
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, load_env_file: bool = True) -> Settings:
        if load_env_file:
            load_dotenv(override=False)
        env = os.environ.get
        mode = env("SLACK_MODE", "").strip().lower() or ("socket" if env("SLACK_APP_TOKEN") else "http")
        if mode not in ("socket", "http"):
            raise SystemExit(f"Configuration error: SLACK_MODE must be 'socket' or 'http', got {mode!r}")
        return cls(
            knowledge_dir=Path(env("KNOWLEDGE_DIR", "") or REPO_KNOWLEDGE),
            data_dir=Path(env("ADVISOR_DATA_DIR", "") or "var"),
            session_store=env("SESSION_STORE", "").strip(),
            retention_days=_int("RETENTION_DAYS", 30),
            redis_prefix=env("REDIS_PREFIX", "advisor:"),
            log_level=env("LOG_LEVEL", "INFO").upper(),
            slack_mode=mode,
            slack_port=_int("SLACK_PORT", 3000),
            slack_bot_token=env("SLACK_BOT_TOKEN", "").strip(),
            slack_app_token=env("SLACK_APP_TOKEN", "").strip(),
            slack_signing_secret=env("SLACK_SIGNING_SECRET", "").strip(),
            discord_token=env("DISCORD_TOKEN", "").strip(),
            discord_shard_ids=env("DISCORD_SHARD_IDS", "").strip(),
            discord_shard_count=_int("DISCORD_SHARD_COUNT", 0),
            discord_public_answers=env("DISCORD_PUBLIC_ANSWERS", "true").strip().lower() not in ("0", "false", "no"),
            health_port=_int("HEALTH_PORT", 0),
            rate_limit_per_minute=_int("RATE_LIMIT_PER_MINUTE", 30),
        )
