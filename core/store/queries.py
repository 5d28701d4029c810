"""SQL run inside a caller's connection, so one transaction can do several of them."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from types import SimpleNamespace
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row

from core.store import prepared
from core.store.schema import messages
from core.store.time import as_utc, utcnow
from core.text import storable
from core.types import StoredMessage, Turn


def upsert_dialect(conn: Connection) -> Any:
    """The dialect module whose insert() has ON CONFLICT, for this connection."""
    return prepared.upsert_dialect(conn.dialect.name)


def open_conversation(conn: Connection, platform: str, chat_key: str) -> int:
    """The chat's conversation in progress, started if there is none. Two processes
    starting one at once get the same: the partial unique index lets one insert win."""
    chat = {"of_platform": platform, "of_chat_key": chat_key}
    found = conn.execute(prepared.FIND_OPEN_CONVERSATION, chat).first()
    if found:
        return int(found.id)
    start_conversation(conn, platform, chat_key)
    return int(conn.execute(prepared.FIND_OPEN_CONVERSATION, chat).scalar_one())


def start_conversation(conn: Connection, platform: str, chat_key: str) -> None:
    """Start the chat's conversation in progress, unless it has one."""
    params = {"new_platform": platform, "new_chat_key": chat_key, "new_created_at": utcnow()}
    conn.execute(prepared.start_conversation(conn.dialect.name), params)


def insert_into_open_conversation(
    conn: Connection,
    platform: str,
    chat_key: str,
    author: str,
    text: str,
    platform_message_id: str | None,
    awaits_reply: bool = True,
) -> tuple[int, int] | None:
    """(conversation id, message id) of a message added to the chat's conversation in
    progress, in one statement (INSERT ... SELECT ... RETURNING); None when the chat has no
    conversation in progress."""
    params = dict(
        of_platform=platform,
        of_chat_key=chat_key,
        new_author=storable(author),
        new_text=storable(text),
        new_platform_message_id=platform_message_id,
        new_created_at=utcnow(),
        new_awaits_reply=awaits_reply,
    )
    row = conn.execute(prepared.ADD_TO_OPEN_CONVERSATION, params).first()
    return (int(row.conversation_id), int(row.id)) if row else None


def insert_message(
    conn: Connection,
    conversation_id: int,
    author: str,
    text: str,
    platform_message_id: str | None,
    awaits_reply: bool = True,
) -> int:
    result = conn.execute(
        messages.insert().values(
            conversation_id=conversation_id,
            author=storable(author),
            text=storable(text),
            platform_message_id=platform_message_id,
            created_at=utcnow(),
            awaits_reply=awaits_reply,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


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
    row = conn.execute(prepared.MESSAGES.where(messages.c.id == message_id)).first()
    if row is None:
        raise LookupError(f"no message {message_id}")
    return as_message(row)


class Exchange(NamedTuple):
    message_id: int
    text: str
    reply: str | None  # the newest reply; None while (or if) there is none
    awaits: bool  # a reply was asked for and not given up on


# a conversation's exchanges, in order, by conversation id
Exchanges = dict[int, list[Exchange]]


# `newest` for a whole conversation
ALL = 2**31 - 1


def conversations_of(
    conn: Connection, requests: Collection[tuple[int, str]], newest: int = ALL
) -> tuple[dict[int, StoredMessage], dict[str, int], Exchanges]:
    """What generation needs for (message id, request key) pairs, in one query: the
    messages found, by id; the ids of Turns already made for those request keys (a key with
    a Turn means its task was redelivered); and their conversations' exchanges, as
    `histories` gives them, among each conversation's `newest` messages."""
    asked = {message_id for message_id, _ in requests}
    keys = list({key for _, key in requests})
    params = {"ids": list(asked), "keys": keys, "newest": newest}
    return _fold(conn.execute(prepared.CONVERSATIONS_OF, params), asked, newest)


def histories(conn: Connection, conversation_ids: Collection[int]) -> Exchanges:
    """Each conversation's exchanges, for every message, in order; where /retry made
    siblings, the newest reply is the one the user saw last. One query for all the
    conversations."""
    params = {"conversation_ids": list(conversation_ids), "keys": [], "ids": [], "newest": ALL}
    found = _fold(conn.execute(prepared.CONVERSATIONS, params), set(), ALL)[2]
    return {cid: found.get(cid, []) for cid in conversation_ids}


def _fold(
    rows: Iterable[Row[Any]], asked: set[int], newest: int
) -> tuple[dict[int, StoredMessage], dict[str, int], Exchanges]:
    """prepared._conversations rows as (asked messages, made Turn ids, exchanges among each
    conversation's `newest` messages)."""
    found: dict[int, StoredMessage] = {}
    made: dict[str, int] = {}
    exchanges: Exchanges = {}
    for row in rows:
        if row.id in asked:
            found[row.id] = as_message(row)
        if row.made_id is not None:
            made[row.made_key] = row.made_id
        conversation = exchanges.setdefault(row.conversation_id, [])
        seen = conversation and conversation[-1][0] == row.id  # a row per made Turn
        if not seen and row.rank <= newest:
            conversation.append(Exchange(row.id, row.text, row.reply, row.awaits_reply))
    return found, made, exchanges


def before(exchanges: list[Exchange], message_id: int | None) -> list[tuple[str, str | None]]:
    """(user text, reply or None) of the messages before `message_id` (all for None)."""
    return [(e.text, e.reply) for e in exchanges if message_id is None or e.message_id < message_id]


def unanswered_before(exchanges: list[Exchange], message_id: int) -> int | None:
    """The first message before `message_id` whose reply is still to come, if any."""
    for e in exchanges:
        if e.message_id >= message_id:
            return None
        if e.awaits and e.reply is None:
            return e.message_id
    return None


def as_turn(row: Any, platform: str | None = None, chat_key: str | None = None) -> Turn:
    """A Turn from a row of `turns` (or anything with its columns as attributes)."""
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


def made_turn(row: Row[Any], value: dict[str, Any], platform: str, chat_key: str) -> Turn:
    """The Turn just inserted as `value`, with the id and time the database gave it."""
    made = {**value, "id": row.id, "created_at": row.created_at, "platform_message_id": None}
    return as_turn(SimpleNamespace(**made), platform, chat_key)
