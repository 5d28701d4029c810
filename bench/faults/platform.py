"""What the harness asks of each platform: a fake platform server, the adapter process
that serves it, and the people who talk and vote through it.

Every message a person sends opens a chat of its own, so whatever the bot posts in that
chat answers that message: a second post there is a duplicate, however it came about.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler
from typing import Protocol

from bench.faults.stack import Adapter, Stack

# What a platform's API takes per call, here: real Slack, Telegram and WeCom answer in
# 50-300 ms, and a delivery that takes that long is one a kill -9 can land in the middle of.
API_LATENCY_S = 0.2


@dataclass(frozen=True)
class BotMessage:
    """One message the bot posted in a chat, as the chat shows it now."""

    key: str  # the platform's id of it
    complete: bool  # a whole reply with its rating affordances (not a stream, not a notice)
    turn_id: int | None  # the reply it carries, where the platform shows it
    text: str = ""  # what it says (the start of it), for a reader of the notes


class Platform(Protocol):
    name: str

    def env(self) -> dict[str, str]:
        """The adapter's and workers' settings for this platform (credentials, API URL)."""

    def start_adapter(self, stack: Stack, name: str = ...) -> Adapter:
        """One more `replyloop serve <platform>`, people's messages go to the first."""

    def send(self, token: str) -> None:
        """A person's message that carries `token`, in a new chat; the platform keeps
        delivering it to the adapter as it would (its retries)."""

    def acked(self, token: str) -> bool:
        """Whether the adapter answered a delivery of `token`'s message with a 2xx."""

    def replies(self, token: str) -> list[BotMessage]:
        """What the bot posted in `token`'s chat."""

    def vote(self, token: str, message: BotMessage) -> None:
        """The person rates `message` 👍, as people do on this platform."""

    def pending(self) -> int:
        """Deliveries the platform still means to retry."""

    def close(self) -> None:
        """Stop retrying."""


@dataclass
class Retrier:
    """A platform's redelivery of an event the adapter failed to take (an error status,
    or no answer in time): each delivery runs on a thread of its own, as the platform's
    servers would, and gives up after the platform's last retry."""

    delays_s: tuple[float, ...]  # before each retry
    acks: dict[str, bool] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    timers: list[threading.Timer] = field(default_factory=list)
    waiting: int = 0
    closed: bool = False

    def deliver(self, key: str, attempt: Callable[[int], bool], retry: bool = True) -> None:
        """Call `attempt(retry_number)` (True: a 2xx) until it succeeds or retries end
        (`retry` False: once)."""
        with self.lock:
            self.acks.setdefault(key, False)
            self.waiting += 1
        last = len(self.delays_s) if retry else 0
        threading.Thread(target=self._run, args=(key, attempt, 0, last), daemon=True).start()

    def everywhere(self, key: str, replicas: list[Callable[[int], bool]]) -> None:
        """Each replica gets the event and every one of its retries, each once, whatever
        the others answered (a load balancer spreading a slow platform's retries)."""
        for attempt in replicas:
            for number in range(len(self.delays_s) + 1):
                self.deliver(key, partial(_as_retry, attempt, number), retry=False)

    def _run(self, key: str, attempt: Callable[[int], bool], number: int, last: int) -> None:
        ok = attempt(number)
        with self.lock:
            if ok:
                self.acks[key] = True
            if ok or number >= last or self.closed:
                self.waiting -= 1
                return
            timer = threading.Timer(
                self.delays_s[number], self._run, (key, attempt, number + 1, last)
            )
            timer.daemon = True
            self.timers.append(timer)
            timer.start()

    def acked(self, key: str) -> bool:
        with self.lock:
            return self.acks.get(key, False)

    def pending(self) -> int:
        with self.lock:
            return self.waiting

    def close(self) -> None:
        with self.lock:
            self.closed = True
            for timer in self.timers:
                timer.cancel()


def _as_retry(attempt: Callable[[int], bool], number: int, _attempt: int) -> bool:
    """A delivery that says it is retry `number` whatever it is."""
    return attempt(number)


def slow(seconds: float = API_LATENCY_S) -> None:
    time.sleep(seconds)


class Quiet(BaseHTTPRequestHandler):
    """A fake API's handler that says nothing when its caller hangs up mid-answer (a worker
    killed mid-call does): that is the scenario, not an error of the fake."""

    def handle(self) -> None:
        with suppress(ConnectionError):
            super().handle()


def status_of(request: urllib.request.Request, timeout: float) -> int:
    """The HTTP status an adapter answers `request` with; 0 when no answer comes within
    `timeout` (the platform's own limit: it then counts the call as failed and retries)."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0
