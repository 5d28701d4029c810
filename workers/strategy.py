"""How a threads-pool gpu worker takes generate tasks: straight into the batch.

Celery's default is a pool thread per task, which hands its request to the process's
Replier (workers.replier) and waits. With a threads pool this strategy skips that thread:
the consumer hands each new request to the Replier itself, and the finishing thread
acknowledges the message once its Turn is stored and its delivery queued (acks late,
through the consumer's loop as Celery does). That saves two thread hand-offs and Celery's
task tracing per message.

A message behind an earlier one of its conversation still being answered (by another
worker) is acknowledged at once: the worker that stores that reply queues it again
(wire.behind), and a slow backstop asks again in case that never happens
(workers.turns.Behind).

Anything else takes Celery's own path unchanged: a task with a countdown or a rate limit,
every task under the prefork or solo pool, and a request whose batch failed (it runs again
as a normal task, so retries with backoff and the failure notice work as before; the Turn
insert is idempotent, so a repeat never makes a second reply).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import Future
from time import monotonic, perf_counter
from typing import Any

from celery.concurrency.thread import TaskPool as ThreadsPool
from celery.worker.strategy import default

from core.types import Turn
from wire.messages import ReplyRequest, ask_again
from workers import gpu_process
from workers.turns import Behind

log = logging.getLogger(__name__)


class _Consumer:
    """The worker's consumer as the default strategy sees it, but for where a received
    request goes."""

    def __init__(self, consumer: Any, on_task_request: Callable[[Any], None]) -> None:
        self._consumer = consumer
        self.on_task_request = on_task_request

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


def batched(task: Any, app: Any, consumer: Any, **kwargs: Any) -> Callable[..., Any]:
    """The generate task's strategy (Celery calls it once per worker, with its consumer)."""
    if not isinstance(consumer.pool, ThreadsPool):
        return default(task, app, consumer, **kwargs)

    def handle(request: Any) -> None:
        try:
            asked = ReplyRequest.from_wire(*request.args, **request.kwargs)
        except TypeError:  # not as our senders send it: Celery's path says what is wrong
            consumer.on_task_request(request)
            return
        started = perf_counter()
        request.on_accepted(os.getpid(), monotonic())
        future = gpu_process.current().replies.enqueue(asked)
        future.add_done_callback(lambda done: _finish(consumer, request, asked, done, started))

    return default(task, app, _Consumer(consumer, handle), **kwargs)


def _finish(
    consumer: Any, request: Any, asked: ReplyRequest, done: Future[Turn], started: float
) -> None:
    error = done.exception()
    if isinstance(error, Behind):
        if error.backstop:
            ask_again(asked, error.ahead)
        request.on_success((False, None, perf_counter() - started))
        return
    if error is None:
        request.on_success((False, done.result().id, perf_counter() - started))
        return
    log.info("task %s failed in its batch (%r): running it again as a task", request.id, error)
    consumer.on_task_request(request)
