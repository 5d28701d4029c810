"""What every process holds: its settings, its store, and the live-text channel.

Made once by the process's entry point (`replyloop.bootstrap`), then read by the tasks
this process runs, which Celery calls with their message only. Nothing is built on first
use: a task run in a process that was never started says so, rather than quietly reading
settings from the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from celery.signals import worker_process_init

from core.settings import Settings
from core.store import Store, open_store
from wire.claims import Claims
from wire.live import LiveText


class NotStarted(RuntimeError):
    """A task ran in a process whose entry point did not start it."""


class WithoutSettings(NotStarted):
    """A task needs settings (a platform's) that its process was not started with."""


S = TypeVar("S", bound=Settings)


@dataclass
class Process:
    settings: Settings
    store: Store
    # Where replies shown while they grow are written (Redis); None without a broker.
    live: LiveText | None
    # Claims on the messages this process has in hand (wire.claims); None without a broker.
    claims: Claims | None = None

    def settings_as(self, kind: type[S]) -> S:
        """This process's settings as `kind`, a platform's (bots/<platform>/settings.py),
        which they are when the entry point built them with every platform's
        (replyloop.settings); a task of that platform reads its settings so, typed."""
        if not isinstance(self.settings, kind):
            raise WithoutSettings(
                f"this process was started with {type(self.settings).__name__}, not "
                f"{kind.__name__}: its entry point must build the settings of every platform "
                "(replyloop.settings.AllSettings)"
            )
        return self.settings

    def after_fork(self) -> None:
        """A prefork child must not share its parent's database sockets: drop the inherited
        pool without closing it (that would close the parent's connections too)."""
        self.store.engine.dispose(close=False)


_current: Process | None = None


def start(settings: Settings) -> Process:
    """This process's context: the store opened (and migrated) now, so a bad URL fails at
    start-up, not at the first message."""
    global _current
    store = open_store(settings.effective_database_url())
    live = LiveText(settings.broker_url) if settings.broker_url else None
    claims = Claims(settings.broker_url) if settings.broker_url else None
    _current = Process(settings, store, live, claims)
    return _current


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    """Each prefork child, gpu or io: its own database connections."""
    if _current is not None:
        _current.after_fork()


def current() -> Process:
    """The context `start` made."""
    if _current is None:
        raise NotStarted(
            "this process was not started by replyloop (replyloop.bootstrap): it has no "
            "settings or store"
        )
    return _current
