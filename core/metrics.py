"""Prometheus metrics, fed by the Advisor's ``observer`` hook so no adapter has to count anything itself.

Labels are only the platform and small fixed vocabularies (reply kinds): never user, workspace or channel
ids, which would both leak who asked and explode the number of time series.

Each ``Metrics`` owns its registry, so two advisors in one process (tests, or Slack and Discord in one
``advisor run``) never collide on "Duplicated timeseries" errors.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .reply import Command, Reply, ReplyKind, Request

KNOWN_PLATFORMS = frozenset({"slack", "discord", "console", "cli"})
# Answers take ~1 ms; a store round trip adds a few; the upper buckets catch a struggling Redis.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def _platform(request: Request) -> str:
    # Adapters set the platform from a constant, but keep the label set closed in case one ever doesn't.
    return request.platform if request.platform in KNOWN_PLATFORMS else "other"


def _request_type(request: Request) -> str:
    if request.action:
        return "button"
    if request.command is not None and request.command is not Command.ASK:
        return "command"
    return "question"


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "advisor_requests",
            "Requests handled, by type (question, button, command)",
            ["platform", "type"],
            registry=r,
        )
        self.questions = Counter(
            "advisor_questions",
            "Typed questions by how they were answered (answer, clarify, legal_advice, out_of_scope, ...)",
            ["platform", "kind"],
            registry=r,
        )
        self.quiz_starts = Counter("advisor_quiz_starts", "Career-fit quizzes started", ["platform"], registry=r)
        self.quiz_finishes = Counter("advisor_quiz_finishes", "Career-fit quizzes completed", ["platform"], registry=r)
        self.latency = Histogram(
            "advisor_request_seconds",
            "Time to produce a reply (matching, quiz, session store)",
            ["platform"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.store_errors = Counter(
            "advisor_store_errors", "Requests that failed because the session store was unavailable", registry=r
        )
        self.internal_errors = Counter("advisor_internal_errors", "Requests that failed on a bug", registry=r)
        self.store_up = Gauge("advisor_store_up", "1 if the session store answered the last health check", registry=r)
        self.knowledge_entries = Gauge("advisor_knowledge_entries", "Entries in the knowledge base served", registry=r)
        self.knowledge_reloads = Counter(
            "advisor_knowledge_reloads", "Knowledge-base reloads by result (ok, rejected)", ["result"], registry=r
        )

    def observe(self, request: Request, reply: Reply, seconds: float) -> None:
        """``Advisor(observer=metrics.observe)``: called once per request; must never raise or block."""
        platform = _platform(request)
        kind_of_request = _request_type(request)
        self.requests.labels(platform, kind_of_request).inc()
        self.latency.labels(platform).observe(seconds)
        if kind_of_request == "question":
            kind = reply.meta.get("kind", reply.kind.value)
            self.questions.labels(platform, kind if isinstance(kind, str) else reply.kind.value).inc()
        stale = bool(reply.meta.get("stale"))
        # A start shows the first question with the intro (a new message); "Back" to question 1 replaces the
        # previous message instead, so it is not counted as a start.
        if (
            reply.kind is ReplyKind.QUIZ_QUESTION
            and reply.meta.get("position") == 0
            and not reply.replace_previous
            and not stale
        ):
            self.quiz_starts.labels(platform).inc()
        if reply.kind is ReplyKind.QUIZ_RESULT and not stale:
            self.quiz_finishes.labels(platform).inc()
        if reply.kind is ReplyKind.ERROR:
            if reply.meta.get("error") == "store_error":
                self.store_errors.inc()
            else:
                self.internal_errors.inc()

    def knowledge_served(self, entries: int) -> None:
        self.knowledge_entries.set(entries)

    def knowledge_reloaded(self, ok: bool, entries: int | None = None) -> None:
        self.knowledge_reloads.labels("ok" if ok else "rejected").inc()
        if ok and entries is not None:
            self.knowledge_entries.set(entries)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
