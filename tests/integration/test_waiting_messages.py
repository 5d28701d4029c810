"""A message behind an earlier one of its conversation waits without work: it is queued
again by the worker that stores the earlier reply (wire.behind), and asks again on its own
only as a slow backstop, where it used to re-queue itself every 0.2 s (issue 20)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import redis

from bots.intake import request_reply, store_message
from core.types import IncomingMessage
from tests.integration.conftest import Chat
from wire.queues import GPU_QUEUE

WAIT_S = 12.0  # the earlier reply takes this long: 60 re-queues at the old 0.2 s
HANDFUL = 5  # the backstop's 2, 4, 8 s make 3


@contextmanager
def gpu_pushes(broker_url: str) -> Iterator[list[str]]:
    """Every task pushed onto the gpu queue of `broker_url` while the block runs, as
    Redis's MONITOR sees it."""
    db = int(urlsplit(broker_url).path.strip("/") or 0)
    pushed: list[str] = []
    client = redis.Redis.from_url(broker_url)
    stop = threading.Event()
    ready = threading.Event()

    def watch() -> None:
        with client.monitor() as monitor:
            ready.set()
            while not stop.is_set():
                seen = monitor.next_command()
                command = str(seen["command"])
                if seen["db"] == db and command.startswith(f"LPUSH {GPU_QUEUE} "):
                    pushed.append(command)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert ready.wait(10), "MONITOR did not start"
    try:
        yield pushed
    finally:
        stop.set()
        client.ping()  # one more command, so the watcher wakes and sees `stop`
        watcher.join(10)
        client.close()


def test_a_waiting_message_does_not_requeue_itself_while_the_earlier_reply_takes_long(
    chat: Chat,
) -> None:
    first_id = store_message(chat.store, IncomingMessage("terminal", chat.key, "u", "first"))
    with gpu_pushes(chat.workers.broker_url) as pushed:
        second_id = chat.say("second")  # behind the first, whose reply is not even asked for
        time.sleep(WAIT_S)
        waiting = len(pushed)
    assert chat.turns_of(second_id) == [], "answered before the earlier message"
    assert 1 <= waiting <= 1 + HANDFUL, f"{waiting} pushes to the gpu queue while it waited"
    request_reply(first_id)
    first, second = chat.turn(), chat.turn()
    assert (first.message_id, second.message_id) == (first_id, second_id)
    assert second.prompt[1:] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": first.completion},
        {"role": "user", "content": "second"},
    ]


def test_a_flooded_conversation_is_answered_in_order_with_every_message_seen(
    chat: Chat,
) -> None:
    """Many messages of one conversation at once: parked one at a time, the rest waiting
    in Redis, each reply handed on to the next; each sees every reply before it."""
    sent = [chat.say(f"message {n}") for n in range(12)]
    turns = [chat.turn() for _ in sent]
    assert [t.message_id for t in turns] == sent
    for before, turn in zip(turns, turns[1:], strict=False):
        # The reply to the message before is the last thing before its own.
        assert turn.prompt[-2:] == [
            {"role": "assistant", "content": before.completion},
            {"role": "user", "content": f"message {sent.index(turn.message_id)}"},
        ]
