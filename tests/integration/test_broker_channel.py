"""wire.broker's channel when the broker goes away under it: the gpu worker must survive a
Redis restart (issue 20). On a lost connection Celery closes the connection, which drops
the transport's client info, and then closes the channel, which restores its unacked
messages: making a client then failed with AttributeError ('NoneType' ... 'hostname'),
which Celery took as unrecoverable, and the worker exited for good."""

from __future__ import annotations

import redis
from kombu import Connection, Exchange, Queue

from wire.broker import Channel


def test_unacked_messages_are_restored_after_the_connection_closed_under_the_channel(
    redis_url: str, redis_prefix: str
) -> None:
    name = f"{redis_prefix}restore"
    queue = Queue(name, Exchange(name, type="direct"), routing_key=name)
    client = redis.Redis.from_url(redis_url)
    with Connection(redis_url, transport="wire.broker:Transport") as producer:
        producer.Producer().publish(
            {"n": 1}, exchange=queue.exchange, routing_key=name, declare=[queue]
        )
    connection = Connection(redis_url, transport="wire.broker:Transport")
    channel = connection.channel()
    assert isinstance(channel, Channel)
    message = queue(channel).get(no_ack=False)  # taken, not acknowledged
    assert message is not None and message.payload == {"n": 1}
    assert client.llen(name) == 0

    connection._do_close_transport()  # what kombu does when Celery drops a dead connection
    channel.close()  # restores the unacked message: it must neither raise nor lose it

    try:
        assert client.llen(name) == 1, "the unacked message was not restored"
    finally:
        client.delete(name, f"_kombu.binding.{name}")
