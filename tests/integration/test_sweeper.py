"""Every stored message is answered (issue 20): the sweeper asks again for the replies whose
tasks were lost, and only for those.

First the sweeper alone, in this process, on the workers' broker with no worker taking
anything: what it counts as in hand and what it queues. Then real workers: messages
stored with their tasks lost get exactly one reply each, from the io worker's sweeper."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import states
from celery.signals import task_postrun
from sqlalchemy import select

from bots.intake import request_reply, store_message
from bots.outbox import outbox
from bots.redelivery import DELIVERING
from bots.sweeper import GIVEN_UP, Sweeper
from core.settings import Settings
from core.store import Store, open_store
from core.store.schema import kept_votes
from core.types import IncomingMessage, Vote
from replyloop.bootstrap import bootstrap
from tests.integration.workers import start_workers, worker_env
from wire.claims import CLAIM_EVERY_S, CLAIM_TTL_S, DELIVERY_TTL_S, Claims
from wire.queues import GPU_QUEUE, IO_QUEUE

AFTER_S = 1


@pytest.fixture
def quiet_broker(worker_broker: str) -> Iterator[redis.Redis]:
    """The workers' broker (this run's own database) with no worker on it: whatever is
    queued stays to be looked at. Claims left by earlier tests' workers are dropped first:
    their message ids were another store's. The queues and claims are deleted after."""
    client = redis.Redis.from_url(worker_broker)
    assert client.llen(GPU_QUEUE) == 0 and client.llen(IO_QUEUE) == 0, "a worker's leftovers"
    _forget_sweeps(client)
    yield client
    client.delete(GPU_QUEUE, IO_QUEUE, "unacked", "unacked_index")
    _forget_sweeps(client)


def _forget_sweeps(client: redis.Redis) -> None:
    for pattern in ("replyloop:claim:*", "replyloop:swept:*", "replyloop:sweeper"):
        for key in client.scan_iter(match=pattern):
            client.delete(key)


def _stored(store: Store, chat: str, text: str) -> int:
    return store_message(store, IncomingMessage("terminal", chat, "someone", text))


def _take(client: redis.Redis, message_id: int, at: float) -> None:
    """Queue a reply request for `message_id`, and move it where kombu keeps a task a worker
    took at epoch `at` and has not acknowledged."""
    request_reply(message_id)
    raw = client.lpop(GPU_QUEUE)  # the one just pushed (workers take from the other end)
    assert isinstance(raw, bytes)
    tag = f"tag-{message_id}-{at}"
    client.hset("unacked", tag, json.dumps([json.loads(raw), "", GPU_QUEUE]))
    client.zadd("unacked_index", {tag: at})


def _queued(client: redis.Redis, queue: str) -> list[int]:
    """The messages `queue` holds a task for, as the sweeper reads them."""
    url = "redis://{host}:{port}/{db}".format(**client.connection_pool.connection_kwargs)
    return sorted(Claims(url).queued_messages([queue]))


def _asked_live(client: redis.Redis, queue: str) -> dict[int, bool]:
    """Each reply request `queue` holds: its message, and whether it is asked for live."""
    found = {}
    for raw in client.lrange(queue, 0, -1):
        fields = json.loads(base64.b64decode(json.loads(raw)["body"]))[0][0]
        found[int(fields["message_id"])] = bool(fields["live"])
    return found


