"""Sending a task to a Redis broker in one Redis command.

`apply_async` goes through kombu's producer machinery (producer pool, entity binding, the
declare cache, the serializer registry): about a thousand Python calls a send, 0.8 to 1 ms
in the reply loop's chat and gpu worker, where each send follows an idle wait. Here Celery
still builds the message (its task protocol 2, `app.amqp.as_task_v2`), and it is stored the
way kombu's Redis transport stores one sent to the default exchange (`Channel._put`): a JSON
envelope with the body in base64, LPUSHed to the queue's list. Workers take it like any
other.

Only for the plain Redis transport (`wire.broker`) and tasks sent by name with no
options; anything else goes through `apply_async`. A send that fails on the Redis
connection is tried again through `apply_async`, whose retry policy and errors are
Celery's own.
"""

from __future__ import annotations

import base64
import os
import threading
import uuid
from typing import Any

from celery import Celery
from kombu.utils.json import dumps
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from wire.broker import Channel


class Publisher:
    """One a process (a forked child makes its own on first use)."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._made_for: tuple[int, str | None] | None = None  # (process, broker URL)
        self._connection: Any = None
        self._client: Any = None
        self._queues: dict[str, str] = {}
        # Setting up the shared connection is one thread's job: two first sends at once
        # each took a connection from kombu's pool and released the other's, and a send
        # then hung or failed on a closed socket after the platform was answered.
        self._setup = threading.Lock()

    def send(self, name: str, args: list[Any]) -> None:
        """Queue task `name` with `args`, no result wanted."""
        client = self._redis()
        if client is None:
            self._fallback(name, args)
            return
        queue = self._queue(name)
        try:
            client.lpush(queue, self.envelope(name, args, queue))
        except (RedisConnectionError, RedisTimeoutError):
            self._fallback(name, args)

    def envelope(self, name: str, args: list[Any], queue: str) -> str:
        """The message as kombu's Redis transport keeps it in the queue's list."""
        task_id = str(uuid.uuid4())
        message = self.app.amqp.as_task_v2(task_id, name, tuple(args), ignore_result=True)
        body = dumps(message.body).encode()
        return str(
            dumps(
                {
                    "body": base64.b64encode(body).decode(),
                    "content-encoding": "utf-8",
                    "content-type": "application/json",
                    "headers": message.headers,
                    "properties": {
                        **message.properties,
                        "delivery_mode": 2,
                        "delivery_info": {"exchange": "", "routing_key": queue},
                        "priority": 0,
                        "body_encoding": "base64",
                        "delivery_tag": str(uuid.uuid4()),
                    },
                }
            )
        )

    def _fallback(self, name: str, args: list[Any]) -> None:
        self.app.signature(name, args=args).apply_async(ignore_result=True)

    def _queue(self, name: str) -> str:
        queue = self._queues.get(name)
        if queue is None:
            route = self.app.amqp.router.route({}, name)
            queue = self._queues[name] = str(route["queue"].name)
        return queue

    def _redis(self) -> Any:
        """The broker's Redis client, from the app's own connection (URL, TLS and timeouts
        as the workers see them); None when the broker is not plain Redis, when the app
        runs tasks in-process, or when it cannot be reached (apply_async then says why)."""
        if self.app.conf.task_always_eager:
            return None
        made_for = (os.getpid(), self.app.conf.broker_url)
        if self._made_for == made_for:
            return self._client
        with self._setup:
            return self._set_up(made_for)

    def _set_up(self, made_for: tuple[int, str | None]) -> Any:
        if self._made_for != made_for:  # not set up by another thread while this one waited
            self._queues.clear()
            connection = self.app.connection_for_write()
            try:
                channel = connection.default_channel
            except Exception:  # noqa: BLE001 - apply_async reports it, and retries
                connection.release()
                return None
            if self._connection is not None and self._made_for and self._made_for[0] == os.getpid():
                self._connection.release()  # made for another broker URL
            self._connection, self._client = None, None
            if isinstance(channel, Channel):
                self._connection, self._client = connection, channel.client
            else:
                connection.release()
            self._made_for = made_for
        return self._client
