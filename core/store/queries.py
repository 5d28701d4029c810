"""SQL run inside a caller's connection, so one transaction can do several of them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite

from core.store.schema import conversations, messages, turns
from core.store.time import as_utc, utcnow
from core.text import storable
from core.types import StoredMessage, Turn


def upsert_dialect(conn: Connection) -> Any:
    """The dialect module whose insert() has ON CONFLICT: both of ours spell it the same."""
    return postgresql if conn.dialect.name == "postgresql" else sqlite


def open_conversation(conn: Connection, platform: str, chat_key: str) -> int:
    """The chat's conversation in progress, started if there is none. Two processes
    starting one at once get the same: the partial unique index lets one insert win."""
    where = and_(
        conversations.c.platform == platform,
        conversations.c.chat_key == chat_key,
        conversations.c.closed_at.is_(None),
    )
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


def message(conn: Connection, message_id: int) -> StoredMessage:
    return message_and_turn(conn, message_id, None)[0]


def message_and_turn(
    conn: Connection, message_id: int, request_key: str | None
) -> tuple[StoredMessage, int | None]:
    """A message with its chat, and the id of the Turn made for `request_key` if any: one
    query, since this is the generation task's first read."""
    query = select(
        messages, conversations.c.platform, conversations.c.chat_key, turns.c.id.label("turn_id")
    ).join(conversations, conversations.c.id == messages.c.conversation_id)
    query = query.outerjoin(
        turns, and_(turns.c.request_key == request_key, turns.c.message_id == messages.c.id)
    ).where(messages.c.id == message_id)
    row = conn.execute(query).first()
    if row is None:
        raise LookupError(f"no message {message_id}")
    stored = StoredMessage(
        row.id,
        row.conversation_id,
        row.author,
        row.text,
        as_utc(row.created_at),
        row.platform,
        row.chat_key,
    )
    return stored, row.turn_id


def history(
    conn: Connection, conversation_id: int, before_message_id: int | None
) -> list[tuple[str, str]]:
    newest = select(turns.c.message_id, func.max(turns.c.id).label("turn_id")).where(
        turns.c.conversation_id == conversation_id
    )
    if before_message_id is not None:
        newest = newest.where(turns.c.message_id < before_message_id)
    newest_sub = newest.group_by(turns.c.message_id).subquery()
    query = (
        select(messages.c.text, turns.c.completion)
        .join(newest_sub, newest_sub.c.message_id == messages.c.id)
        .join(turns, turns.c.id == newest_sub.c.turn_id)
        .order_by(messages.c.id)
    )
    return [(row.text, row.completion) for row in conn.execute(query)]


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
