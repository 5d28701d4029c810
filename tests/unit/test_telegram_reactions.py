"""Telegram reactions as votes (bots.telegram.reactions): which changes of a person's
reactions are a 👍, a 👎 or a retraction, and which are no vote. Plain dicts in, exact
values out."""

from __future__ import annotations

from typing import Any

import pytest

from bots.telegram.reactions import ReactionVote, change, reaction_vote
from bots.telegram.translate import Me
from core.types import Vote

ME = Me(99, "rl_bot")
ANN = {"id": 7, "is_bot": False, "first_name": "Ann"}
GROUP = {"id": -100123, "type": "supergroup", "title": "Team"}


def reaction(old: list[str], new: list[str], **fields: Any) -> dict[str, Any]:
    body = {
        "chat": GROUP,
        "message_id": 55,
        "user": ANN,
        "date": 1_700_000_000,
        "old_reaction": [{"type": "emoji", "emoji": e} for e in old],
        "new_reaction": [{"type": "emoji", "emoji": e} for e in new],
    }
    return {"update_id": 3, "message_reaction": {**body, **fields}}


def vote(value: Vote, user_id: int = 7) -> ReactionVote:
    return ReactionVote(-100123, user_id, "-100123:55", str(user_id), value, 1_700_000_000.0)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ([], ["👍"], Vote.UP),
        ([], ["👎"], Vote.DOWN),
        (["👍"], [], Vote.RETRACTED),
        (["👎"], ["🔥"], Vote.RETRACTED),  # the thumb swapped for another emoji
        (["👍"], ["👎"], Vote.DOWN),  # switched
        (["🔥"], ["🔥", "👍"], Vote.UP),  # a Premium user's second reaction
        (["👍", "👎"], ["👎"], Vote.DOWN),  # one of two thumbs taken away: the other stands
    ],
)
def test_a_thumb_added_or_removed_is_a_vote(old: list[str], new: list[str], expected: Vote) -> None:
    assert reaction_vote(reaction(old, new), ME) == vote(expected)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ([], ["🔥"]),  # not a thumb
        (["🔥"], []),
        (["👍"], ["👍", "🔥"]),  # the thumb stays as it was
        ([], ["👍", "👎"]),  # both at once says nothing
    ],
)
def test_a_change_that_is_no_vote_is_none(old: list[str], new: list[str]) -> None:
    assert reaction_vote(reaction(old, new), ME) is None


def test_reactions_by_the_bot_another_bot_or_anonymously_are_not_votes() -> None:
    assert reaction_vote(reaction([], ["👍"], user={"id": 99, "is_bot": True}), ME) is None
    assert reaction_vote(reaction([], ["👍"], user={"id": 5, "is_bot": True}), ME) is None
    anonymous = reaction([], ["👍"], actor_chat=GROUP)
    del anonymous["message_reaction"]["user"]
    assert reaction_vote(anonymous, ME) is None


def test_custom_emoji_and_other_updates_are_not_votes() -> None:
    custom = reaction([], [])
    custom["message_reaction"]["new_reaction"] = [{"type": "custom_emoji", "custom_emoji_id": "👍"}]
    assert reaction_vote(custom, ME) is None
    assert reaction_vote({"update_id": 4, "message": {"text": "hi"}}, ME) is None


def test_change_of_thumbs_sets() -> None:
    assert change(set(), set()) is None
    assert change({Vote.UP}, {Vote.DOWN, Vote.UP}) == Vote.DOWN
