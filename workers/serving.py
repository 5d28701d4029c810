"""Which model a process generates with: the promoted one, switched between batches.

A gpu worker asks `ServedModel.engine()` before each batch. At most once a second that
looks up the promoted model in the registry and a running canary (three indexed one-row
queries; workers.canary); when it names another
version than the one loaded, that model is loaded and swapped in right there, in the
batching thread, so no batch runs on a half-swapped engine and no restart is needed.
Nothing promoted (or a rollback past the first promotion) means REPLYLOOP_MODEL.

A promoted model that cannot be loaded (its folder missing on this machine, unreadable,
no chat template) never takes the worker down: the error is logged once for that version,
the current model goes on serving, and the load is tried again a minute later (a folder
still being copied to this machine appears).
"""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from core.settings import Settings
from core.store import Store, registry
from workers.canary import CanaryModel
from workers.engine import Engine
from workers.models import BUILTIN, ModelSource, load, resolve

log = logging.getLogger(__name__)

# How stale a worker's idea of the promoted model may be: one look a second at most.
CHECK_EVERY_S = 1.0
# How soon a model that failed to load is tried again.
RETRY_FAILED_S = 60.0


class ServedModel:
    """The engine of one process (each prefork child has its own)."""

    def __init__(
        self,
        settings: Settings,
        store: Callable[[], Store],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._engine: Engine | None = None
        self._default: ModelSource | None = None
        self._next_check = -math.inf
        self._failed: dict[str, float] = {}  # version -> when its load failed (clock)
        self._lock = threading.Lock()
        # A canary's model beside the promoted one while a canary runs (workers.canary).
        self.canary = CanaryModel(store, self._load_now, settings.canary_check_every_s)

    def engine(self) -> Engine:
        """The engine for the next batch: the promoted model, else REPLYLOOP_MODEL.

        The first call loads one (a promoted model that fails falls back to REPLYLOOP_MODEL;
        if that fails too, ModelError); later calls switch when the registry changed."""
        with self._lock:
            now = self._clock()
            if self._engine is not None and now < self._next_check:
                return self._engine
            self._next_check = now + CHECK_EVERY_S
            wanted = self._wanted()
            if self._engine is None:
                self._engine = self._first(wanted, now)
            elif wanted is not None and wanted.version != self._engine.version:
                self._switch(wanted, now)
            self.canary.follow(self._engine, wanted.version if wanted else None, now)
            return self._engine

    def engine_for(self, conversation_id: int) -> Engine | None:
        """A running canary's engine for a conversation in its share; None: `engine()`.
        Asked on the decoding thread, after `engine()`."""
        with self._lock:
            if self._engine is None:
                return None
            return self.canary.engine_for(conversation_id, self._engine, self._clock())

    def _wanted(self) -> ModelSource | None:
        """The model the registry says to serve; None when it cannot be read (keep on)."""
        try:
            record = registry.promoted(self._store())
        except SQLAlchemyError as exc:
            log.warning("cannot read the promoted model (%s); serving the current one", exc)
            return None if self._engine is not None else self._default_source()
        if record is None:
            return self._default_source()
        return ModelSource(Path(record.path), record.version)

    def _default_source(self) -> ModelSource:
        """REPLYLOOP_MODEL, resolved once (its version hashes files; the built-in model is
        converted on first use)."""
        if self._default is None:
            self._default = resolve(self._settings.model, self._settings.cache_dir)
        return self._default

    def _first(self, wanted: ModelSource | None, now: float) -> Engine:
        if wanted is not None and wanted is not self._default:  # a promoted model
            engine = self._try_load(wanted, now)
            if engine is not None:
                return engine
            log.warning("serving REPLYLOOP_MODEL=%s instead", self._settings.model)
        return self._load(self._default_source())

    def _switch(self, wanted: ModelSource, now: float) -> None:
        engine = self._load_now(wanted, now)
        if engine is None:
            return
        before = self._engine.version if self._engine else None
        self._engine = engine  # the new model is whole before the old one goes
        log.info("switched from model %s to %s", before, engine.version)
        _collect()

    def _load_now(self, source: ModelSource, now: float) -> Engine | None:
        """`_try_load`, unless that model failed to load less than RETRY_FAILED_S ago."""
        failed_at = self._failed.get(source.version)
        if failed_at is not None and now < failed_at + RETRY_FAILED_S:
            return None
        return self._try_load(source, now)

    def _try_load(self, source: ModelSource, now: float) -> Engine | None:
        """The engine, or None (logged once per version) when the model cannot be loaded."""
        try:
            engine = self._load(source)
        # Whatever stops a model from loading (a missing folder, a broken file, no chat
        # template, out of memory) must leave the worker serving the model it has.
        except Exception as exc:
            if source.version not in self._failed:
                serving = self._engine.version if self._engine else "nothing yet"
                log.error(
                    "cannot load model %s from %s (%s: %s); still serving %s",
                    source.version,
                    source.path,
                    type(exc).__name__,
                    str(exc).splitlines()[0] if str(exc) else "",
                    serving,
                )
            self._failed[source.version] = now
            return None
        self._failed.pop(source.version, None)
        return engine

    def _load(self, source: ModelSource) -> Engine:
        model, tokenizer = load(source, threads=self._settings.torch_threads)
        if source == self._default:
            self._register(source)
        return Engine(model, tokenizer, source.version)

    def _register(self, source: ModelSource) -> None:
        """REPLYLOOP_MODEL joins the registry when it first serves: every reply's version is
        then one that `replyloop model list`, `show` and `promote` know."""
        kind = "builtin" if self._settings.model == BUILTIN else "local"
        try:
            registry.ensure(self._store(), version=source.version, kind=kind, path=source.path)
        except SQLAlchemyError as exc:  # the replies matter more than the record
            log.warning("cannot register %s in the model registry (%s)", source.version, exc)


def _collect() -> None:
    """Give a dropped model's memory back now: an engine's token-count cache refers to the
    engine itself (a cycle), so only the garbage collector frees it; on a GPU, the caching
    allocator keeps the freed blocks until told to empty."""
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
