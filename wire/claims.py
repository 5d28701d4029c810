"""Which stored messages have a reply in hand somewhere: what the sweeper must not queue
again (bots.sweeper).

A message's request is in hand while it is
- queued: its request is in the gpu queue's list, or its delivery in the io queue's
  (`queued_messages` reads them there);
- just taken by a worker, which has yet to claim it (`taken_since`);
- held by a gpu worker (taken, parked, being generated or stored): the worker renews a
  claim, `replyloop:claim:<message id>`, every CLAIM_EVERY_S while it holds the request
  (`Claims.hold`), and a worker killed with -9 stops renewing, so its claims lapse after
  CLAIM_TTL_S;
- waiting behind an earlier reply of its conversation (wire.behind).
- being delivered: the io worker claims the replies of each delivery it runs, renewed the
  same way while the task runs (a worker killed mid-delivery lets them lapse after
  CLAIM_TTL_S), and for DELIVERY_TTL_S once more when the task waits to retry.
Everything here lives in the broker's Redis, with the tasks themselves: a Redis that comes
back empty (no persistence) loses the claims with the tasks, and the sweeper sees those
messages as lost, which they are.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

import redis

log = logging.getLogger(__name__)

PREFIX = "replyloop:claim:"
# kombu's Redis transport: tasks taken by a worker and not yet acknowledged, by delivery tag
# (QoS.append), and when each was taken.
UNACKED, UNACKED_INDEX = "unacked", "unacked_index"
CLAIM_EVERY_S = 5.0
CLAIM_TTL_S = 20  # four renewals missed: the worker is gone (or stuck in one step that long)
DELIVERY_TTL_S = 60  # a delivery waiting to retry (its backoff) is in hand that long


class Claims:
    def __init__(self, redis_url: str) -> None:
        self._redis = redis.Redis.from_url(redis_url)

    def hold(self, message_ids: Iterable[int], ttl_s: int = CLAIM_TTL_S) -> None:
        """Claim (or renew the claim on) these messages for `ttl_s` seconds: one round trip."""
        with self._redis.pipeline(transaction=False) as pipe:
            for message_id in message_ids:
                pipe.set(f"{PREFIX}{message_id}", 1, ex=ttl_s)
            pipe.execute()

    def held(self, message_ids: Collection[int]) -> set[int]:
        """Those of `message_ids` that someone holds."""
        ids = list(message_ids)
        if not ids:
            return set()
        found = self._redis.mget([f"{PREFIX}{message_id}" for message_id in ids])
        return {message_id for message_id, value in zip(ids, found, strict=True) if value}

    def queued_messages(self, queues: Iterable[str]) -> set[int]:
        """The message ids of every reply request and delivery in these queues' lists (kombu
        Redis queues, as wire.publish and apply_async store a task): read whole, which
        costs about 20 µs a task, fine every few seconds for a backlog of thousands."""
        found: set[int] = set()
        for queue in queues:
            for raw in self._redis.lrange(queue, 0, -1):
                found.update(_message_ids(raw))
        return found

    def taken_since(self, seconds: float) -> set[int]:
        """The messages of tasks a worker took in the last `seconds` and has not yet
        acknowledged (kombu's `unacked` hash, indexed by when each was taken): a request
        is there from the moment it leaves its queue's list until its worker claims it
        (or acknowledges it). Older entries there may be a dead worker's, so they do not
        count; read after `queued_messages`, so a task moving from the one to the other
        is seen in one of them."""
        tags: list[Any] = self._redis.zrange(  # type: ignore[assignment]
            UNACKED_INDEX, "+inf", time.time() - seconds, desc=True, byscore=True
        )
        if not tags:
            return set()
        found: set[int] = set()
        for value in self._redis.hmget(UNACKED, tags):
            if value is None:
                continue  # acknowledged meanwhile
            try:
                envelope = json.loads(value)[0]
            except (ValueError, IndexError, TypeError):
                continue
            found.update(_message_ids(envelope))
        return found


def keep_claimed(claims: Claims, held: Callable[[], list[int]]) -> threading.Thread:
    """Start renewing the claims on `held()` (the message ids this process holds now)
    every CLAIM_EVERY_S, on a thread of their own, so a long generation or a busy thread
    never lets one lapse while the process lives. Threads do not survive fork: a process
    calls this for itself."""

    def renew() -> None:
        while True:
            try:
                if ids := held():
                    claims.hold(ids)
            except Exception as exc:  # noqa: BLE001 - Redis away: the next round tries again
                log.warning("cannot renew claims (%r)", exc)
            time.sleep(CLAIM_EVERY_S)

    thread = threading.Thread(target=renew, name="claims", daemon=True)
    thread.start()
    return thread


def _message_ids(raw: bytes | str | dict[str, Any]) -> list[int]:
    """The messages a queued task (its envelope, or that as JSON) is about: a reply
    request's `message_id`, or those of a delivery's replies; none for any other task."""
    try:
        envelope: dict[str, Any] = raw if isinstance(raw, dict) else json.loads(raw)
        fields = json.loads(base64.b64decode(envelope["body"]))[0][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return []  # not a task this release can read
    if not isinstance(fields, dict):
        return []
    if "message_id" in fields:
        return [int(fields["message_id"])]
    replies = fields.get("replies")
    if isinstance(replies, list):
        return [int(r["message_id"]) for r in replies if isinstance(r, dict) and "message_id" in r]
    return []
