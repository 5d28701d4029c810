"""`replyloop serve web`: the console on uvicorn; `replyloop user add | list`: its people."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from typing import Any

from core.errors import UserError
from core.passwords import WeakPassword
from core.settings import Settings
from core.store import users
from replyloop.bootstrap import bootstrap, embedded, serve_metrics

DEFAULT_PORT = 8000


def add_user_parser(sub: Any) -> None:
    user = sub.add_parser("user", help="the web console's users")
    usub = user.add_subparsers(dest="user_command", required=True, help="what to do")
    add = usub.add_parser("add", help="make a user (asks for the password twice)")
    add.add_argument("name", help="1-64 letters, digits, _ . @ -")
    add.add_argument(
        "--role",
        choices=users.ROLES,
        required=True,
        help="admin: everything; viewer: reads every page and chats, changes no model",
    )
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (for scripts)",
    )
    usub.add_parser("list", help="every user and their role")


def run_user(settings: Settings, args: argparse.Namespace) -> int:
    engine = bootstrap(settings).store.engine
    if args.user_command == "list":
        for user in users.list_users(engine):
            print(f"{user.name}\t{user.role}")
        return 0
    password = _password(args.password_stdin)
    try:
        made = users.add_user(engine, args.name, args.role, password)
    except (WeakPassword, UserError) as exc:
        print(f"replyloop: {exc}", file=sys.stderr)
        return 2
    print(f"user {made.name} ({made.role}) made: sign in at the console (`replyloop serve web`)")
    return 0


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        print("replyloop: the two passwords differ", file=sys.stderr)
        raise SystemExit(2)
    return first


def serve_web(settings: Settings, host: str, port: int) -> int:
    """The console. Embedded (no broker), the web chat's replies are made in this process,
    as `replyloop chat` makes them."""
    import uvicorn

    from bots.outbox import outbox
    from bots.web.chat import WebChat
    from bots.web.delivery import PLATFORM
    from replyloop.console.app import make_app
    from replyloop.console.state import Console, make_templates

    rt = bootstrap(settings, log_level=logging.INFO)
    serve_metrics(settings)
    gpu = embedded(rt)
    if gpu is not None:
        gpu.engine  # noqa: B018 - convert/load the model before the first message
    live = gpu.live_texts if gpu else rt.live
    chat = WebChat(settings, rt.store, live, outbox(settings.broker_url, PLATFORM))
    if not users.list_users(rt.store.engine):
        logging.getLogger(__name__).warning(
            "no console user yet: make one with `replyloop user add NAME --role admin`"
        )
    app = make_app(Console(settings, rt.store, chat, make_templates()))
    print(f"replyloop console on http://{host}:{port}/ (Ctrl-C stops it)", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)
    return 0