def test_only_messages_with_no_request_in_hand_are_asked_for_again(
    quiet_broker: redis.Redis, worker_broker: str, db_url: str
) -> None:
    settings = Settings(
        _env_file=None,
        broker_url=worker_broker,
        database_url=db_url,
        sweep_after_s=AFTER_S,
        sweep_attempts=2,
    )
    store = bootstrap(settings).store
    chat = f"chat-{secrets.token_hex(4)}"
    lost = [_stored(store, chat, f"lost {n}") for n in range(3)]  # stored; the task never sent
    queued = [_stored(store, f"{chat}-q", f"queued {n}") for n in range(2)]
    for message_id in queued:
        request_reply(message_id)  # in the gpu queue: in hand
    held = _stored(store, f"{chat}-h", "held by a worker")
    Claims(worker_broker).hold([held])
    # Taken from the queue by a worker a moment ago, not yet claimed; and one a worker took
    # long ago and never acknowledged (it died): that one is lost.
    taken = _stored(store, f"{chat}-t", "just taken")
    dead = _stored(store, f"{chat}-d", "taken by a worker that died")
    _take(quiet_broker, taken, time.time())
    _take(quiet_broker, dead, time.time() - 600)
    time.sleep(AFTER_S + 0.2)  # all of them old enough to look at
    young = _stored(store, f"{chat}-y", "just now")  # too young: its request may be on its way
    # Reactions on messages that are no reply: one a day old, one just now.
    now = datetime.now(UTC)
    store.keep_vote("slack", "C1:1.0", "U1", Vote.UP, "reaction", None, now - timedelta(days=1.1))
    store.keep_vote("slack", "C1:2.0", "U1", Vote.UP, "reaction", None, now)
    sweeper = Sweeper(settings, store)

    first = sweeper.sweep()
    assert (first.waiting, first.in_hand, first.queued, first.given_up) == (8, 4, 4, 0)
    assert _queued(quiet_broker, GPU_QUEUE) == sorted([*lost, *queued, dead])
    assert young not in _queued(quiet_broker, GPU_QUEUE)
    # Asked for live: each may have been streamed before its task was lost.
    asked = _asked_live(quiet_broker, GPU_QUEUE)
    assert [asked[m] for m in [*lost, dead]] == [True] * (len(lost) + 1)
    assert not any(asked[m] for m in queued)  # as their adapters asked
    with store.engine.connect() as conn:  # the day-old kept vote is dropped, not the other
        assert list(conn.scalars(select(kept_votes.c.posted_as))) == ["C1:2.0"]

    again = sweeper.sweep()  # everything is in hand now: nothing is queued twice
    assert (again.in_hand, again.queued) == (8, 0)
    assert len(quiet_broker.lrange(GPU_QUEUE, 0, -1)) == 6

    # Redis comes back empty: the queued requests and the claims are gone with it.
    quiet_broker.delete(GPU_QUEUE, "unacked", "unacked_index")
    for key in quiet_broker.scan_iter(match="replyloop:claim:*"):
        quiet_broker.delete(key)
    time.sleep(AFTER_S + 0.2)  # `young` is old enough now too
    after_crash = sweeper.sweep()
    assert after_crash.queued == 9
    everyone = [*lost, *queued, held, young, taken, dead]
    assert _queued(quiet_broker, GPU_QUEUE) == sorted(everyone)

    # A message swept more than sweep_attempts times is given up, and its chat told.
    quiet_broker.delete(GPU_QUEUE)
    for key in quiet_broker.scan_iter(match="replyloop:claim:*"):
        quiet_broker.delete(key)
    last = sweeper.sweep()
    assert last.given_up == 4  # the lost three and the dead one were swept twice already
    notices = quiet_broker.lrange(IO_QUEUE, 0, -1)
    assert len(notices) == 4 and all(GIVEN_UP.encode() in n for n in notices)
    assert _queued(quiet_broker, GPU_QUEUE) == sorted([*queued, held, young, taken])
    assert sweeper.sweep().waiting == 5  # the given-up four wait no more


def test_messages_whose_tasks_were_lost_get_one_reply_each(
    worker_broker: str, tiny_model: Path, tmp_path: Path, sqlite_url: str
) -> None:
    env = worker_env(
        worker_broker,
        sqlite_url,
        tiny_model,
        tmp_path,
        max_new_tokens="4",
        sweep_after_s="2",
        sweep_every_s="0.5",
    )
    settings = Settings(_env_file=None, broker_url=worker_broker, database_url=sqlite_url)
    store = open_store(sqlite_url)
    chats = [f"lost-{secrets.token_hex(4)}" for _ in range(4)]
    # Stored while no worker ran, and their tasks never sent: as after a Redis crash.
    lost = {chat: _stored(store, chat, f"hello from {chat}") for chat in chats}
    workers = start_workers(env, tmp_path)
    try:
        bootstrap(settings)
        box = outbox(worker_broker)
        replies: dict[str, list[dict[str, Any]]] = {chat: [] for chat in chats}
        for chat in chats:
            item = box.get(chat, 120)
            assert item is not None, f"{chat}: no reply\n{workers.logs()}"
            replies[chat].append(item)
        # Several sweeps later (one a 0.5 s, a message 2 s old), still one reply each.
        time.sleep(2 + 4 * 0.5)
        for chat in chats:
            while (extra := box.get(chat, 0.1)) is not None:
                replies[chat].append(extra)
        assert {chat: [r["message_id"] for r in got] for chat, got in replies.items()} == {
            chat: [lost[chat]] for chat in chats
        }
    finally:
        workers.stop()
        store.engine.dispose()
        _forget_sweeps(redis.Redis.from_url(worker_broker))


def test_a_delivery_holds_its_replies_while_it_runs_and_through_its_backoff(
    quiet_broker: redis.Redis, worker_broker: str, db_url: str
) -> None:
    """A delivery's claims are renewed while it runs, so those of a worker killed with -9
    lapse in CLAIM_TTL_S; one that ends by waiting to retry holds them through its backoff;
    one that is done stops renewing them."""
    bootstrap(Settings(_env_file=None, broker_url=worker_broker, database_url=db_url))
    claims = Claims(worker_broker)
    running, done = f"delivery-{secrets.token_hex(4)}", f"delivery-{secrets.token_hex(4)}"
    DELIVERING.begin(claims, running, [900001])
    DELIVERING.begin(claims, done, [900002])
    key = "replyloop:claim:900001"
    assert 0 < quiet_broker.ttl(key) <= CLAIM_TTL_S
    quiet_broker.delete(key)  # as if it had lapsed: the next renewal claims it again
    deadline = time.monotonic() + 6 * CLAIM_EVERY_S
    while not quiet_broker.exists(key) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert quiet_broker.exists(key), "a running delivery's claim was not renewed"
    task_postrun.send(sender=None, task_id=running, state=states.RETRY)
    assert CLAIM_TTL_S < quiet_broker.ttl(key) <= DELIVERY_TTL_S
    task_postrun.send(sender=None, task_id=done, state=states.SUCCESS)
    assert not {900001, 900002} & set(DELIVERING.held())
