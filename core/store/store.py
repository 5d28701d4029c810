"""The store's operations: every write the reply loop makes, and the reads it needs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.errors import UnknownTurn
from core.store.schema import conversations, messages, turns, vote_events, votes
from core.types import ChatMessage, StoredMessage, Turn, Vote, VoteResult


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes (we write UTC); PostgreSQL, the server's zone."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _upsert_dialect(conn: Connection) -> Any:
    """The dialect module whose insert() has ON CONFLICT: both of ours spell it the same."""
    return postgresql if conn.dialect.name == "postgresql" else sqlite


def _turn(row: Row[Any]) -> Turn:
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
    )


class Store:
    """All SQL of the reply loop. Thread-safe: each call takes its own connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- conversations and messages ------------------------------------------------------

    def open_conversation(self, platform: str, chat_key: str) -> int:
        """The conversation in progress for this chat, started if there is none."""
        where = and_(
            conversations.c.platform == platform,
            conversations.c.chat_key == chat_key,
            conversations.c.closed_at.is_(None),
        )
        with self.engine.begin() as conn:
            found = conn.execute(
                select(conversations.c.id).where(where).order_by(conversations.c.id.desc())
            ).first()
            if found:
                return int(found.id)
            result = conn.execute(
                conversations.insert().values(
                    platform=platform, chat_key=chat_key, created_at=utcnow()
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def reset(self, platform: str, chat_key: str) -> None:
        """Close the conversation in progress: the next message starts with no context."""
        with self.engine.begin() as conn:
            conn.execute(
                update(conversations)
                .where(
                    conversations.c.platform == platform,
                    conversations.c.chat_key == chat_key,
                    conversations.c.closed_at.is_(None),
                )
                .values(closed_at=utcnow())
            )

    def add_message(
        self,
        conversation_id: int,
        author: str,
        text: str,
        platform_message_id: str | None = None,
    ) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                messages.insert().values(
                    conversation_id=conversation_id,
                    author=author,
                    text=text,
                    platform_message_id=platform_message_id,
                    created_at=utcnow(),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def message(self, message_id: int) -> StoredMessage:
        with self.engine.connect() as conn:
            row = conn.execute(select(messages).where(messages.c.id == message_id)).first()
        if row is None:
            raise LookupError(f"no message {message_id}")
        return StoredMessage(
            row.id, row.conversation_id, row.author, row.text, as_utc(row.created_at)
        )

    def history(
        self, conversation_id: int, before_message_id: int | None = None
    ) -> list[tuple[str, str]]:
        """(user text, reply) for each earlier message of the conversation that got a reply
        (all of them when before_message_id is None); where /retry made siblings, the
        newest reply is the one the user saw last."""
        newest = select(turns.c.message_id, func.max(turns.c.id).label("turn_id")).where(
            turns.c.conversation_id == conversation_id
        )
        if before_message_id is not None:
            newest = newest.where(turns.c.message_id < before_message_id)
        newest = newest.group_by(turns.c.message_id).subquery()
        query = (
            select(messages.c.text, turns.c.completion)
            .join(newest, newest.c.message_id == messages.c.id)
            .join(turns, turns.c.id == newest.c.turn_id)
            .order_by(messages.c.id)
        )
        with self.engine.connect() as conn:
            return [(row.text, row.completion) for row in conn.execute(query)]

    # -- turns -----------------------------------------------------------------------------

    def add_turn(
        self,
        conversation_id: int,
        message_id: int,
        request_key: str,
        prompt: Sequence[ChatMessage],
        completion: str,
        model_version: str,
        settings: dict[str, Any],
        timings: dict[str, float],
    ) -> Turn:
        """Store a reply before it is delivered. Idempotent on request_key: a redelivered
        generation task gets the Turn that was stored the first time."""
        values = dict(
            conversation_id=conversation_id,
            message_id=message_id,
            request_key=request_key,
            prompt=list(prompt),
            completion=completion,
            model_version=model_version,
            settings=settings,
            timings=timings,
            created_at=utcnow(),
        )
        with self.engine.begin() as conn:
            insert = _upsert_dialect(conn).insert(turns).values(**values)
            conn.execute(insert.on_conflict_do_nothing(index_elements=["request_key"]))
            row = conn.execute(select(turns).where(turns.c.request_key == request_key)).one()
        return _turn(row)

    def turn_for_request(self, request_key: str) -> Turn | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(turns).where(turns.c.request_key == request_key)).first()
        return _turn(row) if row else None

    def turn(self, turn_id: int) -> Turn:
        with self.engine.connect() as conn:
            row = conn.execute(select(turns).where(turns.c.id == turn_id)).first()
        if row is None:
            raise UnknownTurn(turn_id)
        return _turn(row)

    def platform_of(self, conversation_id: int) -> tuple[str, str]:
        """(platform, chat key) of a conversation, for delivery."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(conversations.c.platform, conversations.c.chat_key).where(
                    conversations.c.id == conversation_id
                )
            ).one()
        return row.platform, row.chat_key

    def mark_delivered(self, turn_id: int, platform_message_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(turns)
                .where(turns.c.id == turn_id)
                .values(platform_message_id=platform_message_id, delivered_at=utcnow())
            )

    def turn_by_platform_message(self, platform: str, platform_message_id: str) -> Turn:
        query = (
            select(turns)
            .join(conversations, conversations.c.id == turns.c.conversation_id)
            .where(conversations.c.platform == platform)
            .where(turns.c.platform_message_id == platform_message_id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise UnknownTurn(f"{platform}:{platform_message_id}")
        return _turn(row)

    # -- votes -------------------------------------------------------------------------------

    def vote(
        self,
        turn_id: int,
        rater: str,
        value: Vote,
        source: str,
        reasons: dict[str, Any] | None = None,
    ) -> VoteResult:
        """Record a vote action durably: the event is appended, the standing vote replaced."""
        now = utcnow()
        with self.engine.begin() as conn:
            if conn.execute(select(turns.c.id).where(turns.c.id == turn_id)).first() is None:
                raise UnknownTurn(turn_id)
            previous_row = conn.execute(
                select(votes.c.value).where(votes.c.turn_id == turn_id, votes.c.rater == rater)
            ).first()
            previous = Vote(previous_row.value) if previous_row else Vote.RETRACTED
            conn.execute(
                vote_events.insert().values(
                    turn_id=turn_id,
                    rater=rater,
                    value=int(value),
                    source=source,
                    reasons=reasons,
                    created_at=now,
                )
            )
            insert = _upsert_dialect(conn).insert(votes).values(
                turn_id=turn_id, rater=rater, value=int(value), reasons=reasons, updated_at=now
            )
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=["turn_id", "rater"],
                    set_={"value": int(value), "reasons": reasons, "updated_at": now},
                )
            )
        return VoteResult(turn_id, rater, value, previous, changed=previous != value)

    def vote_history(self, turn_id: int, rater: str) -> list[Vote]:
        query = (
            select(vote_events.c.value)
            .where(vote_events.c.turn_id == turn_id, vote_events.c.rater == rater)
            .order_by(vote_events.c.id)
        )
        with self.engine.connect() as conn:
            return [Vote(row.value) for row in conn.execute(query)]
