"""Has this platform event been seen? Platforms retry what they think went unanswered
(Slack on a slow ack, WeCom on a slow callback), and several adapter replicas may each get
a copy: the first to claim an event id handles it, the rest drop it.

With a broker the claim is a Redis SET NX with a TTL, shared by every replica. Embedded
(one process, no Redis) it is a dictionary.
"""

from __future__ import annotations

import threading
import time

import redis

PREFIX = "replyloop:seen:"


class Dedupe:
    def __init__(self, redis_url: str | None, ttl_s: int) -> None:
        self.ttl_s = ttl_s
        self._redis = redis.Redis.from_url(redis_url) if redis_url else None
        self._seen: dict[str, float] = {}  # key -> when it expires (embedded only)
        self._lock = threading.Lock()

    def first(self, key: str) -> bool:
        """Claim `key`: True the first time within the TTL, False for every repeat."""
        if self._redis is not None:
            return bool(self._redis.set(PREFIX + key, b"1", nx=True, ex=self.ttl_s))
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: t for k, t in self._seen.items() if t > now}
            if self._seen.get(key, 0.0) > now:
                return False
            self._seen[key] = now + self.ttl_s
            return True
