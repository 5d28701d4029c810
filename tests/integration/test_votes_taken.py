"""An adapter records a vote itself, before it answers the platform (issue 20): a vote
never waits on an io worker, which, killed while holding a vote task, held it for the
broker's visibility timeout (10 minutes). Only when the database is down does a vote go
to the io queue, whose worker stores it once it can."""

from __future__ import annotations

import time

from bots.votes import take_platform_vote, take_vote
from core.store import Store
from core.store.engine import make_engine
from core.types import Vote
from tests.integration.adapters import wait_for
from tests.integration.conftest import Chat
from wire.messages import CastVote, PlatformVote

UNREACHABLE = "postgresql+psycopg://replyloop@127.0.0.1:9/unreachable"


def _delivered(chat: Chat) -> int:
    """A reply of the chat's, its delivery marked (the terminal's platform id is the turn id)."""
    chat.say("rate this")
    turn_id = int(chat.reply()["turn_id"])
    wait_for("the reply marked delivered", lambda: chat.store.turn(turn_id).platform_message_id)
    return turn_id


def test_a_vote_is_in_the_store_when_the_adapter_is_done_with_it(chat: Chat) -> None:
    turn_id = _delivered(chat)
    result = take_vote(chat.store, CastVote(turn_id, "presser", int(Vote.UP), "slack_button"))
    assert result is not None and result["ok"]
    take_platform_vote(
        chat.store,
        PlatformVote("terminal", str(turn_id), "reactor", int(Vote.DOWN), "slack_reaction"),
    )
    assert chat.store.standing_votes(turn_id) == {"presser": Vote.UP, "reactor": Vote.DOWN}
    unknown = take_vote(chat.store, CastVote(987654321, "presser", int(Vote.UP), "slack_button"))
    assert unknown is not None and not unknown["ok"]


def test_votes_the_adapter_cannot_store_are_stored_by_the_io_worker(chat: Chat) -> None:
    turn_id = _delivered(chat)
    down = Store(make_engine(UNREACHABLE))
    try:
        pressed = CastVote(turn_id, "presser", int(Vote.DOWN), "telegram_button")
        assert take_vote(down, pressed) is None  # queued: the rater is told so
        reacted = PlatformVote(
            "terminal", str(turn_id), "reactor", int(Vote.UP), "slack_reaction", at=time.time()
        )
        take_platform_vote(down, reacted)
    finally:
        down.engine.dispose()
    wanted = {"presser": Vote.DOWN, "reactor": Vote.UP}
    wait_for("both votes stored", lambda: chat.store.standing_votes(turn_id) == wanted or None)


def test_a_vote_with_a_nul_in_its_ids_is_stored_not_a_500(chat: Chat) -> None:
    """A malformed but signed payload may carry a NUL (hypothesis found one in a Slack
    reaction's user); PostgreSQL refuses NUL in text, which made the adapter answer 500."""
    turn_id = _delivered(chat)
    nul = chr(0)
    reacted = PlatformVote(
        "terminal", str(turn_id) + nul, f"T1:U1{nul}", int(Vote.UP), "slack_reaction",
        reasons={"text": f"fine{nul}"},
    )  # fmt: skip
    take_platform_vote(chat.store, reacted)
    pressed = CastVote(turn_id, f"T1:U2{nul}", int(Vote.DOWN), "slack_button")
    assert (take_vote(chat.store, pressed) or {}).get("ok")
    assert chat.store.standing_votes(turn_id) == {"T1:U1": Vote.UP, "T1:U2": Vote.DOWN}
