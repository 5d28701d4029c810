"""What one process holds: its settings, its store and (on GPU workers) its engine.

Built once by the process's entry point (`replyloop.bootstrap`) or, in a Celery prefork
child, by `worker_process_init`. Importing this module loads nothing.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from core.settings import Settings
from core.store import Store, open_store

if TYPE_CHECKING:
    from collections.abc import Sequence

    from core.types import Turn
    from workers.batching import Batcher, Outcome
    from workers.engine import Engine
    from workers.live import LiveText
    from workers.replying import ReplyRequest
    from workers.serving import ServedModel


class Runtime:
    def __init__(self, settings: Settings, preload_engine: bool = False) -> None:
        self.settings = settings
        self.preload_engine = preload_engine  # GPU workers load the model before any task
        self._store: Store | None = None
        self._served: ServedModel | None = None
        self._replies: Batcher[ReplyRequest, Turn] | None = None
        self._live: LiveText | None = None
        self._lock = threading.Lock()

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = open_store(self.settings.effective_database_url())
            return self._store

    def after_fork(self) -> None:
        """A prefork child must not share its parent's database sockets: drop the inherited
        pool without closing it (that would close the parent's connections too)."""
        if self._store is not None:
            self._store.engine.dispose(close=False)

    @property
    def engine(self) -> Engine:
        """The model to generate with now: the promoted one (workers.serving), else
        REPLYLOOP_MODEL; loaded on first use, switched when another is promoted."""
        with self._lock:
            if self._served is None:
                from workers.serving import ServedModel

                self._served = ServedModel(self.settings, lambda: self.store)
            served = self._served
        return served.engine()  # outside the lock: loading reads the store

    @property
    def live(self) -> LiveText | None:
        """Where replies shown while they grow are written (Redis); None without a broker."""
        if self.settings.broker_url is None:
            return None
        with self._lock:
            if self._live is None:
                from workers.live import LiveText

                self._live = LiveText(self.settings.broker_url)
            return self._live

    @property
    def replies(self) -> Batcher[ReplyRequest, Turn]:
        """Where generation tasks hand their requests: served in batches, one at a time."""
        from workers.batching import Batcher
        from workers.replying import make_replies

        with self._lock:
            if self._replies is None:
                generation = self.settings.generation()
                # In one process, replies are made one batch at a time: nothing to wait for.
                wait_s = 0.0 if self.settings.embedded else self.settings.order_wait_s

                def work(requests: Sequence[ReplyRequest]) -> list[Outcome[Turn]]:
                    # Between batches, in the batching thread: a promoted model is switched
                    # to here, never while a batch runs.
                    engine = self.engine
                    return make_replies(self.store, engine, generation, requests, wait_s, self.live)

                self._replies = Batcher(work, self.settings.max_batch)
            return self._replies


_current: Runtime | None = None


def init(settings: Settings, preload_engine: bool = False) -> Runtime:
    global _current
    _current = Runtime(settings, preload_engine)
    return _current


def current() -> Runtime:
    """The process's runtime; a worker process started without one reads the environment."""
    global _current
    if _current is None:
        _current = Runtime(Settings())
    return _current
