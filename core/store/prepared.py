"""The reply loop's hot statements, built once.

Building a SQLAlchemy statement costs more than running it (about 0.3 ms of Python against
0.1 ms on the wire, measured here), so the statements every message runs are module
constants with bound parameters; IN lists use expanding parameters.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.store.schema import conversations, messages, turns

# params: of_platform, of_chat_key (names of columns are reserved in INSERT and UPDATE)
OPEN_CONVERSATION = and_(
    conversations.c.platform == bindparam("of_platform"),
    conversations.c.chat_key == bindparam("of_chat_key"),
    conversations.c.closed_at.is_(None),
)

MESSAGES = select(messages, conversations.c.platform, conversations.c.chat_key).join(
    conversations, conversations.c.id == messages.c.conversation_id
)

TURNS = select(turns, conversations.c.platform, conversations.c.chat_key).join(
    conversations, conversations.c.id == turns.c.conversation_id
)

FIND_OPEN_CONVERSATION = select(conversations.c.id).where(OPEN_CONVERSATION)

# params: of_platform, of_chat_key, new_author, new_text, new_platform_message_id,
# new_created_at, new_awaits_reply
ADD_TO_OPEN_CONVERSATION = (
    messages.insert()
    .from_select(
        ["conversation_id", "author", "text", "platform_message_id", "created_at", "awaits_reply"],
        select(
            conversations.c.id,
            bindparam("new_author", type_=messages.c.author.type),
            bindparam("new_text", type_=messages.c.text.type),
            bindparam("new_platform_message_id", type_=messages.c.platform_message_id.type),
            bindparam("new_created_at", type_=messages.c.created_at.type),
            bindparam("new_awaits_reply", type_=messages.c.awaits_reply.type),
        ).where(OPEN_CONVERSATION),
    )
    .returning(messages.c.conversation_id, messages.c.id)
)


def _conversations(conversation_ids: Any) -> Any:
    """The newest `newest` messages (a parameter) of each conversation `conversation_ids`
    (an expanding parameter or a subquery) picks, and the messages in parameter `ids`, in
    order, with their chat, their newest reply (`reply`, NULL if none; where /retry made
    siblings, the newest is the one the user saw last), their place from the newest
    (`rank`, 1 for the newest) and the Turn made for one of the request keys in parameter
    `keys` (`made_id`, `made_key`). A long conversation costs what its newest messages
    cost, not its whole history."""
    ranked = (
        select(
            messages.c.id,
            func.row_number()
            .over(partition_by=messages.c.conversation_id, order_by=messages.c.id.desc())
            .label("rank"),
        )
        .where(messages.c.conversation_id.in_(conversation_ids))
        .subquery()
    )
    chosen = (
        select(ranked)
        .where(
            or_(
                ranked.c.rank <= bindparam("newest"),
                ranked.c.id.in_(bindparam("ids", expanding=True)),
            )
        )
        .subquery()
    )
    reply, made = turns.alias("reply"), turns.alias("made")
    newest_reply = (
        select(func.max(turns.c.id)).where(turns.c.message_id == messages.c.id).scalar_subquery()
    )
    return (
        MESSAGES.add_columns(
            reply.c.completion.label("reply"),
            chosen.c.rank,
            made.c.id.label("made_id"),
            made.c.request_key.label("made_key"),
        )
        .join(chosen, chosen.c.id == messages.c.id)
        .outerjoin(reply, reply.c.id == newest_reply)
        .outerjoin(
            made,
            and_(
                made.c.message_id == messages.c.id,
                made.c.request_key.in_(bindparam("keys", expanding=True)),
            ),
        )
        .order_by(messages.c.id)
    )


# params: conversation_ids, newest, ids (none), keys (none)
CONVERSATIONS = _conversations(bindparam("conversation_ids", expanding=True))
# What generation reads, in one query: the conversations of some messages.
# params: ids (message ids), newest, keys (request keys)
CONVERSATIONS_OF = _conversations(
    select(messages.c.conversation_id).where(messages.c.id.in_(bindparam("ids", expanding=True)))
)

# params: message_id
GIVE_UP = (
    update(messages).where(messages.c.id == bindparam("message_id")).values(awaits_reply=False)
)

TURN_BY_ID = TURNS.where(turns.c.id == bindparam("turn_id"))
TURNS_BY_ID = TURNS.where(turns.c.id.in_(bindparam("turn_ids", expanding=True)))
DELIVERED = select(turns.c.id).where(
    turns.c.id.in_(bindparam("turn_ids", expanding=True)), turns.c.platform_message_id.is_not(None)
)
TURNS_BY_KEY = TURNS.where(turns.c.request_key.in_(bindparam("keys", expanding=True)))

# params: turn_id, delivered_as, delivered_at
MARK_DELIVERED = (
    update(turns)
    .where(turns.c.id == bindparam("turn_id"))
    .values(platform_message_id=bindparam("delivered_as"), delivered_at=bindparam("delivered_at"))
)


def upsert_dialect(dialect: str) -> Any:
    """The dialect module whose insert() has ON CONFLICT: both of ours spell it the same."""
    return postgresql if dialect == "postgresql" else sqlite


@cache
def start_conversation(dialect: str) -> Any:
    """INSERT of a chat's conversation in progress, unless it has one (the partial unique
    index lets one of two processes starting it at once win). params: new_platform,
    new_chat_key, new_created_at."""
    return (
        upsert_dialect(dialect)
        .insert(conversations)
        .values(
            platform=bindparam("new_platform"),
            chat_key=bindparam("new_chat_key"),
            created_at=bindparam("new_created_at", type_=conversations.c.created_at.type),
        )
        .on_conflict_do_nothing(
            index_elements=["platform", "chat_key"], index_where=conversations.c.closed_at.is_(None)
        )
    )


@cache
def insert_turns(dialect: str) -> Any:
    """INSERT of Turns that skips a request key stored already, returning what the
    database made of the new rows (their ids and times; the caller has the rest); run with a
    list of parameter sets, one statement for the batch."""
    return (
        upsert_dialect(dialect)
        .insert(turns)
        .on_conflict_do_nothing(index_elements=["request_key"])
        .returning(turns.c.id, turns.c.request_key, turns.c.created_at)
    )
