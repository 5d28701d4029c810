"""Streaming reads of rated replies: one pass over the database, constant memory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from sqlalchemy import Engine, Select, func, select

from core.export.rows import CastVote, RatedTurn
from core.store.schema import conversations, turns, votes
from core.store.time import as_utc


@dataclass(frozen=True)
class ExportFilter:
    since: datetime | None = None
    model_version: str | None = None


def _filtered(query: Select[Any], where: ExportFilter) -> Select[Any]:
    query = query.where(votes.c.value != 0)
    if where.since is not None:
        # SQLite keeps naive UTC text: compare in UTC whatever zone the caller used.
        query = query.where(turns.c.created_at >= where.since.astimezone(UTC))
    if where.model_version is not None:
        query = query.where(turns.c.model_version == where.model_version)
    return query


def count_rated(engine: Engine, where: ExportFilter) -> int:
    """How many rated replies the export will read, for its progress bar."""
    query = _filtered(
        select(func.count(func.distinct(turns.c.id))).join(votes, votes.c.turn_id == turns.c.id),
        where,
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def iter_rated(
    engine: Engine, where: ExportFilter, by_message: bool = False
) -> Iterator[RatedTurn]:
    """Rated replies in turn order (or grouped by the message they answer), each with its
    standing votes. Rows come through a server-side cursor, so memory stays flat."""
    query = _filtered(
        select(
            turns.c.id,
            turns.c.conversation_id,
            turns.c.message_id,
            conversations.c.platform,
            turns.c.prompt,
            turns.c.completion,
            turns.c.model_version,
            turns.c.settings,
            turns.c.created_at,
            votes.c.rater,
            votes.c.value,
            votes.c.reasons,
        )
        .join(conversations, conversations.c.id == turns.c.conversation_id)
        .join(votes, votes.c.turn_id == turns.c.id),
        where,
    )
    order = (turns.c.message_id, turns.c.id) if by_message else (turns.c.id,)
    query = query.order_by(*order, votes.c.rater)
    with engine.connect() as conn:
        rows = conn.execution_options(stream_results=True, yield_per=2000).execute(query)
        for _turn_id, group in groupby(rows, key=lambda row: row.id):
            first, *rest = list(group)
            yield RatedTurn(
                turn_id=first.id,
                conversation_id=first.conversation_id,
                message_id=first.message_id,
                platform=first.platform,
                prompt=first.prompt,
                completion=first.completion,
                model_version=first.model_version,
                settings=first.settings,
                created_at=as_utc(first.created_at),
                votes=tuple(CastVote(r.rater, r.value, r.reasons) for r in (first, *rest)),
            )
