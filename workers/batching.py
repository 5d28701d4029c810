"""One batch at a time: requests that wait together are served together.

A gpu worker's generate tasks hand their requests to the process's Batcher (from the
consumer itself, see workers.strategy, or from a task thread that waits); one thread takes
every request waiting at that moment (up to `max_batch`) and serves them in one call, so
concurrent chats share one forward pass a step and one SQL round trip. Nothing waits for a
batch to fill: a lone request goes at once.

Each task still ends only when its own request is done, so acks-late and retries work per
message as before. A batch that fails is served again one request at a time, so a request
that cannot be served (a prompt its chat template refuses) fails alone, not its batch.
`work` may answer None for a request it cannot serve in this batch (a second message of a
conversation already in it); that request goes first in the next one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeAlias, TypeVar, Union

log = logging.getLogger(__name__)

R = TypeVar("R")
T = TypeVar("T")

# What `work` answers for each request: a result, the error of that request alone, or None
# for "not in this batch, try in the next".
Outcome: TypeAlias = Union[T, BaseException, None]  # noqa: UP007 - a generic alias


@dataclass
class _Waiting(Generic[R, T]):
    request: R
    future: Future[T] = field(default_factory=Future)


class Batcher(Generic[R, T]):
    def __init__(self, work: Callable[[Sequence[R]], Sequence[Outcome[T]]], max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.work = work
        self.max_batch = max_batch
        self._waiting: deque[_Waiting[R, T]] = deque()
        self._ready = threading.Condition()
        self._pid: int | None = None  # the process whose thread serves the batches

    def submit(self, request: R, timeout: float | None = None) -> T:
        """Serve `request` in the next batch; its result, or its error raised here."""
        return self.enqueue(request).result(timeout)

    def enqueue(self, request: R) -> Future[T]:
        """Serve `request` in the next batch, without waiting: its future is done when it
        is (callbacks added to it run on the serving thread)."""
        waiting: _Waiting[R, T] = _Waiting(request)
        with self._ready:
            self._start()
            self._waiting.append(waiting)
            self._ready.notify()
        return waiting.future

    def _start(self) -> None:
        # Threads do not survive fork: a prefork child starts its own.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._waiting.clear()
            threading.Thread(target=self._serve, name="batcher", daemon=True).start()

    def _serve(self) -> None:
        while True:
            with self._ready:
                while not self._waiting:
                    self._ready.wait()
                count = min(self.max_batch, len(self._waiting))
                batch = [self._waiting.popleft() for _ in range(count)]
            deferred = self._run(batch)
            if deferred:
                with self._ready:
                    self._waiting.extendleft(reversed(deferred))

    def _run(self, batch: list[_Waiting[R, T]]) -> list[_Waiting[R, T]]:
        """Serve one batch; the requests it put off."""
        try:
            outcomes = self._work([w.request for w in batch])
        except Exception as exc:
            if len(batch) == 1:
                outcomes = [exc]
            else:
                log.warning("batch of %d failed (%r): serving its requests alone", len(batch), exc)
                outcomes = [self._alone(w.request) for w in batch]
        deferred: list[_Waiting[R, T]] = []
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if outcome is None:
                deferred.append(waiting)
            elif isinstance(outcome, BaseException):
                waiting.future.set_exception(outcome)
            else:
                waiting.future.set_result(outcome)
        if len(deferred) == len(batch):  # no progress would loop forever
            error = RuntimeError("the batch put off every request")
            for waiting in deferred:
                waiting.future.set_exception(error)
            return []
        return deferred

    def _work(self, requests: list[R]) -> list[Outcome[T]]:
        outcomes = list(self.work(requests))
        if len(outcomes) != len(requests):
            raise RuntimeError(f"{len(outcomes)} outcomes for {len(requests)} requests")
        return outcomes

    def _alone(self, request: R) -> Outcome[T]:
        """`request` served in a batch of its own; its error if that fails too."""
        try:
            return self._work([request])[0]
        except Exception as exc:
            return exc
