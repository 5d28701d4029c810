"""What every platform's delivery task does first: a task that runs again (redelivered
after a worker died, or retried), or replies marked `repeat`, drop the replies the store
already has as delivered."""

from __future__ import annotations

from typing import Any

from core.store import Store
from core.types import Delivery


def runs_again(task: Any) -> bool:
    """Whether this run of a bound task is not its first."""
    return bool(task.request.retries or (task.request.delivery_info or {}).get("redelivered"))


def still_to_deliver(task: Any, store: Store, replies: list[Delivery]) -> list[Delivery]:
    if runs_again(task) or any(reply.get("repeat") for reply in replies):
        done = store.delivered([reply["turn_id"] for reply in replies])
        return [reply for reply in replies if reply["turn_id"] not in done]
    return replies
