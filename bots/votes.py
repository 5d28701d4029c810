"""The io queue's vote tasks: a vote by turn id (buttons, the terminal chat) and a vote by
the platform's id of the rated reply (reactions, WeCom's feedback)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from core.errors import UnknownTurn
from core.types import Vote
from wire import process
from wire.messages import CastVote, PlatformVote
from wire.tasks import STORE_RETRY, handles

log = logging.getLogger(__name__)


@handles(CastVote, ignore_result=False, **STORE_RETRY)
def vote(cast: CastVote) -> dict[str, Any]:
    """Store a vote action; the result tells the adapter what to say to the rater."""
    try:
        result = process.current().store.vote(
            cast.turn_id, cast.rater, Vote(cast.value), cast.source, cast.reasons
        )
    except UnknownTurn as exc:
        log.info("vote for unknown turn %s by %s", cast.turn_id, cast.rater)
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "value": int(result.value), "previous": int(result.previous)}


@handles(PlatformVote, **STORE_RETRY)
def platform_vote(cast: PlatformVote) -> bool:
    """Store a vote on the reply the platform knows as `posted_as`, with the rater's
    reasons if any; False when no reply is stored as delivered under that id yet. Such a
    vote is kept, never dropped, and recorded when a reply with that id is marked delivered
    (core.store's kept votes): a Slack reaction that beat the delivery's mark, a WeCom 👍
    under a reply still streaming. One on a person's message stays kept, unused."""
    store = process.current().store
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
        return matched
    at = when if cast.at is not None else None
    store.vote(turn.id, cast.rater, Vote(cast.value), cast.source, cast.reasons, at=at)
    return True
