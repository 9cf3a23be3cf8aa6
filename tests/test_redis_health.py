"""Health, readiness and Prometheus metrics over real HTTP, with the real Advisor on a real redis-server."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from core.advisor import Advisor
from core.health import start_health_server
from core.kb_model import KnowledgeBase
from core.metrics import Metrics
from core.redis_store import RedisSessionStore
from core.reply import Command, ReplyKind, Request
from tests.redis_server import RedisServer, redis_server_fixture  # noqa: F401

TIMEOUT = aiohttp.ClientTimeout(total=10)


def samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_ready_only_while_the_store_answers_and_metrics_count(
    redis_server: RedisServer, kb: KnowledgeBase
) -> None:
    metrics = Metrics()
    store = RedisSessionStore(redis_server.url, timeout=0.5)
    advisor = Advisor(kb, store, observer=metrics.observe)
    health = await start_health_server(advisor, 0, host="127.0.0.1", metrics=metrics)
    base = f"http://127.0.0.1:{health.port}"
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
            async with http.get(f"{base}/readyz") as response:
                body = await response.json()
                assert response.status == 200, body
                assert body["store"] is True and body["knowledge"]["entries"] == len(kb.entries)
                assert body["knowledge"]["fingerprint"] == kb.fingerprint

            await advisor.handle(Request("slack", "T1", "U1", text="what does a paralegal do?"))
            await advisor.handle(Request("slack", "T1", "U1", text="should I sue my landlord?"))
            reply = await advisor.handle(Request("discord", "G1", "U2", command=Command.QUIZ))
            while reply.kind is ReplyKind.QUIZ_QUESTION:
                reply = await advisor.handle(Request("discord", "G1", "U2", action=reply.choices[0].action))
            assert reply.kind is ReplyKind.QUIZ_RESULT

            redis_server.kill()
            failed = await advisor.handle(Request("slack", "T1", "U1", command=Command.QUIZ))
            assert failed.kind is ReplyKind.ERROR
            async with http.get(f"{base}/readyz") as response:
                assert response.status == 503
                assert (await response.json())["store"] is False

            async with http.get(f"{base}/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                found = samples(await response.text())
            assert found[("advisor_questions_total", (("kind", "answer"), ("platform", "slack")))] == 1
            assert found[("advisor_questions_total", (("kind", "legal_advice"), ("platform", "slack")))] == 1
            assert found[("advisor_quiz_starts_total", (("platform", "discord"),))] == 1
            assert found[("advisor_quiz_finishes_total", (("platform", "discord"),))] == 1
            assert found[("advisor_store_errors_total", ())] == 1
            assert found[("advisor_store_up", ())] == 0
            requests = 2 + 1 + len(kb.quiz.questions) + 1  # questions, quiz start, answers, the failed one
            assert sum(v for (name, _), v in found.items() if name == "advisor_request_seconds_count") == requests
            # No user, workspace or channel ids in any label.
            assert not any(v in {"U1", "U2", "T1", "G1"} for (_, labels) in found for _, v in labels)

            redis_server.restart()
            async with http.get(f"{base}/readyz") as response:
                assert response.status == 200
    finally:
        await health.close()
        await store.close()


async def test_extra_readiness_checks(redis_server: RedisServer, kb: KnowledgeBase) -> None:
    store = RedisSessionStore(redis_server.url)
    advisor = Advisor(kb, store)
    connected = {"discord": False}

    async def gateway_connected() -> bool:
        return connected["discord"]

    health = await start_health_server(advisor, 0, host="127.0.0.1", checks={"discord": gateway_connected})
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            url = f"http://127.0.0.1:{health.port}/readyz"
            async with http.get(url) as response:
                assert response.status == 503
                assert (await response.json())["checks"] == {"discord": False}
            connected["discord"] = True
            async with http.get(url) as response:
                assert response.status == 200
            async with http.get(f"http://127.0.0.1:{health.port}/metrics") as response:
                assert response.status == 404  # this process was started without metrics
    finally:
        await health.close()
        await store.close()
