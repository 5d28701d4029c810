"""Has this platform event been seen? Platforms retry what they think went unanswered
(Slack on a slow ack, WeCom on a slow callback), and several adapter replicas may each get
a copy: the first to claim an event id handles it, the rest drop it.

With a broker the claim is a Redis SET NX with a TTL, shared by every replica. Embedded
(one process, no Redis) it is a dictionary.

An adapter's event ids are claimed `open_when_away`: while Redis cannot be reached, an
event is handled unclaimed rather than refused. Refused, the platform got a 500 and tried
again later (Slack after 1 s, 1 minute and 5 minutes, then never): a message sent during an
outage was answered minutes late, or lost. Handled, it is stored at once and its reply
asked for as soon as the broker is back (or by the sweeper); the price is that a retry of
the same event during the outage is handled twice, and the platform retries only what it
got no answer for.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PREFIX = "replyloop:seen:"


class Dedupe:
    def __init__(self, redis_url: str | None, ttl_s: int, open_when_away: bool = False) -> None:
        self.ttl_s = ttl_s
        self.open_when_away = open_when_away
        self._redis = redis.Redis.from_url(redis_url) if redis_url else None
        # key -> (when it expires, its value): embedded only
        self._seen: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def first(self, key: str) -> bool:
        """Claim `key`: True the first time within the TTL, False for every repeat."""
        return self.claim(key, "1")[1]

    def claim(self, key: str, value: str) -> tuple[str, bool]:
        """Claim `key` for `value`: (the value that holds it, whether this claim made it).
        A repeat within the TTL gets the first claimer's value (a retry finds what its
        first try started)."""
        if self._redis is not None:
            try:
                if self._redis.set(PREFIX + key, value.encode(), nx=True, ex=self.ttl_s):
                    return value, True
                held = self._redis.get(PREFIX + key)
            except RedisError as exc:
                if not self.open_when_away:
                    raise
                log.warning("cannot claim %s (%r): handled unclaimed", key, exc)
                return value, True
            return (_text(held) if held is not None else value), False
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: seen for k, seen in self._seen.items() if seen[0] > now}
            held_until, held = self._seen.get(key, (0.0, ""))
            if held_until > now:
                return held, False
            self._seen[key] = (now + self.ttl_s, value)
            return value, True

    def put(self, key: str, value: str) -> None:
        """Hold `key` for `value` whoever held it (a claim's next state), for the TTL."""
        if self._redis is not None:
            self._redis.set(PREFIX + key, value.encode(), ex=self.ttl_s)
            return
        with self._lock:
            self._seen[key] = (time.monotonic() + self.ttl_s, value)

    def drop(self, key: str) -> None:
        """Let `key` go: the next claim of it is a first again."""
        if self._redis is not None:
            self._redis.delete(PREFIX + key)
            return
        with self._lock:
            self._seen.pop(key, None)

    def held(self, key: str) -> str | None:
        """The value that holds `key`, if it is claimed."""
        if self._redis is not None:
            found = self._redis.get(PREFIX + key)
            return _text(found) if found is not None else None
        with self._lock:
            held_until, held = self._seen.get(key, (0.0, ""))
            return held if held_until > time.monotonic() else None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
