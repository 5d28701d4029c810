"""SQL run inside a caller's connection, so one transaction can do several of them."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, Row, and_, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from core.store.schema import conversations, messages, turns
from core.store.time import as_utc, utcnow
from core.text import storable
from core.types import StoredMessage, Turn


def upsert_dialect(conn: Connection) -> Any:
    """The dialect module whose insert() has ON CONFLICT: both of ours spell it the same."""
    return postgresql if conn.dialect.name == "postgresql" else sqlite


def open_where(platform: str, chat_key: str) -> Any:
    """The condition that picks the chat's conversation in progress."""
    return and_(
        conversations.c.platform == platform,
        conversations.c.chat_key == chat_key,
        conversations.c.closed_at.is_(None),
    )


def open_conversation(conn: Connection, platform: str, chat_key: str) -> int:
    """The chat's conversation in progress, started if there is none. Two processes
    starting one at once get the same: the partial unique index lets one insert win."""
    where = open_where(platform, chat_key)
    found = conn.execute(select(conversations.c.id).where(where)).first()
    if found:
        return int(found.id)
    conn.execute(
        upsert_dialect(conn)
        .insert(conversations)
        .values(platform=platform, chat_key=chat_key, created_at=utcnow())
        .on_conflict_do_nothing(
            index_elements=["platform", "chat_key"], index_where=conversations.c.closed_at.is_(None)
        )
    )
    return int(conn.execute(select(conversations.c.id).where(where)).scalar_one())


def insert_into_open_conversation(
    conn: Connection,
    platform: str,
    chat_key: str,
    author: str,
    text: str,
    platform_message_id: str | None,
) -> tuple[int, int] | None:
    """(conversation id, message id) of a message added to the chat's conversation in
    progress, in one statement (INSERT ... SELECT ... RETURNING); None when the chat has no
    conversation in progress."""
    columns = messages.c
    source = select(
        conversations.c.id,
        literal(author, columns.author.type),
        literal(storable(text), columns.text.type),
        literal(platform_message_id, columns.platform_message_id.type),
        literal(utcnow(), columns.created_at.type),
    ).where(open_where(platform, chat_key))
    insert = messages.insert().from_select(
        ["conversation_id", "author", "text", "platform_message_id", "created_at"], source
    )
    row = conn.execute(insert.returning(columns.conversation_id, columns.id)).first()
    return (int(row.conversation_id), int(row.id)) if row else None


def insert_message(
    conn: Connection,
    conversation_id: int,
    author: str,
    text: str,
    platform_message_id: str | None,
) -> int:
    result = conn.execute(
        messages.insert().values(
            conversation_id=conversation_id,
            author=author,
            text=storable(text),
            platform_message_id=platform_message_id,
            created_at=utcnow(),
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def message_select() -> Any:
    """Messages with their chat."""
    return select(messages, conversations.c.platform, conversations.c.chat_key).join(
        conversations, conversations.c.id == messages.c.conversation_id
    )


def as_message(row: Row[Any]) -> StoredMessage:
    return StoredMessage(
        row.id,
        row.conversation_id,
        row.author,
        row.text,
        as_utc(row.created_at),
        row.platform,
        row.chat_key,
    )


def message(conn: Connection, message_id: int) -> StoredMessage:
    row = conn.execute(message_select().where(messages.c.id == message_id)).first()
    if row is None:
        raise LookupError(f"no message {message_id}")
    return as_message(row)


def messages_with_turns(
    conn: Connection, requests: Collection[tuple[int, str]]
) -> tuple[dict[int, StoredMessage], dict[str, int]]:
    """For (message id, request key) pairs, in one query: the messages found, by id, and
    the ids of the Turns already made for those request keys. This is the generation
    task's first read; a key with a Turn means the task was redelivered."""
    keys = {key for _, key in requests}
    query = (
        message_select()
        .add_columns(turns.c.id.label("turn_id"), turns.c.request_key)
        .outerjoin(turns, and_(turns.c.message_id == messages.c.id, turns.c.request_key.in_(keys)))
        .where(messages.c.id.in_({message_id for message_id, _ in requests}))
    )
    found: dict[int, StoredMessage] = {}
    made: dict[str, int] = {}
    for row in conn.execute(query):
        found[row.id] = as_message(row)
        if row.turn_id is not None:
            made[row.request_key] = row.turn_id
    return found, made


def histories(
    conn: Connection, conversation_ids: Collection[int]
) -> dict[int, list[tuple[int, str, str]]]:
    """Each conversation's (message id, user text, reply) for every message that got a
    reply, in order; where /retry made siblings, the newest reply is the one the user saw
    last. One query for all the conversations."""
    newest_sub = (
        select(turns.c.message_id, func.max(turns.c.id).label("turn_id"))
        .where(turns.c.conversation_id.in_(set(conversation_ids)))
        .group_by(turns.c.message_id)
        .subquery()
    )
    query = (
        select(messages.c.conversation_id, messages.c.id, messages.c.text, turns.c.completion)
        .join(newest_sub, newest_sub.c.message_id == messages.c.id)
        .join(turns, turns.c.id == newest_sub.c.turn_id)
        .order_by(messages.c.id)
    )
    found: dict[int, list[tuple[int, str, str]]] = {cid: [] for cid in conversation_ids}
    for row in conn.execute(query):
        found[row.conversation_id].append((row.id, row.text, row.completion))
    return found


def before(exchanges: list[tuple[int, str, str]], message_id: int | None) -> list[tuple[str, str]]:
    """(user text, reply) of the exchanges before `message_id` (all of them for None)."""
    return [
        (text, reply) for mid, text, reply in exchanges if message_id is None or mid < message_id
    ]


def turn_select() -> Any:
    """Turns with their chat, so delivery needs no second query."""
    return select(turns, conversations.c.platform, conversations.c.chat_key).join(
        conversations, conversations.c.id == turns.c.conversation_id
    )


def as_turn(row: Row[Any], platform: str | None = None, chat_key: str | None = None) -> Turn:
    return Turn(
        id=row.id,
        conversation_id=row.conversation_id,
        message_id=row.message_id,
        prompt=row.prompt,
        completion=row.completion,
        model_version=row.model_version,
        settings=row.settings,
        timings=row.timings,
        created_at=as_utc(row.created_at),
        platform_message_id=row.platform_message_id,
        platform=row.platform if platform is None else platform,
        chat_key=row.chat_key if chat_key is None else chat_key,
    )
