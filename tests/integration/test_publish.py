"""wire.publish sends a task as one LPUSH: the message must be the one Celery and kombu
would have stored, so every worker takes it as its own. (Every worker test also sends its
generate and deliver tasks this way.)"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import pytest
import redis
from celery import Celery
from kombu.exceptions import OperationalError

from wire.publish import Publisher

# What differs between two sends of the same task by design.
PER_SEND = {"id", "root_id", "correlation_id", "delivery_tag", "reply_to"}


def _app(broker: str, queue: str) -> Celery:
    app = Celery("publish-test", broker=broker, set_as_current=False)
    app.conf.update(
        broker_transport="wire.broker:Transport",
        task_routes={"t.*": {"queue": queue}},
        broker_connection_retry_on_startup=False,
    )
    return app


def _shape(value: Any) -> Any:
    """`value` with the per-send ids blanked."""
    if isinstance(value, dict):
        return {k: ("<id>" if k in PER_SEND else _shape(v)) for k, v in value.items()}
    return value


def _taken(client: redis.Redis, queue: str) -> dict[str, Any]:
    raw = client.rpop(queue)
    assert isinstance(raw, bytes), f"nothing in {queue}"
    message: dict[str, Any] = json.loads(raw)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


def test_a_published_message_is_the_one_apply_async_stores(
    redis_url: str, redis_prefix: str
) -> None:
    queue = f"{redis_prefix}queue"
    app = _app(redis_url, queue)
    client = redis.Redis.from_url(redis_url)
    args = [7, {"text": "héllo 👍", "turn_id": 3}, 1.5]
    app.signature("t.task", args=args).apply_async(ignore_result=True)
    ours = Publisher(app)
    ours.send("t.task", args)

    theirs, mine = _taken(client, queue), _taken(client, queue)
    assert client.llen(queue) == 0
    assert mine["body"][:2] == [args, {}]
    assert _shape(mine) == _shape(theirs)
    assert mine["headers"]["id"] == mine["properties"]["correlation_id"]
    assert mine["headers"]["ignore_result"] is True
    client.close()


def test_each_send_gets_its_own_ids(redis_url: str, redis_prefix: str) -> None:
    queue = f"{redis_prefix}queue"
    client = redis.Redis.from_url(redis_url)
    ours = Publisher(_app(redis_url, queue))
    ours.send("t.task", [1])
    ours.send("t.task", [2])
    first, second = _taken(client, queue), _taken(client, queue)
    assert first["headers"]["id"] != second["headers"]["id"]
    assert first["properties"]["delivery_tag"] != second["properties"]["delivery_tag"]
    client.close()


def test_an_unreachable_broker_is_celerys_error_not_a_lost_task(redis_prefix: str) -> None:
    app = _app("redis://127.0.0.1:1/0", f"{redis_prefix}queue")
    app.conf.task_publish_retry_policy = {"max_retries": 1, "interval_start": 0}
    started = time.monotonic()
    with pytest.raises(OperationalError):
        Publisher(app).send("t.task", [1])
    assert time.monotonic() - started < 30


ROUNDS, THREADS = 30, 8
SEND_S = 30.0  # one send is a millisecond; a send still running after this is stuck


def test_concurrent_first_sends_all_arrive(redis_url: str, redis_prefix: str) -> None:
    """A new Publisher's first sends from many threads at once (an adapter's first requests
    after it starts): each one arrives, none raises or hangs."""
    queue = f"{redis_prefix}queue"
    app = _app(redis_url, queue)
    client = redis.Redis.from_url(redis_url)
    failures: list[BaseException] = []
    for _ in range(ROUNDS):
        publisher = Publisher(app)
        start = threading.Barrier(THREADS)

        def send(publisher: Publisher = publisher, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                publisher.send("t.task", [1])
            except BaseException as exc:  # noqa: BLE001 - what the test is about
                failures.append(exc)

        threads = [threading.Thread(target=send, daemon=True) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SEND_S)
            assert not thread.is_alive(), "a send hung"
    assert failures == []
    assert client.llen(queue) == ROUNDS * THREADS
    client.delete(queue)
