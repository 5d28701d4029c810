"""What every platform's delivery task does first: a task that runs again (redelivered
after a worker died, or retried), or replies marked `repeat`, drop the replies the store
already has as delivered; and every run claims its replies, so the sweeper does not ask
for them again while they are being delivered."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from core.store import Store
from core.types import Delivery
from wire import process
from wire.claims import DELIVERY_TTL_S

log = logging.getLogger(__name__)


def runs_again(task: Any) -> bool:
    """Whether this run of a bound task is not its first."""
    return bool(task.request.retries or (task.request.delivery_info or {}).get("redelivered"))


def still_to_deliver(task: Any, store: Store, replies: list[Delivery]) -> list[Delivery]:
    claims = process.current().claims
    if claims is not None:  # being delivered: the sweeper (bots.sweeper) leaves them be
        try:
            claims.hold([reply["message_id"] for reply in replies], DELIVERY_TTL_S)
        except RedisError as exc:  # only the sweeper's hint: the delivery goes on
            log.warning("cannot claim %d replies being delivered (%r)", len(replies), exc)
    if runs_again(task) or any(reply.get("repeat") for reply in replies):
        done = store.delivered([reply["turn_id"] for reply in replies])
        return [reply for reply in replies if reply["turn_id"] not in done]
    return replies
