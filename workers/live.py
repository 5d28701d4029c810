"""Replies shown while they are made: the text so far, in Redis, for adapters that stream.

Some platforms show a reply as it grows (WeCom's smart bot polls for the text so far about
once a second). A message whose reply is asked for `live` gets a Redis hash,
`replyloop:live:<message id>`, that everyone writes their part of:

- the adapter, when it takes the message: `stream` (its stream id), `started`, and
  whatever else it needs to answer polls (`notice`, `response_url`);
- the gpu worker, while generating: `text`, the reply so far, about every 0.3 s;
- the platform's delivery task, once the reply is stored: the whole `text`, `done` and
  `turn_id` (or a failure notice as the text, and `done`).

The hash lives 15 minutes after its last write: long enough for any stream to end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis

PREFIX = "replyloop:live:"
TTL_S = 900
EVERY_S = 0.3  # how often a generating worker writes the text so far


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

    def _set(self, message_id: int, fields: Mapping[str, str], fresh: bool = False) -> None:
        key = PREFIX + str(message_id)
        mapping: dict[Any, Any] = dict(fields)
        with self._redis.pipeline(transaction=fresh) as pipe:
            if fresh:
                pipe.delete(key)
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, TTL_S)
            pipe.execute()
