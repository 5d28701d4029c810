"""Replies shown while they are made: the text so far, in Redis, for adapters that stream.

Some platforms show a reply as it grows (WeCom's smart bot polls for the text so far about
once a second). A message whose reply is asked for `live` gets a Redis hash,
`replyloop:live:<message id>`, that everyone writes their part of:

- the adapter, when it takes the message: `stream` (its stream id), `started`, and
  whatever else it needs to answer polls (`notice`, `response_url`);
- the gpu worker, while generating: `text`, the reply so far, about every 0.3 s;
- the platform's delivery task, once the reply is stored: the whole `text`, `done` and
  `turn_id` (or a failure notice as the text, and `done`).

Slack and Telegram show the text so far themselves, by editing a message they posted
(bots.streaming): their streamer and their delivery task take turns under `lock`, and
`claim` a field (HSETNX) to settle who posts first and whose reply the stream was.

The hash lives 15 minutes after its last write: long enough for any stream to end.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import redis
from redis.lock import Lock

PREFIX = "replyloop:live:"
TTL_S = 900
EVERY_S = 0.3  # how often a generating worker writes the text so far
LOCK_S = 15.0  # a lock whose holder died frees itself after this long


class LiveText:
    def __init__(self, redis_url: str) -> None:
        self._redis = redis.Redis.from_url(redis_url, decode_responses=True)

    def open(self, message_id: int, **fields: str | float) -> None:
        """The adapter's part: a new live reply, with what it needs to answer polls (all
        that was written under this message id before is dropped: a store made afresh
        counts its ids from 1 again)."""
        self._set(message_id, {k: str(v) for k, v in fields.items()}, fresh=True)

    def write(self, message_id: int, text: str) -> None:
        """The worker's part: the reply so far."""
        self._set(message_id, {"text": text})

    def write_many(self, texts: Mapping[int, str]) -> None:
        """The worker's part for several replies at once: one round trip."""
        with self._redis.pipeline(transaction=False) as pipe:
            for message_id, text in texts.items():
                key = PREFIX + str(message_id)
                pipe.hset(key, "text", text)
                pipe.expire(key, TTL_S)
            pipe.execute()

    def finish(self, message_id: int, text: str, turn_id: int | None = None) -> None:
        """The delivery's part: the whole reply (or a notice instead of one)."""
        fields = {"text": text, "done": "1"}
        if turn_id is not None:
            fields["turn_id"] = str(turn_id)
        self._set(message_id, fields)

    def mark(self, message_id: int, field: str, value: str = "1") -> None:
        self._set(message_id, {field: value})

    def read(self, message_id: int) -> dict[str, Any]:
        """Everything written so far; empty when the live reply is unknown or expired."""
        found: dict[Any, Any] = self._redis.hgetall(PREFIX + str(message_id))
        return {str(k): v for k, v in found.items()}

    def read_many(self, message_ids: Sequence[int]) -> list[dict[str, Any]]:
        """`read` of each, in one round trip."""
        with self._redis.pipeline(transaction=False) as pipe:
            for message_id in message_ids:
                pipe.hgetall(PREFIX + str(message_id))
            found: list[dict[Any, Any]] = pipe.execute()
        return [{str(k): v for k, v in each.items()} for each in found]

    def claim(self, message_id: int, field: str, value: str) -> str:
        """Write `field` unless it is written (HSETNX); the value it holds now: `value`
        when this claim made it, else the first claimer's."""
        key = PREFIX + str(message_id)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, field, value)
            pipe.hget(key, field)
            pipe.expire(key, TTL_S)
            _made, held, _ttl = pipe.execute()
        return str(held)

    def lock(self, message_id: int, timeout_s: float = LOCK_S) -> Lock:
        """A short lock on one live reply (redis-py's Lock, freed after `timeout_s` if its
        holder dies): who edits what it shows takes it first."""
        return self._redis.lock(f"{PREFIX}{message_id}:lock", timeout=timeout_s)

    def _set(self, message_id: int, fields: Mapping[str, str], fresh: bool = False) -> None:
        key = PREFIX + str(message_id)
        mapping: dict[Any, Any] = dict(fields)
        with self._redis.pipeline(transaction=fresh) as pipe:
            if fresh:
                pipe.delete(key)
            if mapping:  # a live reply opened with nothing to say yet has no hash until then
                pipe.hset(key, mapping=mapping)
                pipe.expire(key, TTL_S)
            pipe.execute()


class MemoryLiveText:
    """The embedded default's live replies (no broker): the chat and the worker that writes
    them share one process. The worker's and the chat's parts of LiveText."""

    def __init__(self) -> None:
        self._texts: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def open(self, message_id: int, **fields: str | float) -> None:
        with self._lock:
            self._texts[message_id] = {k: str(v) for k, v in fields.items()}

    def write_many(self, texts: Mapping[int, str]) -> None:
        with self._lock:
            for message_id, text in texts.items():
                self._texts.setdefault(message_id, {})["text"] = text

    def read(self, message_id: int) -> dict[str, Any]:
        with self._lock:
            return dict(self._texts.get(message_id, {}))

    def close(self, message_id: int) -> None:
        with self._lock:
            self._texts.pop(message_id, None)


class LiveTexts(Protocol):
    """Where a worker writes replies so far, and a chat reads them: Redis or memory."""

    def open(self, message_id: int, **fields: str | float) -> None: ...

    def write_many(self, texts: Mapping[int, str]) -> None: ...

    def read(self, message_id: int) -> dict[str, Any]: ...
