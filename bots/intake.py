"""What every adapter does with an accepted message: store it, then ask for a reply.

Work is enqueued by task name with ids and plain JSON, so adapters never import torch.
"""

from __future__ import annotations

import time
import uuid

from core.store import Store
from core.types import IncomingMessage
from workers.celery_app import GENERATE, enqueue


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


def request_reply(message_id: int, retry: bool = False) -> str:
    """Queue generation of a reply (or, with retry, of a sibling reply) to a stored message.

    Returns the request key: the first reply to a message has a fixed one, so a message
    that is delivered twice is answered once; every retry gets a fresh one.
    """
    key = f"retry:{uuid.uuid4().hex}" if retry else f"msg:{message_id}"
    enqueue(GENERATE, message_id, key, time.time())
    return key
