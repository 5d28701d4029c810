"""Requests that wait for an earlier reply of their conversation, handed on by whichever
gpu worker stores a reply there.

A worker that finds a message behind an earlier one still being answered (by another
worker, or still queued) puts its request in its conversation's sorted set,
`replyloop:behind:<conversation id>`, scored by message id, and acknowledges its task: the
request does no work and holds none of the worker's prefetch slots while it waits, so one
flooded conversation cannot keep other chats' requests in the broker. The worker that
stores a reply of that conversation takes out that message's own entries and the lowest
request left, and queues it again (wire.messages.resume): one at a time, in order.

Taking the lowest may wake a request whose earlier message is still to come (queued
elsewhere); it finds itself behind again and waits again, so nothing is lost. A hand-on
that never happens (a worker died between storing and handing on) is caught by the
request's backstop, wire.messages.ask_again.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import replace

import redis

from wire.messages import ReplyRequest

PREFIX = "replyloop:behind:"


def _member(request: ReplyRequest) -> str:
    # Without its backstop count: a request waiting again is the same entry, not another.
    return json.dumps(replace(request, asked_again=0).to_wire(), sort_keys=True)


class WaitingRequests:
    def __init__(self, redis_url: str, ttl_s: float) -> None:
        self._redis = redis.Redis.from_url(redis_url, decode_responses=True)
        self.ttl_s = max(1, int(ttl_s))

    def wait(self, waiting: Sequence[tuple[int, ReplyRequest]]) -> list[int]:
        """Put each (conversation id, request) in its conversation's queue, in one round
        trip; how many wait ahead of each."""
        with self._redis.pipeline(transaction=False) as pipe:
            for conversation, request in waiting:
                key = f"{PREFIX}{conversation}"
                member = _member(request)
                pipe.zadd(key, {member: request.message_id})
                pipe.expire(key, self.ttl_s)
                pipe.zrank(key, member)
            found = pipe.execute()
        return [int(rank or 0) for rank in found[2::3]]

    def take_back(self, conversation: int, request: ReplyRequest) -> bool:
        """Take `request` out again; False when a worker has handed it on already."""
        return bool(self._redis.zrem(f"{PREFIX}{conversation}", _member(request)))

    def hand_on(self, answered: Sequence[tuple[int, int]]) -> list[ReplyRequest]:
        """For each (conversation id, message id) whose reply is now stored: drop that
        message's own entries, and take out the lowest request still waiting there. The
        requests to queue again, in one round trip."""
        with self._redis.pipeline(transaction=True) as pipe:
            for conversation, message_id in answered:
                key = f"{PREFIX}{conversation}"
                pipe.zremrangebyscore(key, message_id, message_id)
                pipe.zpopmin(key, 1)
            found = pipe.execute()
        popped = [entry for removed_and_popped in found[1::2] for entry, _ in removed_and_popped]
        return [ReplyRequest.from_wire(json.loads(entry)) for entry in popped]

    def waiting_in(self, conversations: Collection[int]) -> set[int]:
        """The message ids of every request waiting in these conversations, in one round
        trip."""
        with self._redis.pipeline(transaction=False) as pipe:
            for conversation in conversations:
                pipe.zrange(f"{PREFIX}{conversation}", 0, -1, withscores=True)
            found = pipe.execute()
        return {int(score) for entries in found for _, score in entries}
