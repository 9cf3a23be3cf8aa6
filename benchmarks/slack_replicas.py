"""Throughput of signed slash commands through one and two Slack HTTP replicas sharing one Redis, on loopback.

Run: .venv/bin/python benchmarks/slack_replicas.py [--requests 2000] [--concurrency 32]

A private redis-server is started for the run (tests/redis_server.py, appendfsync everysec as in
docker-compose.yml). Each replica is its own process, as in docker compose: the real Slack app
(bots/slack/app.py) on aiohttp on 127.0.0.1, with its own Advisor and knowledge base, its own
RedisSessionStore and delivery guard, and a loopback fake Slack (tests/slack_fakes.py) that receives the
answers at their response_url. This process sends real POSTs signed with the signing secret, alternating
``/career <question>`` and ``/career-quiz`` (which writes the session to Redis), from distinct users,
``--concurrency`` at a time, spread round-robin over the replicas as the reverse proxy does.

Reported: acknowledged commands per second (what Slack's 3-second rule is about) and answered commands per
second (the last answer's arrival at the fake Slack), for one replica and for two. Everything — client,
replicas, fake Slack and Redis — shares this machine's CPUs, so the second replica can only help as far as
there are idle cores.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from contextlib import suppress
from multiprocessing.connection import Connection
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere; reuses the tests' fake Slack and redis helper

import aiohttp  # noqa: E402
from slack_sdk.web.async_client import AsyncWebClient  # noqa: E402

from bots.slack.app import BackgroundWork, build_slack_app  # noqa: E402
from bots.slack.runner import EVENTS_PATH, http_server  # noqa: E402
from core.advisor import Advisor  # noqa: E402
from core.kb_loader import load_knowledge_base  # noqa: E402
from core.redis_store import RedisSessionStore  # noqa: E402
from core.store_factory import open_delivery_guard  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402
from tests.slack_fakes import BOT_TOKEN, FORM, FakeSlack, app_settings, form_body, sign, slash_command  # noqa: E402

QUESTIONS = (
    "what does a paralegal do?",
    "how much do legal secretaries make",
    "do I need a degree to be a legal assistant",
    "paralegal vs legal secretary",
)
WARM_UP = 40
LIFETIME = 300.0
"""A replica process stops by itself after this long, whatever happens to the parent."""


async def serve_replica(redis_url: str, fake: FakeSlack, conn: Connection) -> None:
    store = RedisSessionStore(redis_url)
    # No rate limiter: many distinct users here, and this measures the adapter and the store, not the throttle.
    advisor = Advisor(load_knowledge_base(REPO / "knowledge"), store)
    work = BackgroundWork()
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.base_url)
    app = build_slack_app(advisor, app_settings(), client=client, guard=open_delivery_guard(store), work=work)
    try:
        async with http_server(app, "127.0.0.1", 0) as port:
            conn.send((f"http://127.0.0.1:{port}{EVENTS_PATH}", fake.port))
            while await asyncio.wait_for(asyncio.to_thread(conn.recv), LIFETIME) == "reset":
                fake.clear()
                conn.send("ok")
            await work.drain(30)
    finally:
        await store.close()
    conn.send([call.at for call in fake.calls("response_url")])


def replica_process(redis_url: str, conn: Connection) -> None:
    with FakeSlack(validate=False) as fake, suppress(EOFError, TimeoutError, KeyboardInterrupt):
        asyncio.run(serve_replica(redis_url, fake, conn))


async def send_commands(
    targets: list[tuple[str, int]], requests: int, concurrency: int, run_id: str
) -> tuple[float, float]:
    """Returns (start, end of the last ack) on the system-wide monotonic clock."""
    semaphore = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(number: int) -> None:
            url, fake_port = targets[number % len(targets)]
            if number % 2:
                command, text = "/career-quiz", ""
            else:
                command, text = "/career", QUESTIONS[(number // 2) % len(QUESTIONS)]
            response_url = f"http://127.0.0.1:{fake_port}/response/{run_id}-{number}"
            body = form_body(slash_command(command, text, response_url, user=f"U{run_id}{number:07d}"))
            headers = {"Content-Type": FORM, **sign(body)}
            async with semaphore, session.post(url, data=body.encode(), headers=headers) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"{url} answered {r.status}")

        await asyncio.gather(*(one(n) for n in range(WARM_UP)))
        await asyncio.sleep(1.0)  # warm-up answers out of the way
        for conn in CONNS:
            conn.send("reset")
            assert conn.recv() == "ok"
        started = time.monotonic()
        await asyncio.gather(*(one(n) for n in range(WARM_UP, WARM_UP + requests)))
        return started, time.monotonic()


CONNS: list[Connection] = []


def run(replicas: int, redis_url: str, requests: int, concurrency: int) -> None:
    spawn = multiprocessing.get_context("spawn")
    processes = []
    CONNS.clear()
    try:
        for _ in range(replicas):
            parent_end, child_end = spawn.Pipe()
            process = spawn.Process(target=replica_process, args=(redis_url, child_end), daemon=True)
            process.start()
            processes.append(process)
            CONNS.append(parent_end)
        targets = []
        for conn in CONNS:
            if not conn.poll(60):
                raise RuntimeError("a replica did not start within 60 s")
            targets.append(conn.recv())
        started, acked = asyncio.run(
            asyncio.wait_for(send_commands(targets, requests, concurrency, f"{replicas}r"), LIFETIME - 60)
        )
        arrivals: list[float] = []
        for conn in CONNS:
            conn.send("stop")
            if not conn.poll(60):
                raise RuntimeError("a replica did not report its answers")
            arrivals += conn.recv()
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.terminate()
                process.join(5)
    ack_rate = requests / (acked - started)
    answer_rate = requests / (max(arrivals) - started)
    print(
        f"{replicas} replica{'s' if replicas > 1 else ' '}: {requests} commands, {concurrency} in flight: "
        f"acked {ack_rate:7.0f}/s   answered {len(arrivals)} at {answer_rate:7.0f}/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    print(f"Signed slash commands over HTTP on 127.0.0.1; {os.cpu_count()} CPUs shared by everything.")
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis", appendfsync="everysec").start()
        try:
            for replicas in (1, 2):
                run(replicas, server.url, args.requests, args.concurrency)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
