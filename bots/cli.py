"""The ``advisor`` command: chat, ask, kb tools, eval, and starting the Slack and Discord adapters."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from core.config import Settings
from core.kb_loader import KnowledgeBaseError, load_knowledge_base
from core.reply import Command, Reply, Request
from core.runtime import build_advisor, configure_logging
from core.sessions import MemorySessionStore


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="advisor", description="Legal Careers Advisor")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("chat", help="chat with the advisor in this terminal")
    ask = sub.add_parser("ask", help="answer one question (or one per line from stdin with '-')")
    ask.add_argument("question", nargs="+", help="the question, or '-' to read one question per line from stdin")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")

    kb = sub.add_parser("kb", help="knowledge-base tools")
    kb_sub = kb.add_subparsers(dest="kb_command", metavar="KB_COMMAND")
    check = kb_sub.add_parser("check", help="validate a knowledge base; errors as file:line: message")
    check.add_argument("directory", nargs="?", help="knowledge-base directory (default: KNOWLEDGE_DIR or knowledge/)")
    kb_sub.add_parser("schema", help="print the JSON Schema of a knowledge-base file")
    misses = kb_sub.add_parser("misses", help="questions the advisor could not answer, most frequent first")
    misses.add_argument("--limit", type=int, default=50)

    evaluate = sub.add_parser("eval", help="measure answer quality on a labelled question set")
    evaluate.add_argument("questions", type=Path, help="e.g. tests/data/questions.yaml")
    evaluate.add_argument("--split", choices=["dev", "test", "all"], default="all")
    evaluate.add_argument("--confusions", type=int, default=25, help="how many misclassified questions to list")

    run = sub.add_parser("run", help="start every adapter configured in the environment (console chat if none)")
    run.add_argument(
        "--adapter",
        action="append",
        choices=["slack", "discord"],
        help="start only this adapter (repeatable); containers use it so one .env can serve several services",
    )
    reload = sub.add_parser("reload", help="check the knowledge base, then make running `advisor run`s reload it")
    reload.add_argument("--pid", type=int, action="append", help="signal only this process (repeatable)")
    slack = sub.add_parser("slack", help="start the Slack app (Socket Mode or HTTP, see SLACK_MODE)")
    slack.add_argument("--port", type=int, help="HTTP mode port (default SLACK_PORT or 3000)")
    discord = sub.add_parser("discord", help="start the Discord bot, or sync its slash commands")
    discord.add_argument("action", nargs="?", choices=["sync"], help="register slash commands with Discord")
    discord.add_argument("--guild", type=int, help="sync to one server only (instant, for testing)")

    forget = sub.add_parser("forget", help="delete everything stored about a user")
    forget.add_argument("--user", required=True, help="platform user id")
    forget.add_argument("--platform", default=None, help="slack, discord or console (default: all)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    try:
        return _dispatch(parser, args, settings)
    except KnowledgeBaseError as exc:
        print(exc.report(), file=sys.stderr)
        print("The knowledge base did not load; fix the problems above (advisor kb check).", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace, settings: Settings) -> int:
    command = args.command
    if command is None:
        parser.print_help()
        return 0
    if command == "kb":
        return _kb(args, settings)
    if command == "ask":
        return asyncio.run(_ask(args, settings))
    if command == "chat":
        return asyncio.run(_chat(settings))
    if command == "eval":
        from core.evaluation import run_evaluation

        return run_evaluation(args.questions, settings.knowledge_dir, args.split, args.confusions)
    if command == "forget":
        return asyncio.run(_forget(args, settings))
    if command == "slack":
        from bots.slack.runner import run_slack

        return run_slack(settings, port=args.port)
    if command == "discord":
        from bots.discord.runner import run_discord, sync_commands

        if args.action == "sync":
            return sync_commands(settings, guild_id=args.guild)
        return run_discord(settings)
    if command == "run":
        return _run(settings, args.adapter)
    if command == "reload":
        return _reload(args, settings)
    parser.print_help()
    return 2


def _kb(args: argparse.Namespace, settings: Settings) -> int:
    if args.kb_command == "check":
        directory = Path(args.directory) if args.directory else settings.knowledge_dir
        try:
            kb = load_knowledge_base(directory)
        except KnowledgeBaseError as exc:
            print(exc.report())
            return 1
        print(
            f"{directory}: OK — {len(kb.roles)} roles, {len(kb.entries)} entries, "
            f"{sum(len(e.phrasings) for e in kb.entries)} phrasings, {len(kb.sources)} sources, "
            f"{len(kb.quiz.questions)} quiz questions."
        )
        return 0
    if args.kb_command == "schema":
        from core.kb_model import KnowledgeFile

        schema = KnowledgeFile.model_json_schema()
        schema["title"] = "Legal Careers Advisor knowledge-base file"
        print(json.dumps(schema, indent=2))
        return 0
    if args.kb_command == "misses":
        from core.misses import MissLog

        if not settings.misses_path.exists():
            print("No questions have been missed yet.")
            return 0
        log = MissLog(settings.misses_path, retention_seconds=settings.session_ttl_seconds)
        rows = log.report(args.limit)
        if not rows:
            print("No questions have been missed yet.")
            return 0
        print(f"{'count':>5}  question   (closest entry)")
        for row in rows:
            guess = f"   ({row.best_guess})" if row.best_guess else ""
            print(f"{row.count:>5}  {row.question}{guess}")
        return 0
    print("usage: advisor kb {check,schema,misses}", file=sys.stderr)
    return 2


def ask_json(reply: Reply) -> dict[str, object]:
    meta = reply.meta
    return {
        "kind": meta.get("kind", reply.kind.value),
        "roles": meta.get("roles", []),
        "topic": meta.get("topic"),
        "entry": meta.get("entry"),
        "confidence": meta.get("confidence", 1.0),
        "text": reply.plain_text(),
        "suggestions": meta.get("suggestions", []),
    }


async def _ask(args: argparse.Namespace, settings: Settings) -> int:
    # One-shot questions never touch the user's stored sessions or the misses log.
    advisor = build_advisor(settings, store=MemorySessionStore(), log_misses=False)
    if args.question == ["-"]:
        for number, line in enumerate(sys.stdin, start=1):
            reply = await advisor.handle(Request("cli", "batch", f"line-{number}", text=line.rstrip("\n")))
            if args.json:
                sys.stdout.write(json.dumps(ask_json(reply), ensure_ascii=False) + "\n")
            else:
                sys.stdout.write(reply.plain_text() + "\n\n")
        sys.stdout.flush()
        return 0
    reply = await advisor.handle(Request("cli", "local", "cli", text=" ".join(args.question)))
    if args.json:
        print(json.dumps(ask_json(reply), ensure_ascii=False))
    else:
        from bots.console import render_reply

        print(render_reply(reply))
    return 0


async def _chat(settings: Settings) -> int:
    from bots.console import chat

    advisor = build_advisor(settings)
    try:
        await chat(advisor)
    finally:
        await advisor.store.close()
    return 0


async def _forget(args: argparse.Namespace, settings: Settings) -> int:
    advisor = build_advisor(settings)
    platforms = [args.platform] if args.platform else ["slack", "discord", "console", "cli"]
    removed = 0
    for platform in platforms:
        reply = await advisor.handle(Request(platform, "admin", args.user, command=Command.FORGET))
        removed += int(reply.meta.get("removed", 0))  # type: ignore[call-overload]
    await advisor.store.close()
    print(f"Deleted {removed} stored record(s) for user {args.user}.")
    return 0


def _reload(args: argparse.Namespace, settings: Settings) -> int:
    # Check here first so the operator sees the report; the processes check again and keep the old version
    # if the files changed in between.
    try:
        kb = load_knowledge_base(settings.knowledge_dir)
    except KnowledgeBaseError as exc:
        print(exc.report(), file=sys.stderr)
        print("Reload refused: running advisors keep serving the previous knowledge base.", file=sys.stderr)
        return 1
    from bots.launcher import request_reload

    signalled = request_reload(args.pid)
    if not signalled:
        print(
            "No running `advisor run` process found for this user here. In Docker: "
            "docker compose kill -s HUP slack discord",
            file=sys.stderr,
        )
        return 1
    print(
        f"Knowledge base OK ({len(kb.entries)} entries, fingerprint {kb.fingerprint}); "
        f"reload requested from process(es) {', '.join(map(str, signalled))}."
    )
    return 0


def _run(settings: Settings, only: list[str] | None = None) -> int:
    runners = []
    if settings.slack_configured and (not only or "slack" in only):
        runners.append("slack")
    if settings.discord_configured and (not only or "discord" in only):
        runners.append("discord")
    if only and not runners:
        print(f"Cannot start {', '.join(only)}: its token is not set (see .env.example).", file=sys.stderr)
        return 2
    if not runners:
        print("No Slack or Discord tokens are set (see README), so starting the console chat instead.\n")
        return asyncio.run(_chat(settings))
    from bots.launcher import run_adapters

    return run_adapters(settings, runners)


if __name__ == "__main__":
    raise SystemExit(main())
