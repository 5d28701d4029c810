"""The `replyloop` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_settings import SettingsError

from core.errors import RegistryError, ServiceUnavailable
from replyloop import commands, forget_command, model_commands, train_commands, web_command
from replyloop.model_refs import ModelRefError
from replyloop.setting_errors import explain
from replyloop.settings import AllSettings
from training.data.chitchat import DataError
from training.runs import RunMismatch
from workers.models import ModelError


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="replyloop", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True, help="what to do")

    sub.add_parser("chat", help="chat with the bot in this terminal")

    worker = sub.add_parser("worker", help="run a Celery worker (needs REPLYLOOP_BROKER_URL)")
    worker.add_argument(
        "queue",
        choices=["gpu", "io"],
        help="gpu: generate replies (loads the model); io: deliver them to the platforms",
    )
    worker.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="messages a worker holds at once: task threads (gpu: default twice "
        "REPLYLOOP_MAX_BATCH; io: default 8), or processes with --pool prefork (gpu: 1)",
    )
    worker.add_argument(
        "--pool",
        choices=["prefork", "solo", "threads"],
        default=None,
        help="Celery pool (default threads: on gpu, waiting tasks are generated as one batch)",
    )
    worker.add_argument(
        "--loglevel",
        default="INFO",
        help="Celery's log level: DEBUG, INFO, WARNING, ERROR (default INFO; DEBUG also "
        "logs every task received and done)",
    )

    feedback = sub.add_parser("feedback", help="votes: stats and export")
    fsub = feedback.add_subparsers(dest="feedback_command", required=True, help="what to do")
    fsub.add_parser("stats", help="turns, votes and approval per model version")
    export = fsub.add_parser("export", help="rated replies as JSON Lines training data")
    export.add_argument(
        "--format",
        choices=["raw", "kto", "pairs"],
        default="raw",
        help="raw: each rated reply with its prompt, model version and votes (raters "
        "hashed); kto: a rated reply labelled 👍 or 👎, ties left out (train kto, train rm "
        "--votes); pairs: two replies to one message, the better voted chosen (train rm "
        "--pairs). Default raw",
    )
    export.add_argument("--out", required=True, help="file to write (.jsonl)")
    export.add_argument("--since", help="only replies made on or after this date (YYYY-MM-DD)")
    export.add_argument("--model-version", help="only replies of this model version")

    forget_command.add_parser(sub)
    model_commands.add_parser(sub)
    train_commands.add_parsers(sub)

    serve = sub.add_parser("serve", help="run a platform adapter")
    serve.add_argument(
        "platform",
        choices=["slack", "telegram", "wecom", "web"],
        help="the chat platform to serve, or web: the web console (its own chat too)",
    )
    serve.add_argument(
        "--http",
        action="store_true",
        help="slack: HTTP Events API at /slack/events (default: Socket Mode when "
        "SLACK_APP_TOKEN is set); wecom always serves HTTP; telegram long-polls "
        "unless --webhook",
    )
    serve.add_argument(
        "--webhook",
        metavar="URL",
        help="telegram: set this public HTTPS URL as the bot's webhook and serve it (its "
        "path, and GET /healthz) on --host/--port; needs TELEGRAM_WEBHOOK_SECRET",
    )
    serve.add_argument("--host", default="0.0.0.0", help="HTTP: address to listen on")
    serve.add_argument("--port", type=int, help="HTTP: port to listen on (default 3000; web: 8000)")

    web_command.add_user_parser(sub)

    sub.add_parser("config", help="print the effective settings, secrets masked")
    db = sub.add_parser(
        "db",
        help="database schema: upgrade it, or show its revision",
        description="Every command upgrades the schema when it opens the store; this does "
        "only that.",
    )
    db.add_argument(
        "action",
        choices=["upgrade", "current"],
        help="upgrade: to the newest revision; current: print the revision (both upgrade)",
    )
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        # Every setting, each platform's too, whichever command runs: one built here,
        # handed to the process (wire.process), never read again from the environment.
        settings = AllSettings()
    except ValidationError as exc:  # every field's refusal, said the same way
        print(f"replyloop: {explain(exc, AllSettings)}", file=sys.stderr)
        return 2
    except SettingsError as exc:  # a value pydantic-settings could not even decode
        print(f"replyloop: {exc}", file=sys.stderr)
        return 2
    try:
        return commands.dispatch(args, settings)
    except ServiceUnavailable as exc:
        print(f"replyloop: {exc}", file=sys.stderr)
        return 2
    except (
        commands.UsageError,
        ModelError,
        RegistryError,
        ModelRefError,
        DataError,
        RunMismatch,
    ) as exc:
        print(f"replyloop: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
