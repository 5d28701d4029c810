"""`replyloop chat`: the bot in a terminal, through the same queue and store as every platform."""

from __future__ import annotations

import getpass
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, Protocol

from bots.intake import request_reply, store_message
from bots.outbox import Outbox
from bots.terminal.commands import HELP, Command, UnknownCommand, parse
from bots.terminal.listening import QueueListeners
from bots.votes import take_vote
from core.errors import EmptyMessage
from core.settings import Settings
from core.store import Store
from core.text import check_text
from core.types import IncomingMessage, Vote
from wire.app import app
from wire.live import LiveTexts
from wire.messages import CastVote
from wire.queues import GPU_QUEUE

PLATFORM = "terminal"
POLL_S = 0.05  # how often a streamed reply is looked at
VOTE_WORDS = {Vote.UP: "👍 recorded", Vote.DOWN: "👎 recorded", Vote.RETRACTED: "rating removed"}
NOTHING_TO_UNRATE = "No rating to remove: you have not rated this reply."
STOPPED = "(reply stopped; what it said so far is kept: /retry asks again, /bad rates it)"
STOPPED_WAITING = (
    "Stopped waiting. The reply is shown here when it comes (Ctrl-C again, or Ctrl-D, leaves)."
)
NO_GPU_WORKER = (
    "No gpu worker is listening on the gpu queue: start one with `replyloop worker gpu`. "
    "Your message is kept and is answered when one starts (Ctrl-C stops waiting)."
)
STOP_S = 30.0  # leaving: how long replies in the making get to end (one decode step each)


class Replies(Protocol):
    """The replies made in this process (embedded: the gpu side's Replier)."""

    def cancel(self, message_id: int) -> None: ...

    def stop(self, timeout: float) -> bool: ...


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
        replies: Replies | None = None,
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
        # Embedded, Ctrl-C stops the reply being made here; with a broker, the chat only
        # stops waiting for it, and first asks whether a gpu worker is there to make it.
        self.replies = replies if settings.embedded else None
        self.gpu = None if settings.embedded else QueueListeners(app, GPU_QUEUE)

    def greet(self) -> None:
        conversation = self.store.open_conversation(PLATFORM, self.chat_key)
        earlier = self.store.history(conversation)
        self.say(f"replyloop chat, model {self.settings.model}. /help for commands.")
        if earlier:
            self.say(
                f"Continuing your conversation ({_count(len(earlier), 'earlier message')}); "
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

    def close(self) -> None:
        """Before the process leaves: a reply still being made here is stopped first."""
        if self.replies is not None:
            self.replies.stop(STOP_S)

    def _ask(self, message_id: int, retry: bool = False) -> None:
        replies = self.replies
        with _CtrlC(lambda: replies.cancel(message_id) if replies else None) as ctrl_c:
            self._make(message_id, retry, ctrl_c)

    def _make(self, message_id: int, retry: bool, ctrl_c: _CtrlC) -> None:
        if self.live is None:
            request_reply(message_id, retry=retry)
            self._await(message_id, ctrl_c)
            return
        live, streamed = self.live, _Streamed(self.write)
        live.open(message_id)
        if not self.settings.embedded:
            request_reply(message_id, retry=retry, live=True)
            self._await(message_id, ctrl_c, streamed)
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
        self._await(message_id, ctrl_c, streamed)

    def _await(self, message_id: int, ctrl_c: _CtrlC, streamed: _Streamed | None = None) -> None:
        live = self.live
        # Waited for in short slices, so that Ctrl-C (a flag its handler sets) is seen.
        deadline = time.monotonic() + self.settings.reply_timeout_s
        listening: Future[bool] | None = self.gpu.ask() if self.gpu is not None else None
        while True:
            item = self.outbox.get(self.chat_key, POLL_S)
            if item is None and ctrl_c.pressed and self.replies is None:
                if streamed is not None:
                    streamed.end(streamed.shown or "")
                self.say(STOPPED_WAITING)
                return
            if item is None and listening is not None and listening.done():
                if not listening.result() and (streamed is None or streamed.shown is None):
                    self.say(NO_GPU_WORKER)
                listening = None
            if item is None and time.monotonic() < deadline:
                if streamed is not None and live is not None:
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
            if ctrl_c.pressed:
                self.say(STOPPED)
            self.last = LastReply(item["turn_id"], message_id)
            return

    def _vote(self, value: Vote) -> None:
        if self.last is None:
            self.say("No reply to rate yet.")
            return
        result = take_vote(self.store, CastVote(self.last.turn_id, self.user, int(value), PLATFORM))
        if result is None:
            self.say("Vote queued: the database is away; it is stored when it is back.")
            return
        if not result["ok"]:
            self.say(f"Not recorded: {result['error']}")
        elif value == Vote.RETRACTED and result["previous"] == Vote.RETRACTED:
            self.say(NOTHING_TO_UNRATE)
        else:
            self.say(VOTE_WORDS[value])


class _CtrlC:
    """While a reply is awaited, Ctrl-C stops it rather than raising KeyboardInterrupt
    wherever the chat happens to be (inside torch, a SQLite write, Celery's eager task:
    the process aborted, "terminate called without an active exception"). The handler only
    sets a flag and calls `first` (which must not block); pressed again, it raises
    KeyboardInterrupt: the person leaves. Only the main thread can own a signal."""

    def __init__(self, first: Callable[[], None]) -> None:
        self.first = first
        self.pressed = False
        self._previous: Any = None
        self._owned = threading.current_thread() is threading.main_thread()

    def __enter__(self) -> _CtrlC:
        if self._owned:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._owned:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True
        self.first()


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


def _count(n: int, thing: str) -> str:
    """`n` things, in the singular for one.

    >>> _count(1, "earlier message"), _count(2, "earlier message")
    ('1 earlier message', '2 earlier messages')
    """
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def _write_out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def run(chat: TerminalChat, read: Callable[[str], str] = input) -> None:
    # Without readline, input() gets the terminal's canonical mode, which keeps only the
    # first 4,095 characters of a line; readline also gives line editing and history.
    import readline  # noqa: F401

    try:
        chat.greet()
        while True:
            try:
                line = read("you> ")
                if not chat.handle(line):
                    return
            except (EOFError, KeyboardInterrupt):  # Ctrl-D, or Ctrl-C outside a reply
                chat.say("")
                return
    finally:
        chat.close()
