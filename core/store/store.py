"""The store's operations: every write the reply loop makes, and the reads it needs.

Hot paths take one connection (and at most one commit) each: a reply costs the chat one
transaction, the generation task one read and one write, delivery one read and one write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select, update

from core.errors import UnknownTurn
from core.store import queries as q
from core.store.schema import conversations, turns, vote_events, votes
from core.store.time import utcnow
from core.text import storable
from core.types import ChatMessage, StoredMessage, Turn, Vote, VoteResult


class Store:
    """All SQL of the reply loop. Thread-safe: each call takes its own connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Reads and single-statement writes need no BEGIN/COMMIT round trips: on a hot
        # path those double the statements sent to the server. Multi-statement writes
        # still run in a transaction on `engine`.
        self.autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    # -- conversations and messages ------------------------------------------------------

    def open_conversation(self, platform: str, chat_key: str) -> int:
        """The conversation in progress for this chat, started if there is none."""
        with self.engine.begin() as conn:
            return q.open_conversation(conn, platform, chat_key)

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
            return q.insert_message(conn, conversation_id, author, text, platform_message_id)

    def add_chat_message(
        self,
        platform: str,
        chat_key: str,
        author: str,
        text: str,
        platform_message_id: str | None = None,
    ) -> tuple[int, int]:
        """(conversation id, message id) of a message joining its chat's conversation in
        progress, in one transaction."""
        with self.engine.begin() as conn:
            conversation_id = q.open_conversation(conn, platform, chat_key)
            message_id = q.insert_message(conn, conversation_id, author, text, platform_message_id)
        return conversation_id, message_id

    def message(self, message_id: int) -> StoredMessage:
        with self.autocommit.connect() as conn:
            return q.message(conn, message_id)

    def history(
        self, conversation_id: int, before_message_id: int | None = None
    ) -> list[tuple[str, str]]:
        """(user text, reply) for each earlier message of the conversation that got a reply
        (all of them when before_message_id is None); where /retry made siblings, the
        newest reply is the one the user saw last."""
        with self.engine.connect() as conn:
            return q.history(conn, conversation_id, before_message_id)

    def reply_context(
        self, message_id: int, request_key: str
    ) -> tuple[Turn | None, StoredMessage, list[tuple[str, str]]]:
        """What generation needs, in two queries: the message (with the Turn already made
        for this request, when a task is redelivered) and the conversation before it."""
        with self.autocommit.connect() as conn:
            message, turn_id = q.message_and_turn(conn, message_id, request_key)
            if turn_id is not None:
                row = conn.execute(q.turn_select().where(turns.c.id == turn_id)).one()
                return q.as_turn(row), message, []
            return None, message, q.history(conn, message.conversation_id, message_id)

    def platform_of(self, conversation_id: int) -> tuple[str, str]:
        """(platform, chat key) of a conversation."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(conversations.c.platform, conversations.c.chat_key).where(
                    conversations.c.id == conversation_id
                )
            ).one()
        return row.platform, row.chat_key

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
        chat: tuple[str, str] | None = None,
    ) -> Turn:
        """Store a reply before it is delivered. Idempotent on request_key: a redelivered
        generation task gets the Turn that was stored the first time.

        `chat` (platform, chat key), when the caller knows it, saves a query."""
        values = dict(
            conversation_id=conversation_id,
            message_id=message_id,
            request_key=request_key,
            prompt=[{"role": m["role"], "content": storable(m["content"])} for m in prompt],
            completion=storable(completion),
            model_version=model_version,
            settings=settings,
            timings=timings,
            created_at=utcnow(),
        )
        with self.autocommit.connect() as conn:
            insert = q.upsert_dialect(conn).insert(turns).values(**values)
            inserted = conn.execute(
                insert.on_conflict_do_nothing(index_elements=["request_key"]).returning(turns)
            ).first()
            if inserted is None or chat is None:  # it existed, or its chat is unknown here
                row = conn.execute(q.turn_select().where(turns.c.request_key == request_key))
                return q.as_turn(row.one())
        platform, chat_key = chat
        return q.as_turn(inserted, platform, chat_key)

    def turn_for_request(self, request_key: str) -> Turn | None:
        with self.engine.connect() as conn:
            row = conn.execute(q.turn_select().where(turns.c.request_key == request_key)).first()
        return q.as_turn(row) if row else None

    def turn(self, turn_id: int) -> Turn:
        with self.autocommit.connect() as conn:
            row = conn.execute(q.turn_select().where(turns.c.id == turn_id)).first()
        if row is None:
            raise UnknownTurn(turn_id)
        return q.as_turn(row)

    def mark_delivered(self, turn_id: int, platform_message_id: str) -> None:
        with self.autocommit.connect() as conn:
            conn.execute(
                update(turns)
                .where(turns.c.id == turn_id)
                .values(platform_message_id=platform_message_id, delivered_at=utcnow())
            )

    def turn_by_platform_message(self, platform: str, platform_message_id: str) -> Turn:
        query = (
            q.turn_select()
            .where(conversations.c.platform == platform)
            .where(turns.c.platform_message_id == platform_message_id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise UnknownTurn(f"{platform}:{platform_message_id}")
        return q.as_turn(row)

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
            insert = (
                q.upsert_dialect(conn)
                .insert(votes)
                .values(
                    turn_id=turn_id, rater=rater, value=int(value), reasons=reasons, updated_at=now
                )
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
