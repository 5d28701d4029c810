"""What every adapter does with an accepted message: store it, then ask for a reply; and
the io queue's task that stores a message its adapter could not.

Work is sent by task name with ids and plain JSON (wire.messages), so no adapter ever
loads torch. `request_reply` lives with the messages; adapters take it from here.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from bots.streaming.streamer import Streamer
from core.store import Store
from core.types import IncomingMessage
from wire import process
from wire.messages import Intake, request_reply, send_intake
from wire.tasks import STORE_RETRY, handles

log = logging.getLogger(__name__)

__all__ = ["accept", "request_reply", "store_message"]


def store_message(store: Store, message: IncomingMessage) -> int:
    """The message joins its chat's conversation in progress; returns its id."""
    _conversation_id, message_id = store.add_chat_message(
        message.platform,
        message.chat_key,
        message.author,
        message.text,
        message.platform_message_id,
    )
    return message_id


def accept(store: Store, message: IncomingMessage, streamer: Streamer | None = None) -> None:
    """Store the message and queue its reply. An adapter has answered the platform already
    (Slack's 3 seconds): when the database cannot take the message now, the io queue
    stores it later, retrying until it can, so the message is not lost (and its reply is
    not streamed). With a `streamer` the reply is asked for live and shown as it grows."""
    try:
        message_id = store_message(store, message)
    except SQLAlchemyError as exc:
        log.warning("database unavailable (%s): message queued for storing", type(exc).__name__)
        send_intake(
            Intake(
                message.platform,
                message.chat_key,
                message.author,
                message.text,
                message.platform_message_id,
            )
        )
        return
    if streamer is None:
        request_reply(message_id)
        return
    streamer.open(message_id, message.chat_key, message.platform_message_id)
    request_reply(message_id, live=True)


@handles(Intake, **STORE_RETRY)
def intake(message: Intake) -> int:
    """Store a message its adapter could not (the database was down then), and queue its
    reply; the message's id."""
    _conversation, message_id = process.current().store.add_chat_message(
        message.platform,
        message.chat_key,
        message.author,
        message.text,
        message.platform_message_id,
    )
    request_reply(message_id)
    return message_id
