"""The io queue's vote tasks: a vote by turn id (buttons, the terminal chat) and a vote by
the platform's id of the rated reply (reactions, WeCom's feedback)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from core.errors import UnknownTurn
from core.types import Vote
from wire import process
from wire.messages import CastVote, PlatformVote
from wire.tasks import STORE_RETRY, handles, handles_bound

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


# How often a vote on a reply not yet delivered looks again.
VOTE_AGAIN_S = 2.0


@handles_bound(PlatformVote, **STORE_RETRY)
def platform_vote(task: Any, cast: PlatformVote) -> bool:
    """Store a vote on the reply the platform knows as `posted_as`, with the rater's
    reasons if any. Until `at + wait_s` a vote on a reply not yet stored as delivered looks
    again every 2 s (WeCom lets people rate a stream before it ends). A vote on anything
    else (a person's message, a reply never stored) is dropped with a log line; False
    then."""
    store = process.current().store
    try:
        turn = store.turn_by_platform_message(cast.platform, cast.posted_as)
    except UnknownTurn:
        if cast.at is not None and time.time() + VOTE_AGAIN_S < cast.at + cast.wait_s:
            raise task.retry(countdown=VOTE_AGAIN_S, max_retries=None) from None
        log.info(
            "%s vote by %s on %s: not a stored reply", cast.platform, cast.rater, cast.posted_as
        )
        return False
    when = datetime.fromtimestamp(cast.at, UTC) if cast.at is not None else None
    store.vote(turn.id, cast.rater, Vote(cast.value), cast.source, cast.reasons, at=when)
    return True
