"""Messages still waiting for their reply: what the sweeper (bots.sweeper) looks at.

A message waits while it awaits a reply (`awaits_reply`: not one the bot only read, not
one given up on) and no reply to it is stored as delivered. Most wait a second or two;
one whose task was lost (a Redis crash without persistence, a worker killed) waits until
the sweeper queues it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, select

from core.store.schema import conversations, messages, turns
from core.store.store import Store
from core.store.time import as_utc


@dataclass(frozen=True)
class Waiting:
    message_id: int
    conversation_id: int
    platform: str
    chat_key: str
    created_at: datetime


def waiting_messages(
    store: Store, since: datetime, before: datetime, limit: int = 500
) -> list[Waiting]:
    """Messages stored between `since` and `before` that still wait for their reply,
    oldest first (at most `limit`)."""
    delivered = exists().where(
        and_(turns.c.message_id == messages.c.id, turns.c.delivered_at.is_not(None))
    )
    query = (
        select(
            messages.c.id,
            messages.c.conversation_id,
            conversations.c.platform,
            conversations.c.chat_key,
            messages.c.created_at,
        )
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .where(
            messages.c.created_at >= since,
            messages.c.created_at < before,
            messages.c.awaits_reply,
            ~delivered,
        )
        .order_by(messages.c.id)
        .limit(limit)
    )
    with store.autocommit.connect() as conn:
        return [Waiting(*row[:4], as_utc(row.created_at)) for row in conn.execute(query)]
