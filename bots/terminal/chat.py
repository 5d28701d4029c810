"""`replyloop chat`: the bot in a terminal, through the same queue and store as every platform."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout

from bots.intake import request_reply, store_message
from bots.terminal.commands import HELP, Command, UnknownCommand, parse
from bots.terminal.outbox import Outbox
from core.errors import EmptyMessage
from core.settings import Settings
from core.store import Store
from core.text import check_text
from core.types import IncomingMessage, Vote
from workers.celery_app import VOTE, app

PLATFORM = "terminal"
VOTE_WORDS = {Vote.UP: "👍 recorded", Vote.DOWN: "👎 recorded", Vote.RETRACTED: "rating removed"}


@dataclass
class LastReply:
    turn_id: int
    message_id: int


class TerminalChat:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        outbox: Outbox,
        say: Callable[[str], None] = print,
        user: str | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.outbox = outbox
        self.say = say
        self.user = user or getpass.getuser()
        self.chat_key = f"{self.user}"
        self.last: LastReply | None = None
        self.shown: set[int] = set()

    def greet(self) -> None:
        conversation = self.store.open_conversation(PLATFORM, self.chat_key)
        earlier = self.store.history(conversation)
        self.say(f"replyloop chat, model {self.settings.model}. /help for commands.")
        if earlier:
            self.say(
                f"Continuing your conversation ({len(earlier)} earlier messages); "
                "/reset starts a new one."
            )

    def handle(self, line: str) -> bool:
        """Act on one line; False when the user wants to leave."""
        try:
            command = parse(line)
        except UnknownCommand as exc:
            self.say(str(exc))
            return True
        if command is None:
            self._message(line)
        elif command is Command.QUIT:
            return False
        elif command is Command.HELP:
            self.say(HELP)
        elif command is Command.RESET:
            self.store.reset(PLATFORM, self.chat_key)
            self.last = None
            self.say("New conversation: the bot has forgotten what was said before.")
        elif command is Command.RETRY:
            self._retry()
        else:
            value = {Command.GOOD: Vote.UP, Command.BAD: Vote.DOWN}.get(command, Vote.RETRACTED)
            self._vote(value)
        return True

    def _message(self, line: str) -> None:
        try:
            checked = check_text(line, self.settings.max_message_chars)
        except EmptyMessage as exc:
            self.say(str(exc))
            return
        if checked.notice:
            self.say(checked.notice)
        incoming = IncomingMessage(PLATFORM, self.chat_key, self.user, checked.text)
        message_id = store_message(self.store, incoming)
        request_reply(message_id)
        self._await(message_id)

    def _retry(self) -> None:
        if self.last is None:
            self.say("Nothing to retry yet: send a message first.")
            return
        request_reply(self.last.message_id, retry=True)
        self._await(self.last.message_id)

    def _await(self, message_id: int) -> None:
        while True:
            item = self.outbox.get(self.chat_key, self.settings.reply_timeout_s)
            if item is None:
                self.say(
                    f"No reply within {self.settings.reply_timeout_s:.0f} s. Is a "
                    "`replyloop worker gpu` running? The message stays queued."
                )
                return
            if "notice" in item:
                self.say(item["notice"])
                if item["message_id"] == message_id:
                    return
                continue
            if item["turn_id"] in self.shown:
                continue  # a redelivered reply
            self.shown.add(item["turn_id"])
            text = item["text"] or "(the model gave an empty reply; /retry or /bad it)"
            if item["message_id"] != message_id:
                self.say(f"bot (late reply)> {text}")
                continue
            self.say(f"bot> {text}")
            self.last = LastReply(item["turn_id"], message_id)
            return

    def _vote(self, value: Vote) -> None:
        if self.last is None:
            self.say("No reply to rate yet.")
            return
        pending = app.signature(
            VOTE, args=[self.last.turn_id, self.user, int(value), PLATFORM]
        ).apply_async()
        try:
            result: dict[str, Any] = pending.get(timeout=self.settings.reply_timeout_s)
        except CeleryTimeout:
            self.say("Vote queued; it is stored when a `replyloop worker io` takes it.")
            return
        self.say(VOTE_WORDS[value] if result["ok"] else f"Not recorded: {result['error']}")


def run(chat: TerminalChat, read: Callable[[str], str] = input) -> None:
    # Without readline, input() gets the terminal's canonical mode, which keeps only the
    # first 4,095 characters of a line; readline also gives line editing and history.
    import readline  # noqa: F401

    chat.greet()
    while True:
        try:
            line = read("you> ")
        except (EOFError, KeyboardInterrupt):
            chat.say("")
            return
        if not chat.handle(line):
            return
