"""The store's operations: every write the reply loop makes, and the reads it needs.

Hot paths take one connection (and at most one commit) each: a reply costs the chat one
statement, a batch of generation one read and one write, delivery one write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from core.errors import UnknownTurn
from core.store import prepared
from core.store import queries as q
from core.store.schema import conversations, kept_votes, messages, turns, vote_events, votes
from core.store.time import as_utc, utcnow
from core.text import storable
from core.types import (
    ChatMessage,
    NewTurn,
    ReplyContext,
    StoredMessage,
    Turn,
    Vote,
    VoteResult,
)
from core.votes import retracts_nothing

# A message finds its chat's conversation ended (a /reset) between starting one and joining
# it at most this many times before the store gives up.
STARTS = 3


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
                update(conversations).where(prepared.OPEN_CONVERSATION).values(closed_at=utcnow()),
                {"of_platform": platform, "of_chat_key": chat_key},
            )

    def add_message(
        self,
        conversation_id: int,
        author: str,
        text: str,
        platform_message_id: str | None = None,
        awaits_reply: bool = True,
    ) -> int:
        with self.engine.begin() as conn:
            return q.insert_message(
                conn, conversation_id, author, text, platform_message_id, awaits_reply
            )

    def add_chat_message(
        self,
        platform: str,
        chat_key: str,
        author: str,
        text: str,
        platform_message_id: str | None = None,
        awaits_reply: bool = True,
    ) -> tuple[int, int]:
        """(conversation id, message id) of a message joining its chat's conversation in
        progress: one statement when there is one, else three (the conversation started,
        then the message added to it). A message stored with awaits_reply=False is context
        only: no reply is coming, and later messages do not wait for one."""
        with self.autocommit.connect() as conn:
            for _ in range(STARTS):
                added = q.insert_into_open_conversation(
                    conn, platform, chat_key, author, text, platform_message_id, awaits_reply
                )
                if added is not None:
                    return added
                q.start_conversation(conn, platform, chat_key)
        raise RuntimeError(f"{platform}:{chat_key}'s conversation ended {STARTS} times at once")

    def give_up(self, message_id: int) -> None:
        """No reply is coming to this message (its generation failed for good): later
        messages of its conversation stop waiting for one."""
        with self.autocommit.connect() as conn:
            conn.execute(prepared.GIVE_UP, {"message_id": message_id})

    def knows_chat(self, platform: str, chat_key: str) -> bool:
        """Whether the chat ever had a conversation (the bot took part in it)."""
        query = select(conversations.c.id).where(
            conversations.c.platform == platform, conversations.c.chat_key == chat_key
        )
        with self.autocommit.connect() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def newest_model_version(self) -> str | None:
        """The model version of the newest reply: the one serving now."""
        query = select(turns.c.model_version).order_by(turns.c.id.desc()).limit(1)
        with self.autocommit.connect() as conn:
            return conn.execute(query).scalar()

    def message(self, message_id: int) -> StoredMessage:
        """Raises LookupError for an unknown message."""
        with self.autocommit.connect() as conn:
            return q.message(conn, message_id)

    def platform_message_ids(self, message_ids: Sequence[int]) -> dict[int, str | None]:
        """The platform's id of each of these stored messages (None where it had none):
        what a delivery replies to."""
        query = select(messages.c.id, messages.c.platform_message_id).where(
            messages.c.id.in_(list(message_ids))
        )
        with self.autocommit.connect() as conn:
            return {row.id: row.platform_message_id for row in conn.execute(query)}

    def history(
        self, conversation_id: int, before_message_id: int | None = None
    ) -> list[tuple[str, str | None]]:
        """(user text, reply) for each earlier message of the conversation (all of them
        when before_message_id is None); where /retry made siblings, the newest reply is the
        one the user saw last. A message with no reply (one the bot only read, as a Slack
        thread's messages before it was mentioned, or one whose reply failed) has None."""
        with self.autocommit.connect() as conn:
            exchanges = q.histories(conn, [conversation_id])[conversation_id]
        return q.before(exchanges, before_message_id)

    def reply_contexts(
        self, requests: Sequence[tuple[int, str]], newest: int = q.ALL
    ) -> list[ReplyContext | LookupError]:
        """What generation needs for each (message id, request key), in one query for the
        whole batch (two when a task was redelivered): the message, the conversation before
        it (what is left of it among the conversation's `newest` messages), the first
        earlier message there whose reply is still to come, and the Turn already made for
        the request. A message that does not exist gets a LookupError in
        its place."""
        with self.autocommit.connect() as conn:
            found, made, exchanges = q.conversations_of(conn, requests, newest)
            existing: dict[int, Turn] = {}
            if made:
                rows = conn.execute(prepared.TURNS_BY_ID, {"turn_ids": list(made.values())})
                existing = {row.id: q.as_turn(row) for row in rows}
        contexts: list[ReplyContext | LookupError] = []
        for message_id, key in requests:
            message = found.get(message_id)
            if message is None:
                contexts.append(LookupError(f"no message {message_id}"))
            elif key in made:
                contexts.append(ReplyContext(message, [], existing[made[key]]))
            else:
                conversation = exchanges[message.conversation_id]
                history = q.before(conversation, message_id)
                waits_on = q.unanswered_before(conversation, message_id)
                contexts.append(ReplyContext(message, history, waits_on=waits_on))
        return contexts

    def reply_context(self, message_id: int, request_key: str) -> ReplyContext:
        """`reply_contexts` for one request; raises LookupError for an unknown message."""
        context = self.reply_contexts([(message_id, request_key)])[0]
        if isinstance(context, LookupError):
            raise context
        return context

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
        """`add_turns` for one reply."""
        new = NewTurn(
            conversation_id,
            message_id,
            request_key,
            list(prompt),
            completion,
            model_version,
            settings,
            timings,
            chat,
        )
        return self.add_turns([new])[0]

    def add_turns(self, new: Sequence[NewTurn]) -> list[Turn]:
        """Store replies before they are delivered, in one statement for the batch.
        Idempotent on request_key: a redelivered generation task gets the Turn that was
        stored the first time."""
        now = utcnow()
        values = [
            dict(
                conversation_id=t.conversation_id,
                message_id=t.message_id,
                request_key=t.request_key,
                prompt=[{"role": m["role"], "content": storable(m["content"])} for m in t.prompt],
                completion=storable(t.completion),
                model_version=t.model_version,
                settings=t.settings,
                timings=t.timings,
                created_at=now,
            )
            for t in new
        ]
        with self.autocommit.connect() as conn:
            inserted = conn.execute(prepared.insert_turns(conn.dialect.name), values)
            rows = {row.request_key: row for row in inserted}
            # Turns that existed already, or whose chat is not known here: read them back.
            again = {t.request_key for t in new if t.request_key not in rows or t.chat is None}
            stored: dict[str, Turn] = {}
            if again:
                found = conn.execute(prepared.TURNS_BY_KEY, {"keys": list(again)})
                stored = {row.request_key: q.as_turn(row) for row in found}
        return [
            stored[t.request_key]
            if t.chat is None or t.request_key in stored
            else q.made_turn(rows[t.request_key], value, *t.chat)
            for t, value in zip(new, values, strict=True)
        ]

    def turn_for_request(self, request_key: str) -> Turn | None:
        with self.engine.connect() as conn:
            row = conn.execute(prepared.TURNS_BY_KEY, {"keys": [request_key]}).first()
        return q.as_turn(row) if row else None

    def turn(self, turn_id: int) -> Turn:
        with self.autocommit.connect() as conn:
            row = conn.execute(prepared.TURN_BY_ID, {"turn_id": turn_id}).first()
        if row is None:
            raise UnknownTurn(turn_id)
        return q.as_turn(row)

    def mark_delivered(self, turn_id: int, platform_message_id: str) -> None:
        self.mark_delivered_many([(turn_id, platform_message_id)])

    def mark_delivered_many(self, delivered: Sequence[tuple[int, str]]) -> None:
        """(turn id, the platform's id of the posted reply) each, sent together. No
        transaction: each mark stands on its own, and a redelivered delivery checks them."""
        now = utcnow()
        params = [dict(turn_id=t, delivered_as=posted, delivered_at=now) for t, posted in delivered]
        with self.autocommit.connect() as conn:
            conn.execute(prepared.MARK_DELIVERED, params)
        self.record_kept_votes([posted for _turn, posted in delivered])

    def delivered(self, turn_ids: Sequence[int]) -> set[int]:
        """Which of `turn_ids` were delivered already."""
        with self.autocommit.connect() as conn:
            rows = conn.execute(prepared.DELIVERED, {"turn_ids": list(turn_ids)})
            return {row.id for row in rows}

    def turn_by_platform_message(self, platform: str, platform_message_id: str) -> Turn:
        query = prepared.TURNS.where(conversations.c.platform == platform).where(
            turns.c.platform_message_id == platform_message_id
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
        at: datetime | None = None,
    ) -> VoteResult:
        """Record a vote action durably: the event is appended, the standing vote replaced.

        `at` is when the rater acted (the platform's event time; now if None). Platforms
        deliver events out of order at times (a 👍 and its removal handled by two workers):
        an action older than the standing vote is kept in the history but does not replace
        it."""
        with self.engine.begin() as conn:
            return self._vote(conn, turn_id, rater, value, source, reasons, at)

    def _vote(
        self,
        conn: Connection,
        turn_id: int,
        rater: str,
        value: Vote,
        source: str,
        reasons: dict[str, Any] | None,
        at: datetime | None,
    ) -> VoteResult:
        now = at or utcnow()
        if conn.execute(select(turns.c.id).where(turns.c.id == turn_id)).first() is None:
            raise UnknownTurn(turn_id)
        previous_row = conn.execute(
            select(votes.c.value, votes.c.updated_at).where(
                votes.c.turn_id == turn_id, votes.c.rater == rater
            )
        ).first()
        previous = Vote(previous_row.value) if previous_row else Vote.RETRACTED
        if at is None and retracts_nothing(previous, value):
            # Nothing to take back: no event. With a platform's event time it is kept,
            # for it may have overtaken the vote it takes back (that vote, arriving
            # later but older, must not stand).
            return VoteResult(turn_id, rater, previous, previous, changed=False)
        stale = previous_row is not None and as_utc(previous_row.updated_at) > now
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
            .values(turn_id=turn_id, rater=rater, value=int(value), reasons=reasons, updated_at=now)
        )
        if stale:
            return VoteResult(turn_id, rater, previous, previous, changed=False)
        conn.execute(
            insert.on_conflict_do_update(
                index_elements=["turn_id", "rater"],
                set_={"value": int(value), "reasons": reasons, "updated_at": now},
                # two raters' workers at once: the newer action stands either way
                where=votes.c.updated_at <= insert.excluded.updated_at,
            )
        )
        return VoteResult(turn_id, rater, value, previous, changed=previous != value)

    def keep_vote(
        self,
        platform: str,
        posted_as: str,
        rater: str,
        value: Vote,
        source: str,
        reasons: dict[str, Any] | None,
        at: datetime,
    ) -> bool:
        """Keep a vote on the message the platform knows as `posted_as`, which is no reply
        stored as delivered yet: it is recorded when one is (`record_kept_votes`). True when
        that happened at once (the reply was marked delivered meanwhile)."""
        with self.engine.begin() as conn:
            conn.execute(
                kept_votes.insert().values(
                    platform=platform,
                    posted_as=posted_as,
                    rater=rater,
                    value=int(value),
                    source=source,
                    reasons=reasons,
                    acted_at=at,
                )
            )
        # Looked at again after the insert: a delivery marked between this vote's lookup
        # and its insert looked for kept votes before there was one.
        return self.record_kept_votes([posted_as]) > 0

    def record_kept_votes(self, posted_as: Sequence[str]) -> int:
        """Record as votes the kept votes on replies now stored as delivered as one of
        `posted_as`; how many. Each is claimed by deleting it in the vote's transaction, so
        two processes that look at once record it once."""
        if not posted_as:
            return 0
        query = (
            select(
                kept_votes,
                turns.c.id.label("turn_id"),
            )
            .select_from(
                kept_votes.join(turns, turns.c.platform_message_id == kept_votes.c.posted_as).join(
                    conversations, conversations.c.id == turns.c.conversation_id
                )
            )
            .where(
                kept_votes.c.posted_as.in_(list(posted_as)),
                conversations.c.platform == kept_votes.c.platform,
            )
            .order_by(kept_votes.c.acted_at, kept_votes.c.id)
        )
        with self.autocommit.connect() as conn:
            found = conn.execute(query).all()
        recorded = 0
        for kept in found:
            with self.engine.begin() as conn:
                claimed = conn.execute(kept_votes.delete().where(kept_votes.c.id == kept.id))
                if claimed.rowcount != 1:
                    continue  # another process recorded it
                vote = Vote(kept.value)
                when = as_utc(kept.acted_at)
                self._vote(conn, kept.turn_id, kept.rater, vote, kept.source, kept.reasons, when)
                recorded += 1
        return recorded

    def standing_votes(self, turn_id: int) -> dict[str, Vote]:
        """Each rater's standing vote on a reply (retractions included), by rater: what a
        rating keyboard counts, and what a press toggles."""
        query = select(votes.c.rater, votes.c.value).where(votes.c.turn_id == turn_id)
        with self.autocommit.connect() as conn:
            return {row.rater: Vote(row.value) for row in conn.execute(query)}

    def vote_history(self, turn_id: int, rater: str) -> list[Vote]:
        query = (
            select(vote_events.c.value)
            .where(vote_events.c.turn_id == turn_id, vote_events.c.rater == rater)
            .order_by(vote_events.c.created_at, vote_events.c.id)
        )
        with self.engine.connect() as conn:
            return [Vote(row.value) for row in conn.execute(query)]
