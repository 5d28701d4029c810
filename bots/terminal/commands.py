"""The terminal chat's commands, parsed without side effects."""

from __future__ import annotations

from enum import Enum

HELP = """Commands:
  /good    rate the last reply 👍          /bad     rate it 👎
  /unrate  take your rating back
  /retry   another reply to the same message (both are kept; rate either)
  /reset   start a new conversation        /help    this text
  /quit    leave (Ctrl-D works too)        Ctrl-C stops a reply being made
Anything else is a message to the bot."""


class Command(Enum):
    GOOD = "/good"
    BAD = "/bad"
    UNRATE = "/unrate"
    RETRY = "/retry"
    RESET = "/reset"
    HELP = "/help"
    QUIT = "/quit"


class UnknownCommand(ValueError):
    pass


def parse(line: str) -> Command | None:
    """The command a line is, or None for a message to the bot.

    >>> parse("/good"), parse("  /RETRY "), parse("hello /good")
    (<Command.GOOD: '/good'>, <Command.RETRY: '/retry'>, None)
    """
    word = line.strip().lower()
    if not word.startswith("/"):
        return None
    if word in ("/exit", "/q"):
        return Command.QUIT
    try:
        return Command(word.split()[0])
    except ValueError:
        raise UnknownCommand(f"unknown command {word.split()[0]}; /help lists them") from None
