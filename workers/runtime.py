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
    from workers.engine import Engine
    from workers.live import LiveText, LiveTexts
    from workers.replier import Replier
    from workers.serving import ServedModel


class Runtime:
    def __init__(self, settings: Settings, preload_engine: bool = False) -> None:
        self.settings = settings
        self.preload_engine = preload_engine  # GPU workers load the model before any task
        self._store: Store | None = None
        self._served: ServedModel | None = None
        self._replies: Replier | None = None
        self._live: LiveText | None = None
        self._memory_live: LiveTexts | None = None
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
    def live_texts(self) -> LiveTexts:
        """Where the gpu side writes live replies so far: Redis with a broker, else memory
        (the embedded chat reads them in this process)."""
        live = self.live
        if live is not None:
            return live
        with self._lock:
            if self._memory_live is None:
                from workers.live import MemoryLiveText

                self._memory_live = MemoryLiveText()
            return self._memory_live

    @property
    def replies(self) -> Replier:
        """Where generation tasks hand their requests: decoded with every other request
        this process is serving (continuous batching, workers.scheduler)."""
        from workers.live import EVERY_S
        from workers.replier import Replier
        from workers.scheduler import Scheduler

        live = self.live_texts  # before the lock: it takes the lock too
        with self._lock:
            if self._replies is None:
                settings = self.settings
                scheduler = Scheduler(
                    # Asked between steps: a promoted model takes over once the running
                    # replies are done, never in the middle of one.
                    lambda: self.engine,
                    settings.max_batch,
                    settings.prefill_tokens,
                    settings.kv_cache_mb,
                    # Text so far goes to memory embedded (cheap: as often as a chat looks),
                    # else to Redis, about every 0.3 s.
                    text_every_s=0.05 if settings.embedded else EVERY_S,
                )
                # In one process, replies are made one at a time: nothing to wait for.
                wait_s = 0.0 if settings.embedded else settings.order_wait_s
                self._replies = Replier(
                    lambda: self.store, scheduler, settings.generation(), wait_s, live
                )
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
