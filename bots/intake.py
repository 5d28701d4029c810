"""What every adapter does with an accepted message: count it against the limits
(bots.limits), store it, then ask for a reply; and the io queue's task that stores a
message its adapter could not.

A message over a limit is stored as context only (awaits_reply False: nothing is lost, and
later messages do not wait for its reply) and not answered; its chat is told once a window
through the platform's notice task. The terminal chat (`replyloop chat`) is not limited: it
waits for each reply before it reads the next line, so it never has more than one message
waiting, and its one user is the operator at their own machine.

Work is sent by task name with ids and plain JSON (wire.messages), so no adapter ever
loads torch. `request_reply` lives with the messages; adapters take it from here.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from bots.limits import SLOW_DOWN, Limits
from bots.streaming.streamer import Streamer
from core.store import Store
from core.types import IncomingMessage
from wire import metrics, process
from wire.messages import Intake, Notice, request_reply, send_intake, send_notice
from wire.tasks import STORE_RETRY, handles

log = logging.getLogger(__name__)

__all__ = ["accept", "limited", "request_reply", "store_message"]


def store_message(store: Store, message: IncomingMessage, awaits_reply: bool = True) -> int:
    """The message joins its chat's conversation in progress; returns its id."""
    _conversation_id, message_id = store.add_chat_message(
        message.platform,
        message.chat_key,
        message.author,
        message.text,
        message.platform_message_id,
        awaits_reply,
    )
    metrics.MESSAGES.labels(message.platform).inc()
    return message_id


def limited(store: Store, message: IncomingMessage, limits: Limits) -> bool:
    """Whether `message` is over a limit. If it is, it is stored unanswered (or queued for
    storing, when the database is down) and, the first time in the window, its chat is
    told to slow down; the adapter does nothing more with it."""
    verdict = limits.check(message.platform, message.chat_key, message.author)
    if verdict.over is None:
        return False
    log.info(
        "%s %s in %s is over the %s limit: kept unanswered",
        message.platform,
        message.author,
        message.chat_key,
        verdict.over,
    )
    _store(store, message, awaits_reply=False)
    if verdict.told:
        send_notice(message.platform, Notice(message.chat_key, 0, SLOW_DOWN[verdict.over]))
    return True


def accept(
    store: Store,
    message: IncomingMessage,
    streamer: Streamer | None = None,
    limits: Limits | None = None,
) -> None:
    """Store the message and queue its reply, unless it is over the `limits` (every
    adapter passes its own; None only where nothing can flood, as in tests). An adapter has
    answered the platform already (Slack's 3 seconds): when the database cannot take the
    message now, the io queue stores it later, retrying until it can, so the message is not
    lost (and its reply is not streamed). With a `streamer` the reply is asked for live and
    shown as it grows."""
    if limits is not None and limited(store, message, limits):
        return
    message_id = _store(store, message)
    if message_id is None:
        return
    if streamer is None:
        request_reply(message_id)
        return
    streamer.open(message_id, message.chat_key, message.platform_message_id)
    request_reply(message_id, live=True)


def _store(store: Store, message: IncomingMessage, awaits_reply: bool = True) -> int | None:
    """The stored message's id; None when the database is down and the io queue will
    store it (and, if it awaits a reply, ask for one)."""
    try:
        return store_message(store, message, awaits_reply)
    except SQLAlchemyError as exc:
        log.warning("database unavailable (%s): message queued for storing", type(exc).__name__)
        send_intake(
            Intake(
                message.platform,
                message.chat_key,
                message.author,
                message.text,
                message.platform_message_id,
                awaits_reply,
            )
        )
        return None


@handles(Intake, **STORE_RETRY)
def intake(message: Intake) -> int:
    """Store a message its adapter could not (the database was down then), and queue its
    reply (if it awaits one); the message's id."""
    _conversation, message_id = process.current().store.add_chat_message(
        message.platform,
        message.chat_key,
        message.author,
        message.text,
        message.platform_message_id,
        message.awaits_reply,
    )
    metrics.MESSAGES.labels(message.platform).inc()
    if message.awaits_reply:
        request_reply(message_id)
    return message_id
