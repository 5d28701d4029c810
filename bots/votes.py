"""Votes: recorded by the adapter that got them, straight into the store, and the io
queue's vote tasks for the times the store could not take them then.

A vote is written before the adapter answers the platform, the way a message is stored
(bots.intake). Only when the database is down does it travel to the io queue, whose task
retries until the store takes it. A vote never waits on an io worker: one killed while
holding a vote task held it for the broker's visibility timeout (10 minutes), and a rating
read back meanwhile was missing.

Two kinds: a vote by turn id (buttons, the terminal chat), whose result tells the rater
what happened, and a vote by the platform's id of the rated reply (reactions, WeCom's
feedback), which a reply not yet stored as delivered keeps (core.store's kept votes).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from core.errors import UnknownTurn
from core.store import Store
from core.text import storable
from core.types import Vote
from wire import metrics, process
from wire.messages import CastVote, PlatformVote, send_platform_vote, send_vote
from wire.tasks import STORE_RETRY, handles

log = logging.getLogger(__name__)

__all__ = ["record_platform_vote", "record_vote", "take_platform_vote", "take_vote"]


def record_vote(store: Store, cast: CastVote) -> dict[str, Any]:
    """Store a vote action; the result tells the adapter what to say to the rater."""
    try:
        result = store.vote(cast.turn_id, cast.rater, Vote(cast.value), cast.source, cast.reasons)
    except UnknownTurn as exc:
        log.info("vote for unknown turn %s by %s", cast.turn_id, cast.rater)
        return {"ok": False, "error": str(exc)}
    counted(store, cast.turn_id)
    return {"ok": True, "value": int(result.value), "previous": int(result.previous)}


def counted(store: Store, turn_id: int) -> None:
    """Count a vote stored on `turn_id` (wire.metrics), by its reply's platform and model."""
    try:
        turn = store.turn(turn_id)
    except (UnknownTurn, SQLAlchemyError):  # only the count is lost
        return
    metrics.VOTES.labels(turn.platform, turn.model_version).inc()


def record_platform_vote(store: Store, cast: PlatformVote) -> bool:
    """Store a vote on the reply the platform knows as `posted_as`, with the rater's
    reasons if any; False when no reply is stored as delivered under that id yet. Such a
    vote is kept, never dropped, and recorded when a reply with that id is marked delivered
    (core.store's kept votes): a Slack reaction that beat the delivery's mark, a WeCom 👍
    under a reply still streaming. One on a person's message stays kept, unused."""
    when = datetime.fromtimestamp(cast.at, UTC) if cast.at is not None else datetime.now(UTC)
    try:
        turn = store.turn_by_platform_message(cast.platform, cast.posted_as)
    except UnknownTurn:
        matched = store.keep_vote(
            cast.platform,
            cast.posted_as,
            cast.rater,
            Vote(cast.value),
            cast.source,
            cast.reasons,
            when,
        )
        log.info(
            "%s vote by %s on %s: %s",
            cast.platform,
            cast.rater,
            cast.posted_as,
            "its reply was stored meanwhile" if matched else "kept until a reply is stored so",
        )
        metrics.VOTES.labels(cast.platform, "kept").inc()
        return matched
    at = when if cast.at is not None else None
    store.vote(turn.id, cast.rater, Vote(cast.value), cast.source, cast.reasons, at=at)
    metrics.VOTES.labels(turn.platform, turn.model_version).inc()
    return True


def take_vote(store: Store, cast: CastVote) -> dict[str, Any] | None:
    """An adapter's vote by turn id, recorded now: its result, or None when the database
    is down and the io queue records it later (the rater is told it is queued)."""
    cast = replace(cast, rater=storable(cast.rater), reasons=_storable(cast.reasons))
    try:
        return record_vote(store, cast)
    except SQLAlchemyError as exc:
        _queued(exc, cast.source)
        send_vote(cast)
        return None


def take_platform_vote(store: Store, cast: PlatformVote) -> None:
    """An adapter's vote by the rated reply's platform id, recorded now, or queued for
    the io queue when the database is down."""
    cast = replace(
        cast,
        rater=storable(cast.rater),
        posted_as=storable(cast.posted_as),
        reasons=_storable(cast.reasons),
    )
    try:
        record_platform_vote(store, cast)
    except SQLAlchemyError as exc:
        _queued(exc, cast.source)
        send_platform_vote(cast)


def _storable(value: Any) -> Any:
    """A rater's reasons as the store can hold them: no NUL in any string, which
    PostgreSQL refuses in text and JSON (a malformed payload may carry one).

    >>> _storable({"text": "a" + chr(0) + "b", "tags": ["x" + chr(0), 1], "n": None})
    {'text': 'ab', 'tags': ['x', 1], 'n': None}
    """
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def _queued(exc: SQLAlchemyError, source: str) -> None:
    log.warning("database unavailable (%s): %s vote queued", type(exc).__name__, source)


@handles(CastVote, ignore_result=False, **STORE_RETRY)
def vote(cast: CastVote) -> dict[str, Any]:
    """The io queue's vote by turn id: one its adapter could not store, or the terminal's."""
    return record_vote(process.current().store, cast)


@handles(PlatformVote, **STORE_RETRY)
def platform_vote(cast: PlatformVote) -> bool:
    """The io queue's vote by platform id, for one its adapter could not store."""
    return record_platform_vote(process.current().store, cast)
