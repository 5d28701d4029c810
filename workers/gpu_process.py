"""What a process that generates holds beside its context (wire.process): the served model
and the Replier that batches every reply this process makes.

Made once by the entry point of a gpu worker or an embedded chat (`replyloop.bootstrap`);
the generate task reads it. Importing this module loads no model.
"""

from __future__ import annotations

from core.store import Store
from wire.behind import WaitingRequests
from wire.claims import Claims
from wire.live import EVERY_S, LiveTexts, MemoryLiveText
from wire.messages import AGAIN_MOST_S
from wire.process import NotStarted, Process
from workers.engine import Engine
from workers.replier import Replier
from workers.scheduler import Scheduler
from workers.serving import ServedModel


class GpuProcess:
    def __init__(self, process: Process) -> None:
        settings = self.settings = process.settings
        self.process = process
        # The model to generate with now: the promoted one (workers.serving), else
        # REPLYLOOP_MODEL; loaded by `engine` (or at start), switched when another is
        # promoted.
        self.served = ServedModel(settings, lambda: self.store)
        # Where live replies so far go: Redis with a broker, else memory (the embedded chat
        # reads them in this process).
        self.live_texts: LiveTexts = process.live or MemoryLiveText()
        scheduler = Scheduler(
            # Asked between steps: a promoted model makes the replies begun from then on,
            # while the old one finishes its own; no reply mixes two models.
            lambda: self.engine,
            settings.max_batch,
            settings.prefill_tokens,
            settings.kv_cache_mb,
            # Text so far goes to memory embedded (cheap: as often as a chat looks), else to
            # Redis, about every 0.3 s.
            text_every_s=0.05 if settings.embedded else EVERY_S,
            # While a canary runs, the conversations in its share get its model.
            engine_for=self.served.engine_for,
        )
        # In one process, replies are made one at a time: nothing to wait for.
        wait_s = 0.0 if settings.embedded else settings.order_wait_s
        # Where generation tasks hand their requests: decoded with every other request this
        # process is serving (continuous batching, workers.scheduler).
        # Requests behind an earlier reply of their conversation wait in Redis, handed on
        # by the worker that stores that reply (wire.behind); as long as they may wait.
        # With a broker, the requests held here are claimed, so the sweeper (bots.sweeper)
        # leaves them be while this process lives.
        waiting, claims = None, None
        if settings.broker_url:
            waiting = WaitingRequests(settings.broker_url, wait_s + AGAIN_MOST_S)
            claims = Claims(settings.broker_url)
        self.replies = Replier(
            lambda: self.store,
            scheduler,
            settings.generation(),
            wait_s,
            self.live_texts,
            waiting,
            claims,
        )

    @property
    def store(self) -> Store:
        return self.process.store

    @property
    def engine(self) -> Engine:
        return self.served.engine()


_current: GpuProcess | None = None


def start(process: Process) -> GpuProcess:
    global _current
    _current = GpuProcess(process)
    return _current


def current() -> GpuProcess:
    if _current is None:
        raise NotStarted("this process was not started to generate (replyloop.bootstrap)")
    return _current
