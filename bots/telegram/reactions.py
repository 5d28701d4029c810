"""Emoji reactions on the bot's replies as votes, with no I/O.

A `message_reaction` update says, for one person and one message, which reactions they
had (`old_reaction`) and which they have now (`new_reaction`). A 👍 newly there is a 👍
vote, a 👎 newly there a 👎 vote; a 👍 or 👎 gone with neither left takes the vote back.
(Telegram Premium users may set up to three reactions at once: where one thumb goes and
the other stays, the one that stays is the vote; both added in one change say nothing.)
The message is named as delivery stored the reply (`chat_id:message_id`, the part with the
keyboard), so the vote task finds the Turn the way Slack's reactions do; a reaction on any
other message is dropped there. Reactions by bots (the bot itself included) and anonymous
ones (a group admin posting as the group: `actor_chat`, no `user`) are not votes.

Telegram sends `message_reaction` only to bots that are admins of the group, and only when
asked for in `allowed_updates`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bots.telegram.translate import Me, posted_as, rater
from core.types import Vote

THUMBS = {"👍": Vote.UP, "👎": Vote.DOWN}


@dataclass(frozen=True)
class ReactionVote:
    """A vote by `rater` on the message Telegram knows as `posted` (`chat:message`), made at
    epoch second `at`."""

    chat_id: int
    user_id: int
    posted: str
    rater: str
    vote: Vote
    at: float | None


def thumbs(reactions: Any) -> set[Vote]:
    """The votes among a list of ReactionType (custom emoji and paid stars are not).

    >>> sorted(thumbs([{"type": "emoji", "emoji": "👍"}, {"type": "emoji", "emoji": "🔥"},
    ...                {"type": "custom_emoji", "custom_emoji_id": "5"}]))
    [<Vote.UP: 1>]
    """
    found = set()
    for reaction in reactions or []:
        if isinstance(reaction, dict) and reaction.get("type") == "emoji":
            vote = THUMBS.get(str(reaction.get("emoji")))
            if vote is not None:
                found.add(vote)
    return found


def change(old: set[Vote], new: set[Vote]) -> Vote | None:
    """The vote a change of reactions is, or None when it says nothing.

    >>> up, down = Vote.UP, Vote.DOWN
    >>> change(set(), {down}), change({down}, set()), change({up}, {down})
    (<Vote.DOWN: -1>, <Vote.RETRACTED: 0>, <Vote.DOWN: -1>)
    >>> change({up, down}, {down}), change({up}, {up}), change(set(), {up, down})
    (<Vote.DOWN: -1>, None, None)
    """
    added = new - old
    if len(added) == 1:
        return next(iter(added))
    if added or not (old - new):
        return None
    if not new:
        return Vote.RETRACTED
    return next(iter(new)) if len(new) == 1 else None


def reaction_vote(update: dict[str, Any], me: Me) -> ReactionVote | None:
    """The vote a `message_reaction` update is, or None (not a reaction update, not a
    thumb, or not a person's own reaction).

    >>> update = {"update_id": 3, "message_reaction": {"chat": {"id": -100, "type": "group"},
    ...   "message_id": 55, "user": {"id": 7, "is_bot": False, "first_name": "Ann"},
    ...   "date": 1700000000, "old_reaction": [],
    ...   "new_reaction": [{"type": "emoji", "emoji": "👎"}]}}
    >>> reaction_vote(update, Me(1, "rl_bot"))  # doctest: +NORMALIZE_WHITESPACE
    ReactionVote(chat_id=-100, user_id=7, posted='-100:55', rater='7', vote=<Vote.DOWN: -1>,
                 at=1700000000.0)
    """
    reaction = update.get("message_reaction")
    if not isinstance(reaction, dict):
        return None
    user = reaction.get("user") or {}
    if not user or user.get("is_bot") or int(user.get("id", 0)) == me.id:
        return None  # anonymous (actor_chat), another bot, or the bot itself
    vote = change(thumbs(reaction.get("old_reaction")), thumbs(reaction.get("new_reaction")))
    if vote is None:
        return None
    chat_id = int((reaction.get("chat") or {})["id"])
    date = reaction.get("date")
    return ReactionVote(
        chat_id,
        int(user["id"]),
        posted_as(chat_id, int(reaction["message_id"])),
        rater(int(user["id"])),
        vote,
        float(date) if date is not None else None,
    )
