"""The console's replies: the newest and the worst rated, filtered, and one reply whole
(its context as the model saw it, its model version, every vote, its siblings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Select, func, select

from core.store.rollups import catch_up
from core.store.schema import (
    conversations,
    day_tallies,
    messages,
    models,
    turn_tallies,
    turns,
    vote_events,
    votes,
)
from core.store.time import as_utc

VOTES = ("up", "down")


@dataclass(frozen=True)
class ReplyFilter:
    platform: str | None = None
    model_version: str | None = None
    since: date | None = None  # the reply's day (UTC), inclusive
    until: date | None = None  # inclusive
    vote: str | None = None  # "up": has a standing 👍; "down": a standing 👎


@dataclass(frozen=True)
class ReplyRow:
    turn_id: int
    created_at: datetime
    platform: str
    model_version: str
    message: str
    completion: str
    up: int
    down: int


@dataclass(frozen=True)
class Reply:
    row: ReplyRow
    context: list[dict[str, Any]]  # the prompt, as the model saw it
    settings: dict[str, Any]
    timings: dict[str, Any]
    votes: list[dict[str, Any]]  # standing, one a rater
    events: list[dict[str, Any]]  # every vote action in order
    siblings: list[ReplyRow] = field(default_factory=list)  # other replies to the message


def _count(sign: int) -> Any:
    """The standing 👍 (sign 1) or 👎 (-1) on the outer query's turn: a look-up in the
    votes' primary key, so a page of newest replies reads only its own votes."""
    wanted = votes.c.value > 0 if sign > 0 else votes.c.value < 0
    return (
        select(func.count())
        .where(votes.c.turn_id == turns.c.id, wanted)
        .correlate(turns)
        .scalar_subquery()
    )


def _listed(where: ReplyFilter, up: Any, down: Any) -> Select[Any]:
    query = (
        select(
            turns.c.id,
            turns.c.created_at,
            conversations.c.platform,
            turns.c.model_version,
            messages.c.text.label("message"),
            turns.c.completion,
            up.label("up"),
            down.label("down"),
        )
        .select_from(turns)
        .join(conversations, conversations.c.id == turns.c.conversation_id)
        .join(messages, messages.c.id == turns.c.message_id)
    )
    if where.platform:
        query = query.where(conversations.c.platform == where.platform)
    if where.model_version:
        query = query.where(turns.c.model_version == where.model_version)
    if where.since:
        query = query.where(turns.c.created_at >= _midnight(where.since))
    if where.until:
        query = query.where(turns.c.created_at < _midnight(where.until + timedelta(days=1)))
    return query


def _voted(where: ReplyFilter) -> list[Any]:
    if where.vote not in VOTES:
        return []
    wanted = votes.c.value > 0 if where.vote == "up" else votes.c.value < 0
    return [select(votes.c.turn_id).where(votes.c.turn_id == turns.c.id, wanted).exists()]


def recent(engine: Engine, where: ReplyFilter, limit: int = 50) -> list[ReplyRow]:
    """The newest replies first."""
    query = (
        _listed(where, _count(1), _count(-1))
        .where(*_voted(where))
        .order_by(turns.c.id.desc())
        .limit(limit)
    )
    return _rows(engine, query)


def worst(engine: Engine, where: ReplyFilter, limit: int = 50) -> list[ReplyRow]:
    """Rated replies, the most disliked first: most 👎 over 👍, then most 👎, newest first
    (the order of turn_tallies' index, brought up to date first: core.store.rollups)."""
    catch_up(engine)
    t = turn_tallies
    query = (
        select(
            turns.c.id,
            turns.c.created_at,
            t.c.platform,
            t.c.model_version,
            messages.c.text.label("message"),
            turns.c.completion,
            t.c.up,
            t.c.down,
        )
        .select_from(t)
        .join(turns, turns.c.id == t.c.turn_id)
        .join(messages, messages.c.id == turns.c.message_id)
        .where(t.c.down > 0)
    )
    if where.platform:
        query = query.where(t.c.platform == where.platform)
    if where.model_version:
        query = query.where(t.c.model_version == where.model_version)
    if where.since:
        query = query.where(t.c.day >= where.since.isoformat())
    if where.until:
        query = query.where(t.c.day <= where.until.isoformat())
    if where.vote == "up":
        query = query.where(t.c.up > 0)
    query = query.order_by((t.c.down - t.c.up).desc(), t.c.down.desc(), t.c.turn_id.desc())
    return _rows(engine, query.limit(limit))


