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


class Runtime:
    def __init__(self, settings: Settings, preload_engine: bool = False) -> None:
        self.settings = settings
        self.preload_engine = preload_engine  # GPU workers load the model before any task
        self._store: Store | None = None
        self._engine: Engine | None = None
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
        with self._lock:
            if self._engine is None:
                from workers.engine import Engine
                from workers.models import load, resolve

                source = resolve(self.settings.model, self.settings.cache_dir)
                model, tokenizer = load(source, threads=self.settings.torch_threads)
                self._engine = Engine(model, tokenizer, source.version)
            return self._engine

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
                    return make_replies(
                        self.store, self.engine, generation, requests, wait_s, self.live
                    )

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
