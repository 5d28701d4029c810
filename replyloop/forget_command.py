"""`replyloop forget --platform P --user U`: erase one person from the store
(core.store.forget), leaving an audit record that names them only as an HMAC."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.errors import UnknownPerson
from core.settings import Settings
from core.store.forget import forget
from replyloop.bootstrap import bootstrap
from replyloop.rater_secret import rater_secret

PLATFORMS = ("slack", "telegram", "wecom")


def add_parser(sub: Any) -> None:
    """The `forget` subcommand, on the top-level subparsers."""
    forget_parser = sub.add_parser(
        "forget",
        help="erase one person: their messages, the replies that read them, their votes "
        "and names (an audit record keeps an HMAC of who, and counts)",
    )
    forget_parser.add_argument(
        "--platform", required=True, choices=PLATFORMS, help="where the person is a user"
    )
    forget_parser.add_argument(
        "--user",
        required=True,
        type=_user_id,
        help="the platform's user id: Slack's member id (U…), Telegram's numeric user id, "
        "WeCom's userid",
    )


def _user_id(value: str) -> str:
    if not value.strip() or value != value.strip():
        raise argparse.ArgumentTypeError(f"{value!r} is not a user id (empty, or spaces around)")
    return value


def run(settings: Settings, args: argparse.Namespace) -> int:
    store = bootstrap(settings).store
    try:
        gone = forget(store.engine, rater_secret(settings), args.platform, args.user)
    except UnknownPerson as exc:
        print(f"replyloop: {exc}", file=sys.stderr)
        return 1
    print(
        f"forgot {args.platform} user {args.user} (audit record {gone.id}): "
        f"messages {gone.messages}, replies that read them {gone.replies}, votes {gone.votes}, "
        f"names {gone.names}; other texts that named them now say 'someone': {gone.mentions}. "
        "Exports written before now still hold them: delete them and export again."
    )
    return 0
