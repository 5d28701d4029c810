"""What every platform's delivery task does first: a task that runs again (redelivered
after a worker died, or retried), or replies marked `repeat`, drop the replies the store
already has as delivered; and every run claims its replies (wire.claims), so the sweeper
does not ask for them again while they are being delivered.

The claims are renewed every few seconds while the task runs, so one that dies with the
worker (kill -9) lapses within CLAIM_TTL_S (20 s) and the sweeper asks again: a fixed
claim long enough for any delivery held a dead worker's replies for a minute. A task that
ends by waiting to retry (Slack's or Telegram's 429, a timeout) leaves its replies claimed
for DELIVERY_TTL_S, its backoff.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery import states
from celery.signals import task_postrun
from redis.exceptions import RedisError

from core.store import Store
from core.types import Delivery
from wire import metrics, process
from wire.claims import CLAIM_TTL_S, DELIVERY_TTL_S, Claims, keep_claimed

log = logging.getLogger(__name__)


class Delivering:
    """The messages whose replies this process's delivery tasks are posting now, by task
    id; their claims are renewed on a thread of the process's own, started with the first
    delivery (a prefork child starts its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_task: dict[str, list[int]] = {}
        self._pid: int | None = None

    def begin(self, claims: Claims, task_id: str, message_ids: list[int]) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._by_task.clear()
                keep_claimed(claims, self.held)
            self._by_task[task_id] = message_ids
        claims.hold(message_ids, CLAIM_TTL_S)

    def end(self, task_id: str) -> list[int]:
        with self._lock:
            return self._by_task.pop(task_id, [])

    def held(self) -> list[int]:
        with self._lock:
            return [message_id for ids in self._by_task.values() for message_id in ids]


DELIVERING = Delivering()


def runs_again(task: Any) -> bool:
    """Whether this run of a bound task is not its first."""
    return bool(task.request.retries or (task.request.delivery_info or {}).get("redelivered"))


def still_to_deliver(task: Any, store: Store, replies: list[Delivery]) -> list[Delivery]:
    claims = process.current().claims
    if claims is not None:  # being delivered: the sweeper (bots.sweeper) leaves them be
        try:
            DELIVERING.begin(claims, str(task.request.id), [r["message_id"] for r in replies])
        except RedisError as exc:  # only the sweeper's hint: the delivery goes on
            log.warning("cannot claim %d replies being delivered (%r)", len(replies), exc)
    if runs_again(task) or any(reply.get("repeat") for reply in replies):
        done = store.delivered([reply["turn_id"] for reply in replies])
        return [reply for reply in replies if reply["turn_id"] not in done]
    return replies


@task_postrun.connect
def _ended(
    task_id: str | None = None, state: str | None = None, task: Any = None, **_: Any
) -> None:
    """A delivery task's run is over: counted, and its claims stop being renewed, or, when
    it waits to retry, hold through its backoff."""
    name = str(getattr(task, "name", ""))
    if name.startswith("replyloop.deliver."):
        metrics.DELIVERIES.labels(metrics.platform_of(name), str(state)).inc()
    message_ids = DELIVERING.end(str(task_id))
    claims = process.current().claims if message_ids and state == states.RETRY else None
    if claims is None:
        return
    try:
        claims.hold(message_ids, DELIVERY_TTL_S)
    except RedisError as exc:
        log.warning("cannot claim %d replies waiting to retry (%r)", len(message_ids), exc)
