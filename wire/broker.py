"""The Redis transport of the Celery app: kombu's, with one client object a channel.

kombu builds a new `redis.Redis` (about 170 response callbacks registered each time) for
every publish, and for the bookkeeping of every message a worker takes and acknowledges:
about 0.1 ms of CPU each, several a message. A `redis.Redis` is thread-safe (each command
takes a connection from the pool), so one per channel and connection pool serves them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError

# URL schemes that kombu serves with its plain Redis transport (not Sentinel).
SCHEMES = ("redis", "rediss")


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    _shared: tuple[Any, Any] | None = None  # (the pool it was made for, the client)
    _params: dict[bool, dict[str, Any]] | None = None  # asynchronous? -> connection params

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        """kombu's, remembered: when Redis goes away, Celery closes the connection (which
        drops the transport's client info) before the channel, whose close then restores
        its unacked messages on a new pool made from that info. kombu raised
        AttributeError there ('NoneType' has no 'hostname'), which Celery took as
        unrecoverable: the gpu worker exited for good after a Redis restart (issue 20)."""
        if self._params is None:
            self._params = {}
        if self.connection is not None and self.connection.client is not None:
            self._params[asynchronous] = dict(super()._connparams(asynchronous=asynchronous))
        elif asynchronous not in self._params:
            raise ConnectionError("the broker connection was closed under this channel")
        return dict(self._params[asynchronous])

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = self.pool
        if self._shared is None or self._shared[0] is not pool:  # first use, or a new pool
            self._shared = (pool, self._create_client())
        yield self._shared[1]


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel
