"""One message a task, each with its sender: what bots and workers say to each other.

Fields are plain JSON (ids, text, numbers): never an ORM row or an SDK object. Their order
is the positional order of the release before (wire.tasks.TaskMessage.from_wire).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from core.types import Delivery
from wire.queues import GENERATE, INTAKE, PLATFORM_VOTE, VOTE, deliver_task, notice_task
from wire.tasks import TaskMessage, send, send_later


@dataclass(frozen=True)
class ReplyRequest(TaskMessage):
    """Make a reply to a stored message (the gpu queue)."""

    TASK = GENERATE

    message_id: int
    request_key: str  # the first reply to a message has a fixed key; each retry a new one
    enqueued_at: float | None = None  # epoch seconds, for the queued_s timing
    live: bool = False  # the text so far is wanted while it grows (wire.live)
    asked_again: int = 0  # how many times it was queued again as a backstop (ask_again)


def first_key(message_id: int) -> str:
    """The request key of a message's first reply (a message delivered twice is answered
    once)."""
    return f"msg:{message_id}"


def request_reply(
    message_id: int, retry: bool = False, retry_id: str | None = None, live: bool = False
) -> str:
    """Queue generation of a reply (or, with retry, of a sibling reply) to a stored message.

    Returns the request key: the first reply to a message has a fixed one, so a message
    that is delivered twice is answered once; every retry gets a fresh one, unless the
    platform names the retry (`retry_id`: a task that runs twice asks for one sibling).
    `live`: the text so far is written while it is generated (wire.live).
    """
    key = f"retry:{retry_id or uuid.uuid4().hex}" if retry else first_key(message_id)
    send(ReplyRequest(message_id, key, time.time(), live))
    return key


# A message that waits for the reply to an earlier one of its conversation is queued again
# by the worker that stores that reply (workers.replier, wire.behind): asking again on a
# timer is only the backstop for a hand-over that was lost (a worker died between storing
# and handing on). It used to be every 0.2 s for up to 300 s, 1,500 tasks a waiting
# message; doubling from 2 s to at most 60 s is 8 over those 300 s. A request with others
# waiting ahead of it in its conversation cannot be answered before them, so its first
# wait grows with them: a flood of 300 asks 300 times, not 1,200 (bench/flood.py).
AGAIN_FIRST_S = 2.0
AGAIN_MOST_S = 60.0


def again_in(asked_again: int, ahead: int = 0) -> float:
    """Seconds until the backstop asks again, the `asked_again`th time it did, with
    `ahead` requests waiting before it.

    >>> [again_in(n) for n in range(6)]
    [2.0, 4.0, 8.0, 16.0, 32.0, 60.0]
    >>> again_in(0, ahead=3), again_in(0, ahead=200)
    (8.0, 60.0)
    """
    return min(AGAIN_MOST_S, AGAIN_FIRST_S * 2 ** min(asked_again, 16) * (1 + ahead))


def ask_again(request: ReplyRequest, ahead: int = 0) -> None:
    """Queue `request` again later, as the backstop (see AGAIN_FIRST_S); it keeps its
    first queue time, so its wait is bounded from when it first arrived."""
    asked = request.asked_again
    send_later(replace(request, asked_again=asked + 1), again_in(asked, ahead))


def resume(request: ReplyRequest) -> None:
    """Queue `request` now: the reply it waited for is stored."""
    send(request)


@dataclass(frozen=True)
class Intake(TaskMessage):
    """Store a message its adapter could not (the database was down then), and queue its
    reply (the io queue)."""

    TASK = INTAKE

    platform: str
    chat_key: str
    author: str
    text: str
    platform_message_id: str | None
    awaits_reply: bool = True  # False: over a limit (bots.limits), stored unanswered


def send_intake(message: Intake) -> None:
    send(message)


@dataclass(frozen=True)
class CastVote(TaskMessage):
    """A vote action on a stored reply, by its turn id (the io queue; the result says what
    to tell the rater)."""

    TASK = VOTE

    turn_id: int
    rater: str
    value: int  # core.types.Vote
    source: str
    reasons: dict[str, Any] | None = None


def send_vote(message: CastVote) -> None:
    send(message)


@dataclass(frozen=True)
class PlatformVote(TaskMessage):
    """A vote on the reply the platform knows as `posted_as` (a Slack reaction knows only
    that), acted at epoch `at`. A vote on a reply not yet stored as delivered is kept until
    it is (bots.votes). `wait_s` is read and unused: the release before waited that long
    for the reply, then dropped the vote."""

    TASK = PLATFORM_VOTE

    platform: str
    posted_as: str
    rater: str
    value: int  # core.types.Vote
    source: str
    at: float | None = None
    reasons: dict[str, Any] | None = None
    wait_s: float = 0.0


def send_platform_vote(message: PlatformVote) -> None:
    send(message)


@dataclass(frozen=True)
class Deliveries(TaskMessage):
    """The stored replies of one generated batch for one platform: each platform's delivery
    task (wire.queues.deliver_task) posts them."""

    replies: list[Delivery] = field(default_factory=list)


def send_deliveries(platform: str, message: Deliveries) -> None:
    send(message, deliver_task(platform))


def deliver(deliveries: list[tuple[str, Delivery]]) -> None:
    """Queue the deliveries of one batch, (platform, delivery) each: one task a platform."""
    by_platform: dict[str, list[Delivery]] = {}
    for platform, reply in deliveries:
        by_platform.setdefault(platform, []).append(reply)
    for platform, replies in by_platform.items():
        send_deliveries(platform, Deliveries(replies))


@dataclass(frozen=True)
class Notice(TaskMessage):
    """Tell a chat something went wrong: no reply is coming to `message_id` (0: to no
    message in particular), and why."""

    chat_key: str
    message_id: int
    text: str


def send_notice(platform: str, message: Notice) -> None:
    send(message, notice_task(platform))
