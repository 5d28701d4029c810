"""Where replies for the terminal chat (by chat) and the console's web chat (by message)
wait to be read: Redis when distributed, else memory. What a delivery task hands over is
`handed_over(reply)`."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Sequence
from typing import Any, Protocol

import redis

from core.types import Delivery

KEY = "replyloop:{platform}:outbox:{chat_key}"
BLOCK_SLICE_S = 2.0
TTL_S = 3600  # an unread reply is dropped after an hour; the Turn itself stays in the store


class Outbox(Protocol):
    def put(self, chat_key: str, item: dict[str, Any]) -> None: ...

    def put_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """(chat key, item) each, in order."""
        ...

    def get(self, chat_key: str, timeout: float) -> dict[str, Any] | None: ...


class MemoryOutbox:
    """The embedded default: chat and tasks share one process."""

    def __init__(self) -> None:
        self._queues: dict[str, queue.Queue[dict[str, Any]]] = {}

    def _queue(self, chat_key: str) -> queue.Queue[dict[str, Any]]:
        return self._queues.setdefault(chat_key, queue.Queue())

    def put(self, chat_key: str, item: dict[str, Any]) -> None:
        self._queue(chat_key).put(item)

    def put_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        for chat_key, item in items:
            self.put(chat_key, item)

    def get(self, chat_key: str, timeout: float) -> dict[str, Any] | None:
        try:
            return self._queue(chat_key).get(timeout=timeout)
        except queue.Empty:
            return None


class RedisOutbox:
    def __init__(self, url: str, platform: str = "terminal") -> None:
        self._redis = redis.Redis.from_url(url)
        self.platform = platform

    def put(self, chat_key: str, item: dict[str, Any]) -> None:
        self.put_many([(chat_key, item)])

    def put_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """One round trip for all of them."""
        pipe = self._redis.pipeline(transaction=False)
        for chat_key, item in items:
            key = KEY.format(platform=self.platform, chat_key=chat_key)
            pipe.rpush(key, json.dumps(item))
            pipe.expire(key, TTL_S)
        pipe.execute()

    def get(self, chat_key: str, timeout: float) -> dict[str, Any] | None:
        # redis-py gives every read a 5 s socket timeout: block in slices shorter than it.
        deadline = time.monotonic() + timeout
        key = KEY.format(platform=self.platform, chat_key=chat_key)
        while (left := deadline - time.monotonic()) > 0:
            found = self._redis.blpop([key], timeout=min(BLOCK_SLICE_S, max(left, 0.01)))
            if found is not None:
                item: dict[str, Any] = json.loads(found[1])
                return item
        return None


_outboxes: dict[tuple[str | None, str], Outbox] = {}


def outbox(broker_url: str | None, platform: str = "terminal") -> Outbox:
    """The process's outbox of a platform for a broker (None: in memory); the same object
    for the chat and the delivery task."""
    key = (broker_url, platform)
    if key not in _outboxes:
        _outboxes[key] = RedisOutbox(broker_url, platform) if broker_url else MemoryOutbox()
    return _outboxes[key]


def handed_over(reply: Delivery) -> dict[str, Any]:
    """What a chat reads from its outbox for a delivered reply."""
    return {"turn_id": reply["turn_id"], "message_id": reply["message_id"], "text": reply["text"]}