def reply(engine: Engine, turn_id: int) -> Reply | None:
    """One reply whole, or None when there is no such turn."""
    with engine.connect() as conn:
        found = conn.execute(
            select(turns, conversations.c.platform, messages.c.text.label("message"))
            .join(conversations, conversations.c.id == turns.c.conversation_id)
            .join(messages, messages.c.id == turns.c.message_id)
            .where(turns.c.id == turn_id)
        ).first()
        if found is None:
            return None
        standing = [
            {"rater": r.rater, "value": r.value, "reasons": r.reasons, "at": as_utc(r.updated_at)}
            for r in conn.execute(
                select(votes).where(votes.c.turn_id == turn_id).order_by(votes.c.updated_at)
            )
        ]
        events = [
            {"rater": r.rater, "value": r.value, "source": r.source, "at": as_utc(r.created_at)}
            for r in conn.execute(
                select(vote_events)
                .where(vote_events.c.turn_id == turn_id)
                .order_by(vote_events.c.id)
            )
        ]
    up = sum(v["value"] > 0 for v in standing)
    down = sum(v["value"] < 0 for v in standing)
    row = ReplyRow(
        found.id,
        as_utc(found.created_at),
        found.platform,
        found.model_version,
        found.message,
        found.completion,
        up,
        down,
    )
    siblings_query = (
        _listed(ReplyFilter(), _count(1), _count(-1))
        .where(turns.c.message_id == found.message_id, turns.c.id != turn_id)
        .order_by(turns.c.id)
    )
    return Reply(
        row,
        list(found.prompt),
        dict(found.settings),
        dict(found.timings),
        standing,
        events,
        _rows(engine, siblings_query),
    )


def versions(engine: Engine) -> list[str]:
    """The model versions to filter by: every one registered or rated (from the small
    tables: a DISTINCT over every reply took 60-130 ms on 300,000)."""
    with engine.connect() as conn:
        rated = select(day_tallies.c.model_version)
        registered = select(models.c.version)
        return sorted({row[0] for row in conn.execute(rated.union(registered))})


def platforms(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        query = select(conversations.c.platform).distinct().order_by(conversations.c.platform)
        return [row[0] for row in conn.execute(query)]


def _rows(engine: Engine, query: Select[Any]) -> list[ReplyRow]:
    with engine.connect() as conn:
        return [
            ReplyRow(
                r.id,
                as_utc(r.created_at),
                r.platform,
                r.model_version,
                r.message,
                r.completion,
                int(r.up),
                int(r.down),
            )
            for r in conn.execute(query)
        ]


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class ChatLine:
    """One message of a chat and the reply shown for it (the newest sibling), with the
    chat's own person's standing vote on that reply."""

    message_id: int
    text: str
    turn_id: int | None
    reply: str | None
    vote: int


def chat_history(
    engine: Engine, platform: str, chat_key: str, rater: str, limit: int = 100
) -> list[ChatLine]:
    """The conversation in progress of one chat, oldest first (its newest `limit` messages)."""
    with engine.connect() as conn:
        conversation = conn.execute(
            select(conversations.c.id).where(
                conversations.c.platform == platform,
                conversations.c.chat_key == chat_key,
                conversations.c.closed_at.is_(None),
            )
        ).scalar()
        if conversation is None:
            return []
        said = conn.execute(
            select(messages.c.id, messages.c.text)
            .where(messages.c.conversation_id == conversation)
            .order_by(messages.c.id.desc())
            .limit(limit)
        ).all()
        replies: dict[int, tuple[int, str]] = {}
        for row in conn.execute(
            select(turns.c.id, turns.c.message_id, turns.c.completion)
            .where(turns.c.conversation_id == conversation)
            .order_by(turns.c.id)
        ):
            replies[row.message_id] = (row.id, row.completion)  # the newest sibling wins
        shown = [turn_id for turn_id, _ in replies.values()]
        mine = {
            row.turn_id: row.value
            for row in conn.execute(
                select(votes.c.turn_id, votes.c.value).where(
                    votes.c.turn_id.in_(shown), votes.c.rater == rater
                )
            )
        }
    lines = []
    for message_id, text in reversed(said):
        turn_id, reply_text = replies.get(message_id, (None, None))
        vote = mine.get(turn_id, 0) if turn_id is not None else 0
        lines.append(ChatLine(message_id, text, turn_id, reply_text, vote))
    return lines
