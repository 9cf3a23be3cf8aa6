"""A real redis-server on a free loopback port, in a temporary directory, for the Redis tests.

No mocks: the store, the delivery guard, forget and the replicas are tested against the real server.
Every start and stop is bounded in time. In CI (``CI=true``) a missing redis-server fails the tests instead
of skipping them, so the suite can never go green without having exercised Redis.

Test modules use it with ``from tests.redis_server import redis_server_fixture  # noqa: F401`` and a
``redis_server`` argument.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def redis_server_binary() -> str:
    """The redis-server path; skips locally and fails in CI when it is missing."""
    binary = shutil.which("redis-server")
    if binary:
        return binary
    message = "redis-server is not installed (scripts/ensure-redis-server installs it from Debian's packages)"
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{message}; CI must run the Redis tests", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process. ``kill()`` simulates a crash; ``start()`` again brings back the same data
    (append-only file with fsync on every write, so even SIGKILL loses nothing)."""

    def __init__(
        self, directory: Path, port: int | None = None, binary: str | None = None, appendfsync: str = "always"
    ) -> None:
        self.directory = directory
        # "always" for the tests (a SIGKILL loses nothing); benchmarks pass "everysec", as production runs.
        self.appendfsync = appendfsync
        self.port = port or free_port()
        self.binary = binary or redis_server_binary()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, same_port: bool = False) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        for attempt in range(3):
            self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break  # exited: most likely the port was taken between free_port() and now
                if _answers_ping(self.port):
                    return self
                time.sleep(0.02)
            self._terminate()
            if attempt < 2 and not same_port:
                self.port = free_port()
                args[args.index("--port") + 1] = str(self.port)
        log_file = self.directory / "redis.log"
        log = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
        raise RuntimeError(f"redis-server did not start on 127.0.0.1:{self.port}:\n{log}")

    def restart(self) -> RedisServer:
        """Start again on the same port and directory (clients reconnect to the same URL)."""
        return self.start(same_port=True)

    def kill(self) -> None:
        """SIGKILL, as in a crash or an OOM kill; waits until the port no longer answers."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)

    def _terminate(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        self._terminate()


@pytest.fixture(name="redis_server")
def redis_server_fixture(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()
