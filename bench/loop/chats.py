"""One round of bench/loop through the real pipeline: each message in a chat of its own,
stored and queued as `replyloop chat` does, answered by the running gpu worker, delivered
by the io worker to the chat's outbox in Redis; then the raters' votes, each a Celery vote
task that the io worker stores, as a terminal `/good` or `/bad` is."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from bench.loop.raters import Rater, assign
from bench.loop.relevance import Topic
from bots.intake import request_reply, store_message
from bots.outbox import BLOCK_SLICE_S, KEY
from core.store import Store
from core.types import ChatMessage, IncomingMessage, Vote
from wire.messages import CastVote
from wire.tasks import ask

PLATFORM = "terminal"
REPLY_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Served:
    message: str
    turn_id: int
    prompt: list[ChatMessage]  # what the model saw
    reply: str
    model_version: str
    new_tokens: int


@dataclass(frozen=True)
class Cast:
    turn_id: int
    rater: str
    liked: bool


def serve(
    store: Store, broker_url: str, messages: Sequence[str], round_name: str, in_flight: int
) -> list[Served]:
    """Send every message, keeping `in_flight` chats waiting at once (so the gpu worker
    batches them as it would concurrent people); return the replies in message order."""
    client = redis.Redis.from_url(broker_url)
    waiting: dict[str, int] = {}  # outbox key -> index of the message
    turn_ids: dict[int, int] = {}
    queued = iter(enumerate(messages))

    def send_next() -> None:
        for index, text in queued:
            chat = f"loop-{round_name}-{index}"
            message_id = store_message(store, IncomingMessage(PLATFORM, chat, "person", text))
            request_reply(message_id)
            waiting[KEY.format(platform="terminal", chat_key=chat)] = index
            return

    for _ in range(in_flight):
        send_next()
    try:
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while waiting:
            # short blocking reads: redis-py's socket timeout (5 s) is below a first reply
            found = client.blpop(list(waiting), timeout=BLOCK_SLICE_S)
            if found is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no reply to any of {len(waiting)} messages in time")
                continue
            deadline = time.monotonic() + REPLY_TIMEOUT_S
            key, value = (v if isinstance(v, str) else v.decode() for v in found)
            item: dict[str, Any] = json.loads(value)
            if "turn_id" not in item:
                raise RuntimeError(f"the pipeline answered {item} instead of a reply")
            turn_ids[waiting.pop(key)] = int(item["turn_id"])
            send_next()
    finally:
        client.close()
    served = []
    for index, text in enumerate(messages):
        turn = store.turn(turn_ids[index])
        served.append(
            Served(
                text,
                turn.id,
                turn.prompt,
                turn.completion,
                turn.model_version,
                int(turn.timings["new_tokens"]),
            )
        )
    return served


def rate(
    served: Sequence[Served],
    raters: list[Rater],
    members: int,
    seed: int,
    topics: dict[str, Topic],
) -> list[Cast]:
    """Each reply seen by `members` raters of the panel (its chat), each of whom votes or
    not as they do (sparsely, with noise); every vote cast stored through the io worker's
    vote task, and checked stored."""
    casts = []
    for s in served:
        for r in assign(raters, seed, s.turn_id, members):
            liked = r.vote(s.message, s.reply, topics[s.message], seed, s.turn_id)
            if liked is not None:
                casts.append(Cast(s.turn_id, r.name, liked))
    pending = [
        ask(CastVote(c.turn_id, c.rater, int(Vote.UP if c.liked else Vote.DOWN), PLATFORM))
        for c in casts
    ]
    for cast, result in zip(casts, pending, strict=True):
        outcome: dict[str, Any] = result.get(timeout=REPLY_TIMEOUT_S)
        if not outcome["ok"]:
            raise RuntimeError(f"vote {cast} not stored: {outcome['error']}")
    return casts


def approval(casts: Sequence[Cast]) -> float:
    """Share of 👍 among the votes (0 with none)."""
    return sum(c.liked for c in casts) / len(casts) if casts else 0.0
