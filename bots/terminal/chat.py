"""`replyloop chat`: the bot in a terminal, through the same queue and store as every platform."""

from __future__ import annotations

import getpass
import sys
import threading
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
from workers.live import LiveTexts

PLATFORM = "terminal"
POLL_S = 0.05  # how often a streamed reply is looked at
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
        live: LiveTexts | None = None,
        write: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.outbox = outbox
        self.say = say
        # With `live`, replies are printed as they are made, through `write` (no newline).
        self.live = live if settings.terminal_stream else None
        self.write = write or _write_out
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
        self._ask(message_id)

    def _retry(self) -> None:
        if self.last is None:
            self.say("Nothing to retry yet: send a message first.")
            return
        self._ask(self.last.message_id, retry=True)

    def _ask(self, message_id: int, retry: bool = False) -> None:
        if self.live is None:
            request_reply(message_id, retry=retry)
            self._await(message_id)
            return
        live, streamed = self.live, _Streamed(self.write)
        live.open(message_id)
        if not self.settings.embedded:
            request_reply(message_id, retry=retry, live=True)
            self._await(message_id, streamed)
            return
        # Embedded, the reply is made right here, inside request_reply (an eager task): a
        # printer thread shows it meanwhile. The task stays on this thread, because Celery
        # marks "inside a task" process-wide while one runs: a vote's result.get() on this
        # thread would be refused while a reply's task was still ending on another one.
        done = threading.Event()

        def print_live() -> None:
            while not done.wait(POLL_S):
                streamed.show(live.read(message_id).get("text", ""))

        printer = threading.Thread(target=print_live, name="live-printer", daemon=True)
        printer.start()
        try:
            request_reply(message_id, retry=retry, live=True)
        finally:
            done.set()
            printer.join()
        self._await(message_id, streamed)

    def _await(self, message_id: int, streamed: _Streamed | None = None) -> None:
        live = self.live
        waited, wait_s = 0.0, POLL_S if streamed is not None else self.settings.reply_timeout_s
        while True:
            item = self.outbox.get(self.chat_key, wait_s)
            waited += wait_s
            still_waiting = waited < self.settings.reply_timeout_s
            if item is None and streamed is not None and live is not None and still_waiting:
                streamed.show(live.read(message_id).get("text", ""))
                continue
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
            if streamed is None or not streamed.end(item["text"]):
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


class _Streamed:
    """A reply printed while it grows: each new piece as it comes, on one line."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self.shown: str | None = None  # None: nothing printed yet

    def show(self, text: str) -> None:
        if not text:
            return
        if self.shown is None:
            self.write("bot> ")
            self.shown = ""
        if text.startswith(self.shown):  # text so far only grows, but for a rare re-spelling
            self.write(text[len(self.shown) :])
            self.shown = text

    def end(self, text: str) -> bool:
        """Print the rest of the whole reply; False when it was not streamed (or a stop
        sequence took back what was shown): then it is printed whole."""
        if self.shown is None or not text.startswith(self.shown):
            if self.shown is not None:
                self.write("\n")
            return False
        self.write(text[len(self.shown) :] + "\n")
        return True


def _write_out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


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
