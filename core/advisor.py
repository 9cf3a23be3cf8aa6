"""``Advisor``: the one entry point every adapter calls. Request in, neutral ``Reply`` out.

The adapter translates platform events into a ``Request``; the advisor decides what to say using the
knowledge base, the matcher, the quiz engine and the session store; the adapter renders the ``Reply``.
Nothing here knows about Slack or Discord.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from .kb_model import TOPIC_LABELS, Entry, KnowledgeBase, Topic
from .matcher import ConversationContext, Kind, Match, Matcher
from .misses import MissLog
from .quiz import Outcome, QuizEngine, QuizState, text_bar
from .rate_limit import RateLimiter, RequestKind
from .reply import Choice, ChoiceStyle, Command, Progress, Reply, ReplyKind, Request, Section, SourceRef
from .sessions import Session, SessionKey, SessionStore, SessionStoreError
from .text import clean_question

log = logging.getLogger("advisor")

RELATED_TOPICS: dict[Topic, tuple[Topic, ...]] = {
    Topic.OVERVIEW: (Topic.DUTIES, Topic.EDUCATION, Topic.PAY),
    Topic.DUTIES: (Topic.SKILLS, Topic.WORK_ENVIRONMENT, Topic.PAY),
    Topic.EDUCATION: (Topic.CERTIFICATION, Topic.PAY, Topic.CAREER_PATH),
    Topic.SKILLS: (Topic.DUTIES, Topic.EDUCATION, Topic.CERTIFICATION),
    Topic.CERTIFICATION: (Topic.EDUCATION, Topic.CAREER_PATH, Topic.PAY),
    Topic.CAREER_PATH: (Topic.OUTLOOK, Topic.PAY, Topic.SPECIALIZATIONS),
    Topic.PAY: (Topic.OUTLOOK, Topic.EDUCATION, Topic.CAREER_PATH),
    Topic.OUTLOOK: (Topic.PAY, Topic.CAREER_PATH, Topic.SPECIALIZATIONS),
    Topic.ETHICS: (Topic.DUTIES, Topic.CERTIFICATION, Topic.WORK_ENVIRONMENT),
    Topic.WORK_ENVIRONMENT: (Topic.DUTIES, Topic.PAY, Topic.SPECIALIZATIONS),
    Topic.SPECIALIZATIONS: (Topic.DUTIES, Topic.CAREER_PATH, Topic.PAY),
    Topic.COMPARISON: (Topic.PAY, Topic.EDUCATION, Topic.DUTIES),
}


@dataclass(frozen=True)
class LoadedKnowledge:
    """A knowledge base with everything derived from it, swapped as one unit on reload."""

    kb: KnowledgeBase
    matcher: Matcher
    quiz: QuizEngine

    @classmethod
    def build(cls, kb: KnowledgeBase, semantic: bool = True) -> LoadedKnowledge:
        return cls(kb, Matcher(kb, encoder=semantic), QuizEngine(kb))


class Advisor:
    def __init__(
        self,
        kb: KnowledgeBase,
        store: SessionStore,
        misses: MissLog | None = None,
        observer: Callable[[Request, Reply, float], None] | None = None,
        rate_limiter: RateLimiter | None = None,
        semantic: bool = True,
    ) -> None:
        """``semantic=False`` matches on words alone and never loads the embedding model: for a process that
        answers through others (the Slack process with answer workers) and only needs the knowledge base."""
        self._semantic = semantic
        self.knowledge = LoadedKnowledge.build(kb, semantic)
        self.store = store
        self.misses = misses
        self._observer = observer
        self.rate_limiter = rate_limiter

    @property
    def observer(self) -> Callable[[Request, Reply, float], None] | None:
        """Told of every request answered (metrics); an adapter answering in other processes passes it on."""
        return self._observer

    @property
    def kb(self) -> KnowledgeBase:
        return self.knowledge.kb

    def reload(self, kb: KnowledgeBase) -> None:
        """Serve a new knowledge base from the next request on; requests in flight finish on the old one."""
        self.knowledge = LoadedKnowledge.build(kb, self._semantic)

    async def handle(self, request: Request) -> Reply:
        started = time.perf_counter()
        knowledge = self.knowledge
        try:
            reply = self._throttled(knowledge, request) or await self._dispatch(knowledge, request)
        except SessionStoreError as exc:
            log.warning("session store unavailable for %s/%s: %s", request.platform, request.user, exc)
            reply = self._error(knowledge, "store_error")
        except Exception:
            log.exception(
                "advisor failed on a request (platform=%s workspace=%s user=%s action=%r command=%s)",
                request.platform,
                request.workspace,
                request.user,
                request.action,
                request.command,
            )
            reply = self._error(knowledge, "internal_error")
        if self._observer is not None:
            try:
                self._observer(request, reply, time.perf_counter() - started)
            except Exception:
                log.exception("observer failed")
        return reply

    def _throttled(self, k: LoadedKnowledge, request: Request) -> Reply | None:
        """The slow-down notice when this user is over their rate; checked before any matching or store work."""
        if self.rate_limiter is None:
            return None
        kind = RequestKind.CLICK if request.action else RequestKind.MESSAGE
        decision = self.rate_limiter.check(request.platform, request.workspace, request.user, kind)
        if decision.allowed:
            return None
        return Reply(
            ReplyKind.NOTICE,
            "Slow down",
            (Section(k.kb.texts.slow_down),),
            ephemeral=True,
            meta={"kind": "rate_limited", "retry_after": round(decision.retry_after, 1)},
        )

    # -- dispatch ----------------------------------------------------------------------------------------

    async def _dispatch(self, k: LoadedKnowledge, request: Request) -> Reply:
        key = SessionKey(request.platform, request.workspace, request.user)
        if request.action:
            return await self._on_action(k, key, request.action)
        command = request.command
        if command in (Command.QUIZ, Command.QUIZ_RESTART):
            return await self._start_quiz(k, key, restart=command is Command.QUIZ_RESTART)
        if command is Command.HELP:
            return self._help(k)
        if command is Command.ROLES:
            return self._roles(k)
        if command is Command.FORGET:
            return await self._forget(k, request)
        if command is Command.COMPARE:
            return self._compare(k, request.text or "")
        if command is Command.ASK and not (request.text or "").strip():
            return self._help(k)
        return await self._ask(k, key, request)

    async def _ask(self, k: LoadedKnowledge, key: SessionKey, request: Request) -> Reply:
        session = await self.store.load(key)
        match = k.matcher.match(request.text, session.context)
        reply = self._reply_for_match(k, match)
        if match.kind is Kind.QUIZ:
            started = await self._start_quiz(k, key, restart=False)
            return replace(started, meta={**reply.meta, **started.meta})
        context: ConversationContext | None = None
        if match.kind in (Kind.ANSWER, Kind.CLARIFY) or (match.kind is Kind.OUT_OF_SCOPE and match.topic):
            # A declined question about another job keeps the roles talked about and takes its topic, so "how
            # much do lawyers make?" then "and paralegals?" asks about paralegal pay.
            roles = match.roles if match.kind is not Kind.OUT_OF_SCOPE else session.context.roles
            context = ConversationContext(roles, match.topic.value if match.topic else None)
        elif match.kind is Kind.LEGAL_ADVICE and not session.context.after_legal_advice:
            context = replace(session.context, after_legal_advice=True)
        elif match.kind is Kind.HELP and session.context.after_legal_advice:
            context = replace(session.context, after_legal_advice=False)
        if context is not None:
            remembered = context

            def remember(s: Session) -> None:
                s.context = remembered

            await self.store.update(key, remember)
        if match.kind is Kind.OUT_OF_SCOPE and self.misses is not None and request.text:
            cleaned = clean_question(request.text, limit=300).text
            guess = match.suggestions[0] if match.suggestions else None
            await asyncio.to_thread(self.misses.record, key.platform, key.user, cleaned, match.confidence, guess)
        return reply

    # -- replies for matches -----------------------------------------------------------------------------

    @staticmethod
    def _meta(k: LoadedKnowledge, match: Match) -> dict[str, object]:
        return {
            "kind": match.kind.value,
            "roles": list(match.roles),
            "topic": match.topic.value if match.topic else None,
            "entry": match.entry_id,
            "confidence": match.confidence,
            "suggestions": [k.kb.entry(s).question for s in match.suggestions],
        }

    def _reply_for_match(self, k: LoadedKnowledge, match: Match) -> Reply:
        texts = k.kb.texts
        note = texts.too_long if match.truncated else None
        meta = self._meta(k, match)
        if match.kind is Kind.LEGAL_ADVICE:
            return Reply(
                ReplyKind.LEGAL_ADVICE,
                "I can't give legal advice",
                (Section(texts.legal_advice_decline),),
                sources=self._sources(k, texts.legal_help_sources),
                ephemeral=True,
                note=note,
                meta=meta,
            )
        if match.kind is Kind.HELP:
            return self._help(k, note=note, meta=meta)
        if match.kind is Kind.THANKS:
            # Only the person who said thanks needs to see the reply, as with help.
            return Reply(
                ReplyKind.NOTICE, "Glad to help", (Section(texts.thanks),), ephemeral=True, note=note, meta=meta
            )
        if match.kind is Kind.QUIZ:
            return Reply(ReplyKind.NOTICE, k.kb.quiz.title, meta=meta)
        if match.kind is Kind.CLARIFY:
            topic = match.topic or Topic.OVERVIEW
            choices = tuple(Choice(role.name, f"role:{role.id}:{topic.value}") for role in k.kb.roles)
            return Reply(
                ReplyKind.CLARIFY,
                TOPIC_LABELS[topic],
                (Section(texts.clarify_role.format(topic=TOPIC_LABELS[topic].lower(), roles="")),),
                choices=choices,
                note=note,
                meta=meta,
            )
        if match.kind is Kind.OUT_OF_SCOPE:
            if match.suggestions:
                choices = tuple(Choice(_fit_label(k.kb.entry(e).question), f"entry:{e}") for e in match.suggestions)
                return Reply(
                    ReplyKind.OUT_OF_SCOPE,
                    "Did you mean…",
                    (Section(texts.did_you_mean),),
                    choices=choices,
                    note=note,
                    meta=meta,
                )
            return Reply(
                ReplyKind.OUT_OF_SCOPE, "Outside what I cover", (Section(texts.out_of_scope),), note=note, meta=meta
            )
        entries = [k.kb.entry(e) for e in match.entries or ((match.entry_id,) if match.entry_id else ())]
        return self._answer(k, entries, match.roles, match.topic, note=note, meta=meta)

    def _answer(
        self,
        k: LoadedKnowledge,
        entries: list[Entry],
        roles: tuple[str, ...],
        topic: Topic | None,
        note: str | None = None,
        meta: dict[str, object] | None = None,
    ) -> Reply:
        if not entries:
            return Reply(ReplyKind.OUT_OF_SCOPE, "Outside what I cover", (Section(k.kb.texts.out_of_scope),))
        if len(entries) == 1:
            sections: tuple[Section, ...] = (Section(entries[0].answer),)
            title = entries[0].question
        else:
            sections = tuple(Section(e.answer, heading=self._role_names(k, e.roles)) for e in entries)
            title = f"{TOPIC_LABELS[topic or entries[0].topic]}: {self._role_names(k, roles)}"
        source_ids = list(dict.fromkeys(s for e in entries for s in e.sources))
        choices: tuple[Choice, ...] = ()
        if len(roles) == 1 and topic is not None:
            choices = tuple(
                Choice(TOPIC_LABELS[related], f"role:{roles[0]}:{related.value}") for related in RELATED_TOPICS[topic]
            )
        return Reply(
            ReplyKind.ANSWER,
            title,
            sections,
            choices=choices,
            sources=self._sources(k, source_ids),
            note=note,
            meta=meta or {},
        )

    @staticmethod
    def _role_names(k: LoadedKnowledge, role_ids: tuple[str, ...] | list[str]) -> str:
        names = [k.kb.role(r).name for r in role_ids]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1].lower()

    @staticmethod
    def _sources(k: LoadedKnowledge, ids: list[str]) -> tuple[SourceRef, ...]:
        refs = []
        for source_id in ids:
            source = k.kb.source(source_id)
            refs.append(SourceRef(source.title, source.url, source.as_of))
        return tuple(refs)

    def _help(self, k: LoadedKnowledge, note: str | None = None, meta: dict[str, object] | None = None) -> Reply:
        return Reply(
            ReplyKind.HELP,
            "Legal Careers Advisor",
            (Section(k.kb.texts.help),),
            choices=(Choice("Start the quiz", "quiz:start", ChoiceStyle.PRIMARY), Choice("The three roles", "roles")),
            ephemeral=True,
            note=note,
            meta=meta or {"kind": "help"},
        )

    def _roles(self, k: LoadedKnowledge) -> Reply:
        sections = tuple(Section(role.summary, heading=role.name) for role in k.kb.roles)
        choices = tuple(Choice(f"About {role.plural.lower()}", f"role:{role.id}:overview") for role in k.kb.roles)
        return Reply(
            ReplyKind.ROLES,
            "The three legal-support roles",
            sections,
            choices=(*choices, Choice("Start the quiz", "quiz:start", ChoiceStyle.PRIMARY)),
        )

    def _compare(self, k: LoadedKnowledge, text: str) -> Reply:
        roles = k.matcher.roles.find(clean_question(text).text).roles
        if len(roles) < 2:
            pairs = [(a, b) for i, a in enumerate(k.kb.roles) for b in k.kb.roles[i + 1 :]]
            choices = tuple(Choice(f"{a.name} vs {b.name.lower()}", f"compare:{a.id}:{b.id}") for a, b in pairs)
            return Reply(
                ReplyKind.CLARIFY,
                "Compare roles",
                (Section("Name two roles to compare, or pick a pair:"),),
                choices=choices,
            )
        return self._comparison(k, roles)

    def _comparison(self, k: LoadedKnowledge, roles: tuple[str, ...]) -> Reply:
        entry_ids = k.matcher.entries_for(roles, Topic.COMPARISON)
        entries = [k.kb.entry(e) for e in entry_ids]
        return self._answer(
            k, entries, roles, Topic.COMPARISON, meta={"kind": "answer", "roles": list(roles), "topic": "comparison"}
        )

    async def _forget(self, k: LoadedKnowledge, request: Request) -> Reply:
        removed = await self.store.forget_user(request.platform, request.user)
        if self.misses is not None:
            removed += await asyncio.to_thread(self.misses.forget_user, request.platform, request.user)
        return Reply(
            ReplyKind.NOTICE, "Forgotten", (Section(k.kb.texts.forget_done),), ephemeral=True, meta={"removed": removed}
        )

    def _error(self, k: LoadedKnowledge, reason: str) -> Reply:
        return Reply(
            ReplyKind.ERROR,
            "Something went wrong",
            (Section(k.kb.texts.error),),
            ephemeral=True,
            meta={"error": reason},
        )

    # -- buttons -----------------------------------------------------------------------------------------

    async def _on_action(self, k: LoadedKnowledge, key: SessionKey, action: str) -> Reply:
        parts = action[:200].split(":")
        head = parts[0]
        if head == "quiz":
            return await self._quiz_action(k, key, parts[1:])
        if head == "role" and len(parts) == 3 and parts[2] in Topic._value2member_map_:
            role_id, topic = parts[1], Topic(parts[2])
            if role_id in k.kb.role_ids():
                entries = [k.kb.entry(e) for e in k.matcher.entries_for((role_id,), topic)]
                context = ConversationContext((role_id,), topic.value)

                def remember(s: Session) -> None:
                    s.context = context

                await self.store.update(key, remember)
                return self._answer(k, entries, (role_id,), topic)
        if head == "entry" and len(parts) == 2 and parts[1] in {e.id for e in k.kb.entries}:
            entry = k.kb.entry(parts[1])
            return self._answer(k, [entry], tuple(entry.roles), entry.topic)
        if head == "compare" and len(parts) == 3 and {parts[1], parts[2]} <= set(k.kb.role_ids()):
            return self._comparison(k, (parts[1], parts[2]))
        if head == "roles":
            return self._roles(k)
        if head == "help":
            return self._help(k)
        return Reply(
            ReplyKind.NOTICE,
            "That button no longer works",
            (Section('That button is out of date. Type "help" to see what I can do.'),),
            ephemeral=True,
        )

    async def _start_quiz(self, k: LoadedKnowledge, key: SessionKey, restart: bool) -> Reply:
        def start(s: Session) -> QuizState:
            s.quiz = k.quiz.start(s.quiz, restart=restart)
            return s.quiz

        state = await self.store.update(key, start)
        return self._quiz_question(k, state, intro=state.position == 0)

    async def _quiz_action(self, k: LoadedKnowledge, key: SessionKey, parts: list[str]) -> Reply:
        verb = parts[0] if parts else ""
        if verb in ("start", "restart"):
            return await self._start_quiz(k, key, restart=verb == "restart")

        def apply(s: Session) -> tuple[Outcome, QuizState | None]:
            state = s.quiz
            if state is None:
                return Outcome.STALE, None
            if verb == "a" and len(parts) == 4 and parts[2].isdigit():
                return k.quiz.answer(state, parts[1], int(parts[2]), parts[3]), state
            if verb == "back" and len(parts) == 3 and parts[2].isdigit():
                return k.quiz.back(state, parts[1], int(parts[2])), state
            if verb == "cancel" and len(parts) == 2 and parts[1] == state.quiz_id and not state.finished:
                s.quiz = None
                return Outcome.CANCELLED, None
            return Outcome.STALE, state

        outcome, state = await self.store.update(key, apply)
        if outcome is Outcome.CANCELLED:
            return Reply(
                ReplyKind.NOTICE,
                k.kb.quiz.title,
                (Section(k.kb.texts.quiz_cancelled),),
                choices=(Choice("Start again", "quiz:restart"),),
                ephemeral=True,
                replace_previous=True,
            )
        if outcome is Outcome.RESULT and state is not None:
            return self._quiz_result(k, state)
        if outcome is Outcome.QUESTION and state is not None:
            return self._quiz_question(k, state)
        # Stale: show where the quiz really stands, so the user can carry on from there.
        if state is None:
            return Reply(
                ReplyKind.NOTICE,
                k.kb.quiz.title,
                (Section("That quiz is over. Start a new one whenever you like."),),
                choices=(Choice("Start the quiz", "quiz:restart", ChoiceStyle.PRIMARY),),
                ephemeral=True,
                replace_previous=True,
                meta={"stale": True},
            )
        current = self._quiz_result(k, state) if state.finished else self._quiz_question(k, state)
        return Reply(
            current.kind,
            current.title,
            current.sections,
            current.choices,
            current.sources,
            current.ephemeral,
            current.progress,
            True,
            k.kb.texts.quiz_stale,
            {"stale": True},
        )

    def _quiz_question(self, k: LoadedKnowledge, state: QuizState, intro: bool = False) -> Reply:
        quiz = k.kb.quiz
        question = quiz.questions[state.position]
        choices = [Choice(c.label, f"quiz:a:{state.quiz_id}:{state.position}:{c.id}") for c in question.choices]
        if state.position > 0:
            choices.append(Choice("Back", f"quiz:back:{state.quiz_id}:{state.position}"))
        choices.append(Choice("Cancel", f"quiz:cancel:{state.quiz_id}", ChoiceStyle.DANGER))
        sections = [Section(question.text)]
        if intro:
            sections.insert(0, Section(quiz.intro))
        progress = Progress(state.position + 1, len(quiz.questions))
        return Reply(
            ReplyKind.QUIZ_QUESTION,
            quiz.title,
            tuple(sections),
            tuple(choices),
            ephemeral=True,
            progress=progress,
            replace_previous=not intro,
            meta={"quiz_id": state.quiz_id, "position": state.position},
        )

    def _quiz_result(self, k: LoadedKnowledge, state: QuizState) -> Reply:
        result = k.quiz.result(state)
        lines = [f"{k.kb.role(fit.role_id).name}: {text_bar(fit.percent)} {fit.percent}%" for fit in result.ranking]
        top = result.ranking[0]
        top_role = k.kb.role(top.role_id)
        reasons = "\n".join(f"• {reason}" for reason in top.reasons[:4]) or "• Your answers were evenly spread."
        runner_up = result.ranking[1]
        sections = [
            Section("\n".join(lines), heading="How your answers fit each role"),
            Section(f"{top_role.summary}\n{reasons}", heading=f"Why {top_role.name.lower()} came out on top"),
        ]
        if runner_up.percent >= top.percent - 10:
            close = k.kb.role(runner_up.role_id).name
            sections.append(Section(f"{close} is close behind ({runner_up.percent}%), so it is worth a look too."))
        sections.append(Section("\n".join(f"• {step}" for step in top_role.next_steps), heading="Next steps"))
        choices = (
            Choice(f"About {top_role.plural.lower()}", f"role:{top.role_id}:overview"),
            Choice("Compare the roles", f"compare:{top.role_id}:{runner_up.role_id}"),
            Choice("Retake the quiz", "quiz:restart"),
        )
        return Reply(
            ReplyKind.QUIZ_RESULT,
            f"{k.kb.quiz.title}: your results",
            tuple(sections),
            choices,
            sources=self._sources(k, k.kb.quiz.sources),
            ephemeral=True,
            replace_previous=True,
            note=k.kb.quiz.disclaimer,
            meta={"quiz_id": state.quiz_id, "ranking": [f.role_id for f in result.ranking]},
        )


def _fit_label(text: str, limit: int = 75) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
